#!/usr/bin/env bash
# Regenerates the key pair TestDecryptCosignGeneratedKey reads, with the pinned cosign
# (scripts/tools.sh builds it; make tools writes its path to bin/tools.env as CHARTROOM_COSIGN).
set -euo pipefail
cd "$(dirname "$0")"
: "${CHARTROOM_COSIGN:?export the paths make tools prints (bin/tools.env)}"
rm -f cosign-generated.key cosign-generated.pub
COSIGN_PASSWORD='chartroom test password' HOME="$(mktemp -d)" \
	"$CHARTROOM_COSIGN" generate-key-pair --output-key-prefix cosign-generated
