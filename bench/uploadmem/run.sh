#!/usr/bin/env bash
# Measures the server's peak RSS while it validates 12 concurrent uploads, then 12 concurrent
# OCI manifest PUTs, of ~96 KB chart archives that decompress to 95 MiB each.
#
#   bench/uploadmem/run.sh                  this checkout only
#   bench/uploadmem/run.sh -base 295bce9    also chartroom built at that revision, same run, with ratios
#   bench/uploadmem/run.sh -n 24            any other flag of bench/uploadmem (go run ./bench/uploadmem -h)
#   bench/uploadmem/run.sh -n 8 -files 10 -content random -multipart
#                                           8 cm-push uploads of charts of 50 MiB, random (incompressible)
#
# Builds chartroom from this checkout (and, with -base REV, from `git archive REV` in a
# temporary directory: the checkout is not touched), prints the server's idle RSS and its
# peak RSS (VmHWM) over each phase. Linux only (/proc). Needs about 2.5 GiB of memory for a
# base revision that holds every decompressed archive. Run it by hand.
set -euo pipefail
cd "$(dirname "$0")/../.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
go build -o "$work/chartroom" ./cmd/chartroom

args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -base)
      rev="$2"
      shift 2
      mkdir "$work/base"
      git archive "$rev" | tar -x -C "$work/base"
      (cd "$work/base" && go build -o "$work/chartroom-base" ./cmd/chartroom)
      args+=(-base "$work/chartroom-base" -base-label "$(git rev-parse --short "$rev")")
      ;;
    *)
      args+=("$1")
      shift
      ;;
  esac
done
go run ./bench/uploadmem -chartroom "$work/chartroom" "${args[@]}"
