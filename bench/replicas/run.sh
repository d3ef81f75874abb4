#!/usr/bin/env bash
# Replicas on PostgreSQL + S3 beside one node on SQLite + filesystem, in one run on one
# machine: chart upload (over the API and as helm push does over OCI) and pull throughput
# with one node on SQLite + filesystem, one replica and three replicas on PostgreSQL +
# versitygw (requests spread round robin over the replicas), with ratios to the single node;
# then bench/index's figures at 100,000 versions in one namespace on both backend pairs
# (upload cost per version, index GET cached and after one change, server peak RSS).
#
#   bench/replicas/run.sh                         everything; the 100,000-version part takes long
#   bench/replicas/run.sh -index 10000            the index part at 10,000 versions
#   bench/replicas/run.sh -index 0                throughput only (a few minutes)
#   bench/replicas/run.sh -r 3                    three throughput runs per setup (medians: read the raw lines)
#   bench/replicas/run.sh -- -n 480 -c 12 -size 1MiB   flags of every `replbench run`
#
# Needs Go, Debian's postgresql package (initdb, postgres, createdb; run as the postgres user
# when run.sh runs as root) and the pinned versitygw (scripts/tools.sh builds it once).
# PostgreSQL runs with its defaults (fsync on), on a loopback port, in the work directory;
# everything is deleted at the end. Environment: CHARTROOM_BIN (a chartroom binary instead of
# building one), CHARTROOM_VERSITYGW.
set -euo pipefail

usage() {
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

reps=1
index_n=100000
while [ $# -gt 0 ]; do
  case "$1" in
    -r) reps="$2"; shift 2 ;;
    -index) index_n="$2"; shift 2 ;;
    -h|--help) usage ;;
    --) shift; break ;;
    *) echo "run.sh: unknown argument $1" >&2; usage ;;
  esac
done
gen_args=("$@")
case "$reps" in ''|*[!0-9]*|0) echo "run.sh: -r needs a positive number" >&2; exit 2 ;; esac
case "$index_n" in ''|*[!0-9]*) echo "run.sh: -index needs a number" >&2; exit 2 ;; esac

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
work="$(mktemp -d "${TMPDIR:-/tmp}/chartroom-bench-replicas.XXXXXX")"
chmod 755 "$work" # PostgreSQL runs as its own user below
pids=()
pg_pid=""

log() { echo "run.sh: $*" >&2; }

stop_servers() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  stop_servers
  if [ -n "$pg_pid" ]; then
    kill -INT "$pg_pid" 2>/dev/null || true
    wait "$pg_pid" 2>/dev/null || true
  fi
  [ -n "${s3_pid:-}" ] && { kill -TERM "$s3_pid" 2>/dev/null || true; wait "$s3_pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building the load generators"
go build -o "$work/replbench" ./bench/replicas
go build -o "$work/indexbench" ./bench/index
chartroom="${CHARTROOM_BIN:-}"
if [ -z "$chartroom" ]; then
  log "building chartroom from this checkout"
  chartroom="$work/chartroom"
  go build -o "$chartroom" ./cmd/chartroom
fi
versitygw="${CHARTROOM_VERSITYGW:-}"
if [ -z "$versitygw" ]; then
  versitygw="$(scripts/tools.sh versitygw | sed -n 's/^CHARTROOM_VERSITYGW=//p')"
fi
[ -x "$versitygw" ] || { log "no versitygw binary at '$versitygw'"; exit 2; }

# PostgreSQL: Debian's binaries, beside initdb's link target or under /usr/lib/postgresql.
pgbin=""
if p="$(command -v initdb)"; then pgbin="$(dirname "$(readlink -f "$p")")"; fi
if [ -z "$pgbin" ] || [ ! -x "$pgbin/postgres" ]; then
  pgbin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n | tail -n1)"
fi
[ -n "$pgbin" ] && [ -x "$pgbin/postgres" ] || { log "PostgreSQL is not installed: install Debian's postgresql package"; exit 2; }
as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); fi
mkdir -p "$work/pg" "$work/pgsock"
[ "$(id -u)" = 0 ] && chown postgres: "$work/pg" "$work/pgsock"
"${as_pg[@]}" "$pgbin/initdb" -D "$work/pg/data" -U postgres --auth=trust -E UTF8 --no-locale >"$work/initdb.log" 2>&1 \
  || { cat "$work/initdb.log" >&2; exit 1; }
pg_port="$("$work/replbench" port)"
"${as_pg[@]}" "$pgbin/postgres" -D "$work/pg/data" -h 127.0.0.1 -p "$pg_port" -k "$work/pgsock" >"$work/postgres.log" 2>&1 &
pg_pid=$!
for _ in $(seq 1 600); do
  "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" && break
  sleep 0.1
done
"$pgbin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" || { log "PostgreSQL did not start"; cat "$work/postgres.log" >&2; exit 1; }
newdb() { # NAME: an empty database; prints its URL
  "$pgbin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres "$1"
  echo "postgres://postgres@127.0.0.1:$pg_port/$1?sslmode=disable"
}

# versitygw with its posix backend: one directory per bucket.
export AWS_ACCESS_KEY_ID=chartroom-bench AWS_SECRET_ACCESS_KEY
AWS_SECRET_ACCESS_KEY="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p "$work/s3/bench"
s3_port="$("$work/replbench" port)"
"$versitygw" --access "$AWS_ACCESS_KEY_ID" --secret "$AWS_SECRET_ACCESS_KEY" --port "127.0.0.1:$s3_port" --quiet posix "$work/s3" \
  >"$work/versitygw.log" 2>&1 &
s3_pid=$!
for _ in $(seq 1 600); do curl -s "http://127.0.0.1:$s3_port/" 2>/dev/null | grep -q '<Error>' && break; sleep 0.1; done
storage() { echo "s3://bench/$1?endpoint=http://127.0.0.1:$s3_port&region=us-east-1&path-style=true"; }

password="$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export REPLBENCH_PASSWORD="$password"
external="http://charts.bench.test"

# start NAME I ARGS…: one chartroom serve on a fresh data directory and a free port; appends
# its URL to urls and its pid to pids.
start() {
  local name="$1" i="$2" port data="$work/data-$1-$2"
  shift 2
  port="$("$work/replbench" port)"
  mkdir -p "$data"
  CHARTROOM_ADMIN_PASSWORD="$password" "$chartroom" serve --listen "127.0.0.1:$port" --data-dir "$data" \
    --log-format json --shutdown-delay=0s --external-url "$external" "$@" >"$work/$name-$i.log" 2>&1 &
  pids+=($!)
  urls+=("http://127.0.0.1:$port")
}

mkdir -p "$work/results"
measure() { # NAME REP REPLICAS (0: SQLite + filesystem)
  local name="$1" rep="$2" n="$3" db st i
  urls=()
  if [ "$n" = 0 ]; then
    start "$name" 1
  else
    db="$(newdb "tp_${n}_$rep")"
    st="$(storage "tp-$n-$rep")"
    start "$name" 1 --database "$db" --storage "$st"
    "$work/replbench" wait -url "${urls[0]}/readyz" # the first one migrates the database
    for i in $(seq 2 "$n"); do start "$name" "$i" --database "$db" --storage "$st"; done
  fi
  for u in "${urls[@]}"; do "$work/replbench" wait -url "$u/readyz"; done
  log "run $rep/$reps: $name (${urls[*]})"
  if ! "$work/replbench" run -name "$name" -urls "$(IFS=,; echo "${urls[*]}")" \
      -out "$work/results/$rep-$name.json" "${gen_args[@]}"; then
    log "$name failed; the end of its logs:"
    tail -n 20 "$work/$name"-*.log >&2
    exit 1
  fi
  stop_servers
}

echo "chartroom replicas benchmark: $("$chartroom" version 2>/dev/null | head -n1)"
echo "machine: $(nproc) cores, load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
echo "PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') (defaults, fsync on), $(basename "$(dirname "$versitygw")") (posix backend), on the same disk and cores as the servers and the load generator"
echo
for rep in $(seq 1 "$reps"); do
  measure "sqlite+fs" "$rep" 0
  measure "pg+s3-1" "$rep" 1
  measure "pg+s3-3" "$rep" 3
done
for rep in $(seq 1 "$reps"); do
  echo "--- run $rep"
  "$work/replbench" report "$work/results/$rep-sqlite+fs.json" "$work/results/$rep-pg+s3-1.json" "$work/results/$rep-pg+s3-3.json"
done
echo "load average after the throughput runs: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$index_n" -gt 0 ]; then
  echo
  echo "=== index at $index_n versions: SQLite + filesystem (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  "$work/indexbench" -n "$index_n" -helm "" -chartroom "$chartroom"
  echo
  echo "=== index at $index_n versions: PostgreSQL + S3 (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  "$work/indexbench" -n "$index_n" -helm "" -chartroom "$chartroom" \
    -serve "--database $(newdb index) --storage $(storage index)"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
fi
