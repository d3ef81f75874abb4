#!/usr/bin/env bash
# Measures the classic chart repository at 10,000 versions against helm repo index.
#
#   bench/index/run.sh              n = 10,000
#   bench/index/run.sh -n 2000      any flag of bench/index (go run ./bench/index -h)
#
# Builds chartroom from this checkout and the pinned helm (scripts/tools.sh), then prints
# each figure and its ratio. Takes a few minutes; run it by hand on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
go build -o "$work/chartroom" ./cmd/chartroom
eval "$(scripts/tools.sh helm3 | sed 's/^/export /')"
go run ./bench/index -chartroom "$work/chartroom" -helm "$CHARTROOM_HELM3" "$@"
