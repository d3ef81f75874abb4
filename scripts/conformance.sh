#!/usr/bin/env bash
# Runs the OCI Distribution Spec conformance suite against a fresh `chartroom serve`, with every
# API and data option enabled (including those off by default), and passes only if every test
# passes: none failed, errored, skipped or disabled.
#
#   scripts/conformance.sh
#
# Prints one summary line; exits non-zero on any failure. The suite's report (junit.xml,
# results.yaml, report.html, its output and the server log) is kept only when something failed,
# or always in $CHARTROOM_CONFORMANCE_RESULTS when that is set.
#
# Environment:
#   CHARTROOM_CONFORMANCE_RESULTS  directory for the report (default: a temporary one)
#   CHARTROOM_BIN                  a chartroom binary to test instead of building ./cmd/chartroom
#   CHARTROOM_CONFORMANCE          the suite binary (default: built and cached by scripts/tools.sh)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/chartroom-conformance.XXXXXX")"
results="${CHARTROOM_CONFORMANCE_RESULTS:-$work/results}"
server_pid=""

cleanup() {
  local rc=$?
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ] && [ -z "${CHARTROOM_CONFORMANCE_RESULTS:-}" ] && [ -d "$results" ]; then
    local kept
    kept="$(mktemp -d "${TMPDIR:-/tmp}/chartroom-conformance-results.XXXXXX")"
    cp -r "$results/." "$kept/"
    [ -f "$work/server.log" ] && cp "$work/server.log" "$kept/"
    echo "conformance: report kept in $kept" >&2
  elif [ -n "${CHARTROOM_CONFORMANCE_RESULTS:-}" ] && [ -f "$work/server.log" ]; then
    cp "$work/server.log" "$results/" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The binaries: chartroom and the suite.
bin="${CHARTROOM_BIN:-}"
if [ -z "$bin" ]; then
  bin="$work/chartroom"
  (cd "$root" && go build -o "$bin" ./cmd/chartroom)
fi
suite="${CHARTROOM_CONFORMANCE:-}"
if [ -z "$suite" ]; then
  suite="$("$root/scripts/tools.sh" conformance | sed -n 's/^CHARTROOM_CONFORMANCE=//p')"
fi
[ -x "$suite" ] || { echo "conformance: suite binary $suite not found" >&2; exit 2; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ready() {
  if command -v curl >/dev/null; then
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/readyz" 2>/dev/null
  else
    (
      exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
      printf 'GET /readyz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
      head -n1 <&3 | grep -q ' 200 '
    ) 2>/dev/null
  fi
}

# Start the server on a free port; if the port was taken in between, try another.
password="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
port=""
for _ in 1 2 3 4 5; do
  candidate=$((20000 + RANDOM % 40000))
  port_busy "$candidate" && continue
  rm -rf "$work/data"
  CHARTROOM_ADMIN_PASSWORD="$password" "$bin" serve \
    --listen "127.0.0.1:$candidate" --data-dir "$work/data" --allow-sparse-manifests \
    >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 150); do
    if ready "$candidate"; then
      port="$candidate"
      break 2
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
done
if [ -z "$port" ]; then
  echo "conformance: chartroom serve did not become ready; its log:" >&2
  tail -n 30 "$work/server.log" >&2 || true
  exit 2
fi

# Run the suite with every API and data option on. No OCI_* variable of the caller leaks in,
# and it runs in an empty directory so that no oci-conformance.yaml is picked up.
while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep '^OCI_' || true)
mkdir -p "$results"
suite_rc=0
(
  cd "$work"
  export OCI_REGISTRY="127.0.0.1:$port" OCI_TLS=disabled OCI_VERSION=1.1
  export OCI_USERNAME=admin OCI_PASSWORD="$password" OCI_RESULTS_DIR="$results"
  export OCI_API_PING=true OCI_API_PULL=true OCI_API_PUSH=true OCI_API_REFERRER=true
  export OCI_API_BLOBS_ATOMIC=true OCI_API_BLOBS_DELETE=true OCI_API_BLOBS_DIGEST_HEADER=true
  export OCI_API_BLOBS_MOUNT_ANONYMOUS=true OCI_API_BLOBS_UPLOAD_CANCEL=true
  export OCI_API_MANIFESTS_ATOMIC=true OCI_API_MANIFESTS_DELETE=true OCI_API_MANIFESTS_DIGEST_HEADER=true
  export OCI_API_MANIFESTS_TAG_PARAM=true
  export OCI_API_TAGS_ATOMIC=true OCI_API_TAGS_DELETE=true OCI_API_TAGS_LIST=true
  export OCI_DATA_IMAGE=true OCI_DATA_INDEX=true OCI_DATA_INDEX_LIST=true OCI_DATA_SPARSE=true
  export OCI_DATA_ARTIFACT=true OCI_DATA_SUBJECT=true OCI_DATA_SUBJECT_MISSING=true
  export OCI_DATA_ARTIFACT_LIST=true OCI_DATA_SUBJECT_LIST=true OCI_DATA_DATA_FIELD=true
  export OCI_DATA_NONDISTRIBUTABLE=true OCI_DATA_CUSTOM_FIELDS=true OCI_DATA_NO_LAYERS=true
  export OCI_DATA_EMPTY_BLOB=true OCI_DATA_SHA512=true
  "$suite" >"$results/conformance.log" 2>&1
) || suite_rc=$?

# Count from junit.xml: the <testsuite> element carries tests, failures, errors, skipped, disabled.
junit="$results/junit.xml"
if [ ! -s "$junit" ]; then
  echo "conformance: the suite wrote no junit.xml (exit $suite_rc); its output:" >&2
  tail -n 30 "$results/conformance.log" >&2 || true
  exit 1
fi
suite_line="$(grep -m1 '<testsuite ' "$junit")"
count() { printf '%s\n' "$suite_line" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" | grep . || echo 0; }
tests="$(count tests)" failed="$(count failures)" errored="$(count errors)"
skipped="$(count skipped)" disabled="$(count disabled)"
passed=$((tests - failed - errored - skipped - disabled))
echo "conformance: tests=$tests passed=$passed failed=$failed errored=$errored skipped=$skipped disabled=$disabled"

if [ "$tests" -eq 0 ] || [ "$passed" -ne "$tests" ] || [ "$suite_rc" -ne 0 ]; then
  # The suite's report names each test that did not pass, with its error.
  grep -E ': (FAIL|Error|Skip|Disabled)$| - ' "$results/conformance.log" | head -n 40 >&2 || true
  exit 1
fi
