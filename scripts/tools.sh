#!/usr/bin/env bash
# Builds the pinned peer tools the e2e tests and benchmarks drive, once per version, into a cache
# directory outside the repository, and prints KEY=PATH lines for them.
#
#   scripts/tools.sh            build what is missing, print CHARTROOM_<TOOL>=<path> lines
#   scripts/tools.sh helm3 oras build only those
#
# Cache: $CHARTROOM_TOOLS_CACHE, default ${XDG_CACHE_HOME:-$HOME/.cache}/chartroom-tools.
# Each tool lives in <cache>/<name>@<version>/, so bumping a pin builds the new one beside the old.
set -euo pipefail

cache="${CHARTROOM_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chartroom-tools}"

# name|env var|go package|version|binary name[|module|files]
#
# With a module, the tool is built in that module's own directory (fetched by `go mod download`,
# built with its own go.mod and go.sum: the same build `go install` makes), and the files named
# (space-separated, paths in the module) are copied beside the binary. helm-push needs both:
# its plugin.yaml makes the binary a helm plugin, and the module proxy serves its version but
# not its list of versions, which `go install pkg@version` asks for.
pins=(
  "helm3|CHARTROOM_HELM3|helm.sh/helm/v3/cmd/helm|v3.22.0|helm"
  "helm4|CHARTROOM_HELM4|helm.sh/helm/v4/cmd/helm|v4.3.1|helm"
  "oras|CHARTROOM_ORAS|oras.land/oras/cmd/oras|v1.3.6|oras"
  "crane|CHARTROOM_CRANE|github.com/google/go-containerregistry/cmd/crane|v0.22.1|crane"
  "cosign|CHARTROOM_COSIGN|github.com/sigstore/cosign/v2/cmd/cosign|v2.6.5|cosign"
  "registry|CHARTROOM_DISTRIBUTION|github.com/distribution/distribution/v3/cmd/registry|v3.1.2|registry"
  "conformance|CHARTROOM_CONFORMANCE|github.com/opencontainers/distribution-spec/conformance|v0.0.0-20260831232431-97274622c111|conformance"
  "staticcheck|CHARTROOM_STATICCHECK|honnef.co/go/tools/cmd/staticcheck|v0.7.0|staticcheck"
  "versitygw|CHARTROOM_VERSITYGW|github.com/versity/versitygw/cmd/versitygw|v1.8.0|versitygw"
  "cmpush|CHARTROOM_CMPUSH|github.com/chartmuseum/helm-push/cmd/helm-cm-push|v0.10.4|helm-cm-push|github.com/chartmuseum/helm-push|plugin.yaml"
)

want=("$@")
selected() {
  [ ${#want[@]} -eq 0 ] && return 0
  local w
  for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done
  return 1
}

# build_in_module MODULE PKG VERSION OUT FILES DEST: build PKG (a package of MODULE@VERSION) to
# OUT in the module's directory, then copy FILES of the module into DEST.
build_in_module() {
  local module=$1 pkg=$2 version=$3 out=$4 files=$5 dest=$6 src f
  src=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p') || return 1
  [ -n "$src" ] && [ -d "$src" ] || { echo "tools: go mod download $module@$version gave no directory" >&2; return 1; }
  (cd "$src" && GOFLAGS="-buildvcs=false -mod=readonly" CGO_ENABLED=0 go build -o "$out" "./${pkg#"$module"/}") >&2 || return 1
  for f in $files; do
    cp "$src/$f" "$dest/" && chmod u+w "$dest/${f##*/}" || return 1
  done
}

for pin in "${pins[@]}"; do
  IFS='|' read -r name var pkg version bin module files <<<"$pin"
  selected "$name" || continue
  dir="$cache/$name@$version"
  if [ ! -x "$dir/$bin" ]; then
    echo "tools: building $pkg@$version (once; cached in $dir)" >&2
    tmp="$dir.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    # CGO off: static binaries that do not depend on the build machine's C libraries.
    if [ -z "$module" ]; then
      if ! GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOBIN="$tmp" go install "$pkg@$version" >&2; then
        rm -rf "$tmp"
        echo "tools: could not build $pkg@$version; see the go output above" >&2
        exit 2
      fi
    elif ! build_in_module "$module" "$pkg" "$version" "$tmp/$bin" "$files" "$tmp"; then
      rm -rf "$tmp"
      echo "tools: could not build $pkg@$version in module $module; see the go output above" >&2
      exit 2
    fi
    rm -rf "$dir"
    mv "$tmp" "$dir"
  fi
  echo "$var=$dir/$bin"
done
