#!/usr/bin/env bash
# Times chartroom index against helm repo index on the same 5,000 chart archives, in one run,
# and prints each time and the ratio (goal: chartroom at least 5x faster).
#
#   bench/staticindex/run.sh             5,000 archives of helm create's chart, best of 3 runs
#   bench/staticindex/run.sh -large      charts the size of typical published ones
#   bench/staticindex/run.sh -runs 5     any flag of bench/staticindex (go run ./bench/staticindex -h)
#
# Builds chartroom from this checkout and the pinned helm v3 (scripts/tools.sh). Generating the
# archives takes about a minute; the two tools run interleaved so that a change in the
# machine's load does not favour either. Run it on an otherwise idle machine: chartroom uses
# every core, helm one.
set -euo pipefail
cd "$(dirname "$0")/../.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
go build -o "$work/chartroom" ./cmd/chartroom
eval "$(scripts/tools.sh helm3 | sed 's/^/export /')"
go run ./bench/staticindex -chartroom "$work/chartroom" -helm "$CHARTROOM_HELM3" "$@"
