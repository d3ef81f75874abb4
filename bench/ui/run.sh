#!/usr/bin/env bash
# Measures the web UI's pages, warm, in a namespace of 10,000 versions, against the 50 ms goal.
#
#   bench/ui/run.sh                 n = 10,000 versions, 200 requests per page
#   bench/ui/run.sh -n 2000 -r 50   any flag of bench/ui (go run ./bench/ui -h)
#
# Builds chartroom from this checkout (or takes CHARTROOM_BIN), starts `chartroom serve` on a
# fresh data directory and a loopback port, fills the namespace, then prints each page's
# server time (the duration_ms of the server's own request log line) and client time. Takes
# a few minutes; run it by hand on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
bin="${CHARTROOM_BIN:-}"
if [ -z "$bin" ]; then
	go build -o "$work/chartroom" ./cmd/chartroom
	bin="$work/chartroom"
fi
go run ./bench/ui -chartroom "$bin" "$@"
