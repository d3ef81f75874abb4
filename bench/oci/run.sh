#!/usr/bin/env bash
# Compares chartroom with the CNCF distribution registry (v3, filesystem driver) in one run on
# one machine: blob push (monolithic and chunked) and pull throughput, manifest PUT/GET per
# second, a big blob pushed and pulled streamed while the server's RSS is sampled, idle RSS
# and RSS after the run; 128 MiB blobs pushed one at a time beside the machine's limit for
# that, measured in the same run (SHA-256 on one core, dd conv=fsync, on the same bytes).
# Prints one table: chartroom, distribution and the ratio per figure.
#
#   bench/oci/run.sh                                  # 3 runs per server, a few minutes
#   bench/oci/run.sh -r 5                             # more runs: steadier medians
#   bench/oci/run.sh -r 3 -- -blobs 64 -size 32MiB -c 8 -big 4GiB -manifest-duration 10s
#   bench/oci/run.sh -o results/                      # also keep every run's JSON
#
# Flags after -- go to every `ocibench run` (go run ./bench/oci run -h lists them).
# Each run starts the server afresh on an empty data directory under $TMPDIR, runs the load
# generator against it and stops it; runs alternate chartroom/distribution, then
# distribution/chartroom, so drift in the machine's load does not favour either.
#
# Environment: CHARTROOM_BIN (use this chartroom binary instead of building one from the
# checkout), CHARTROOM_DISTRIBUTION (the registry binary; default: scripts/tools.sh registry,
# which builds the pinned version once into a cache).
set -euo pipefail

usage() {
  sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

reps=3
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    -r) reps="$2"; shift 2 ;;
    -o) out="$2"; shift 2 ;;
    -h|--help) usage ;;
    --) shift; break ;;
    *) echo "run.sh: unknown argument $1" >&2; usage ;;
  esac
done
gen_args=("$@")
case "$reps" in ''|*[!0-9]*|0) echo "run.sh: -r needs a positive number" >&2; exit 2 ;; esac

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
work="$(mktemp -d "${TMPDIR:-/tmp}/chartroom-bench-oci.XXXXXX")"
server_pid=""

stop_server() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "run.sh: $*" >&2; }

log "building the load generator"
go build -o "$work/ocibench" ./bench/oci
chartroom="${CHARTROOM_BIN:-}"
if [ -z "$chartroom" ]; then
  log "building chartroom from this checkout"
  chartroom="$work/chartroom"
  go build -o "$chartroom" ./cmd/chartroom
fi
distribution="${CHARTROOM_DISTRIBUTION:-}"
if [ -z "$distribution" ]; then
  distribution="$(scripts/tools.sh registry | sed -n 's/^CHARTROOM_DISTRIBUTION=//p')"
fi
[ -x "$distribution" ] || { log "no distribution registry binary at '$distribution'"; exit 2; }

password="$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p "$work/results"

# start_chartroom/start_distribution REP: start the server on a fresh data directory and a
# free port; set server_pid, url and auth; return once it answers.
start_chartroom() {
  local port data="$work/data-chartroom-$1"
  port="$("$work/ocibench" port)"
  mkdir -p "$data"
  CHARTROOM_ADMIN_PASSWORD="$password" "$chartroom" serve --listen "127.0.0.1:$port" \
    --data-dir "$data" --log-format json >"$work/chartroom-$1.log" 2>&1 &
  server_pid=$!
  url="http://127.0.0.1:$port"
  auth=(-user admin)
  "$work/ocibench" wait -url "$url/readyz"
}

start_distribution() {
  local port data="$work/data-distribution-$1" cfg="$work/distribution-$1.yml"
  port="$("$work/ocibench" port)"
  mkdir -p "$data"
  # The filesystem driver with the in-memory blob descriptor cache, as the registry's own
  # example configuration has it; no auth; access log on (chartroom logs every request too).
  cat >"$cfg" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $data
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: chartroom-bench-oci
EOF
  "$distribution" serve "$cfg" >"$work/distribution-$1.log" 2>&1 &
  server_pid=$!
  url="http://127.0.0.1:$port"
  auth=()
  "$work/ocibench" wait -url "$url/v2/"
}

measure() { # SERVER REP
  local name="$1" rep="$2"
  log "run $rep/$reps: $name"
  "start_$name" "$rep"
  if ! OCIBENCH_PASSWORD="$password" "$work/ocibench" run -name "$name" -url "$url" "${auth[@]}" \
      -pid "$server_pid" -rep "$rep" -scratch "$work" -out "$work/results/$name-$rep.json" "${gen_args[@]}"; then
    log "$name failed; the end of its log:"
    tail -n 20 "$work/$name-$rep.log" >&2
    exit 1
  fi
  stop_server
  rm -rf "$work/data-$name-$rep"
}

for rep in $(seq 1 "$reps"); do
  if [ $((rep % 2)) -eq 1 ]; then
    measure chartroom "$rep"; measure distribution "$rep"
  else
    measure distribution "$rep"; measure chartroom "$rep"
  fi
done

if [ -n "$out" ]; then
  mkdir -p "$out"
  cp "$work"/results/*.json "$out"/
fi

echo
"$work/ocibench" report -raw \
  -note "$("$chartroom" version 2>/dev/null | head -n1): HTTP Basic auth on every request (verified credentials cached), SQLite metadata, filesystem blobs" \
  -note "distribution $("$distribution" --version 2>/dev/null | awk '{print $NF}'): no auth, filesystem driver, in-memory blob descriptor cache" \
  -note "both fsync blobs on commit and log one line per request (to a file); the load generator shares the machine's cores with the server" \
  "$work"/results/*.json
