#!/usr/bin/env bash
# Measures chartroom import's throughput (chart versions per second) from a classic
# repository served as ChartMuseum serves one (Basic auth, relative charts/ URLs, .prov
# files) into a fresh chartroom, and checks every version arrived with its digest.
#
#   bench/import/run.sh                          1,000 signed versions, --parallel 4, best of 3
#   bench/import/run.sh -n 5000 -parallel 8      any flag of bench/import (go run ./bench/import -h)
#
# Builds chartroom from this checkout. Source, import and server share the machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
go build -o "$work/chartroom" ./cmd/chartroom
go run ./bench/import -chartroom "$work/chartroom" "$@"
