#!/usr/bin/env bash
# Measures the pull latency of a proxy namespace: the first pull of a version (fetched from the
# upstream), a cached pull, and a direct pull from the upstream, in the same run.
#
#   bench/proxy/run.sh            this checkout, 200 versions
#   bench/proxy/run.sh -n 1000    any flag of bench/proxy (go run ./bench/proxy -h)
#
# Takes well under a minute; run it by hand on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
go build -o "$work/chartroom" ./cmd/chartroom
go run ./bench/proxy -chartroom "$work/chartroom" "$@"
