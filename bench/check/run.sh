#!/usr/bin/env bash
# Measures chartroom check on a chart with 200 templates and a 5,000-line values.yaml
# (budget: under 2 s), next to helm template of the same chart.
#
#   bench/check/run.sh            10 timed runs each
#   bench/check/run.sh -runs 20   any flag of bench/check (go run ./bench/check -h)
#
# Builds chartroom from this checkout and the pinned helm (scripts/tools.sh), prints each
# figure and the ratio, and also runs hyperfine on the same commands when it is installed
# (apt-get install hyperfine). Run it by hand on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
go build -o "$work/chartroom" ./cmd/chartroom
eval "$(scripts/tools.sh helm3 | sed 's/^/export /')"
go run ./bench/check -chartroom "$work/chartroom" -helm "$CHARTROOM_HELM3" "$@"

if command -v hyperfine >/dev/null; then
  go run ./bench/check -gen "$work/charts" >/dev/null
  hyperfine --warmup 1 --runs 10 -N -i \
    -n "chartroom check" "$work/chartroom check $work/charts/changed --against $work/charts/base" \
    -n "helm template (peer)" "$CHARTROOM_HELM3 template $work/charts/changed"
fi
