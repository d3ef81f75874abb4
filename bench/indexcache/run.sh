#!/usr/bin/env bash
# Measures what anonymous index requests for empty namespaces cost a running
# `chartroom serve --anonymous-read`: RSS before and after 20,000 of them (each for a distinct
# namespace) and the size of <data-dir>/index-cache.
#
#   bench/indexcache/run.sh                      this checkout
#   BASE=<git ref> bench/indexcache/run.sh       beside a build of <git ref>, with ratios
#   bench/indexcache/run.sh -n 5000 -c 4         any flag of bench/indexcache (go run ./bench/indexcache -h)
#
# Takes about a minute per binary; run it by hand on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
go build -o "$work/chartroom" ./cmd/chartroom
args=(-chartroom "$work/chartroom")
if [[ -n "${BASE:-}" ]]; then
	mkdir "$work/base"
	git archive "$BASE" | tar -x -C "$work/base"
	(cd "$work/base" && go build -o "$work/chartroom-base" ./cmd/chartroom)
	args+=(-baseline "$work/chartroom-base")
fi
go run ./bench/indexcache "${args[@]}" "$@"
