#!/usr/bin/env bash
# Regenerates the binary example files of this directory (see README.md here):
#
#   examples/make-files.sh          layer.tar (the same bytes every time)
#   examples/make-files.sh --keys   also a new example key: secring.gpg, pubring.gpg,
#                                   secret.asc, pass.txt (gpg makes a different key each time)
#
# Needs GNU tar; --keys needs gpg.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# layer.tar: one file, owner root, time 0, so that the image crane makes from it has the same
# digests everywhere.
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
printf 'hello from the chartroom README\n' >"$src/hello.txt"
tar --format=ustar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --mode=0644 \
    -cf layer.tar -C "$src" hello.txt

[ "${1-}" = --keys ] || exit 0

# The example signing key, "Jane Doe <jane@example.com>": secring.gpg and pubring.gpg are
# binary keyrings (the only form helm reads), secring.gpg without a passphrase; secret.asc is
# the same secret key ASCII-armored and protected by the passphrase in pass.txt. Anyone can
# read these files: never trust this key for anything but the examples.
export GNUPGHOME="$src/gnupg"
mkdir -m 0700 "$GNUPGHOME"
trap 'gpgconf --kill gpg-agent 2>/dev/null || true; rm -rf "$src"' EXIT
gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
    --quick-gen-key 'Jane Doe <jane@example.com>' rsa3072 sign never
gpg --batch --export-secret-keys 'Jane Doe' >secring.gpg
gpg --batch --export 'Jane Doe' >pubring.gpg
printf 'example passphrase\n' >pass.txt
fpr=$(gpg --batch --with-colons --list-keys 'Jane Doe' | awk -F: '/^fpr/ { print $10; exit }')
# With loopback pinentry, --passwd sets the passphrase read from the file (the old one is empty).
gpg --batch --pinentry-mode loopback --passphrase-file pass.txt --passwd "$fpr"
gpg --batch --pinentry-mode loopback --passphrase-file pass.txt --armor --export-secret-keys "$fpr" >secret.asc
