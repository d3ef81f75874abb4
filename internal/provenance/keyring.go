package provenance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Errors of key selection ([SignerFromKeyring]) and signing.
var (
	// ErrKeyNotFound: no key in the keyring matches the requested name.
	ErrKeyNotFound = errors.New("signing key not found")
	// ErrAmbiguousKey: more than one key matches the requested name.
	ErrAmbiguousKey = errors.New("signing key name is ambiguous")
	// ErrNoPrivateKey: the key is public only.
	ErrNoPrivateKey = errors.New("no private key")
	// ErrPassphraseRequired: the key is encrypted and no passphrase was given.
	ErrPassphraseRequired = errors.New("signing key needs a passphrase")
	// ErrWrongPassphrase: the passphrase does not decrypt the key.
	ErrWrongPassphrase = errors.New("wrong passphrase for signing key")
)

// maxKeyring bounds what LoadKeyring reads.
const maxKeyring = 64 << 20

// LoadKeyring reads an OpenPGP keyring, binary (gpg --export, the legacy
// secring.gpg/pubring.gpg Helm expects) or ASCII-armored (gpg --armor
// --export; several armored blocks may follow each other), detected from
// the content.
func LoadKeyring(r io.Reader) (openpgp.EntityList, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxKeyring+1))
	if err != nil {
		return nil, fmt.Errorf("read keyring: %w", err)
	}
	if len(data) > maxKeyring {
		return nil, fmt.Errorf("read keyring: larger than %d bytes", maxKeyring)
	}
	var list openpgp.EntityList
	const begin = "-----BEGIN PGP "
	if trimmed := bytes.TrimSpace(data); bytes.HasPrefix(trimmed, []byte(begin)) {
		for rest := trimmed; len(rest) > 0; {
			next := bytes.Index(rest[1:], []byte(begin))
			chunk := rest
			if next >= 0 {
				chunk, rest = rest[:next+1], rest[next+1:]
			} else {
				rest = nil
			}
			block, err := armor.Decode(bytes.NewReader(chunk))
			if err != nil {
				return nil, fmt.Errorf("read armored keyring: %w", err)
			}
			if block.Type != openpgp.PublicKeyType && block.Type != openpgp.PrivateKeyType {
				return nil, fmt.Errorf("read armored keyring: found a %q block, want a PGP PUBLIC or PRIVATE KEY BLOCK", block.Type)
			}
			el, err := openpgp.ReadKeyRing(block.Body)
			if err != nil {
				return nil, fmt.Errorf("read armored keyring: %w", err)
			}
			list = append(list, el...)
		}
	} else {
		list, err = openpgp.ReadKeyRing(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("read keyring: %w (expected gpg --export or --export-secret-keys output, binary or --armor)", err)
		}
	}
	if len(list) == 0 {
		return nil, errors.New("read keyring: no keys found")
	}
	return list, nil
}

// SignerFromKeyring selects the key to sign with and decrypts it.
//
// keyName is matched as Helm's --key does against each identity
// ("Name (comment) <email>"): an exact identity wins, else a unique
// substring (of a name or an email); chartroom also accepts a key ID or
// fingerprint in hex (optionally "0x"-prefixed, at least 8 digits). An empty keyName
// selects the keyring's only secret key. passphrase decrypts the key if it
// is encrypted. The returned entity is the keyring's own, now decrypted.
func SignerFromKeyring(keyring openpgp.EntityList, keyName string, passphrase []byte) (*openpgp.Entity, error) {
	e, err := selectKey(keyring, keyName)
	if err != nil {
		return nil, err
	}
	if e.PrivateKey == nil {
		return nil, fmt.Errorf("%w: key %s is public only: pass a keyring with secret keys (gpg --export-secret-keys)", ErrNoPrivateKey, entityName(e))
	}
	if !needsDecryption(e) {
		return e, nil
	}
	if len(passphrase) == 0 {
		return nil, fmt.Errorf("%w: key %s is protected by a passphrase: provide it", ErrPassphraseRequired, entityName(e))
	}
	if err := e.DecryptPrivateKeys(passphrase); err != nil {
		var se pgperrors.StructuralError
		if errors.Is(err, pgperrors.ErrKeyIncorrect) || (errors.As(err, &se) && strings.Contains(string(se), "checksum")) ||
			strings.Contains(err.Error(), "decryption") || strings.Contains(err.Error(), "authentication") {
			return nil, fmt.Errorf("%w: key %s: check the passphrase and try again", ErrWrongPassphrase, entityName(e))
		}
		return nil, fmt.Errorf("decrypt key %s: %w", entityName(e), err)
	}
	return e, nil
}

func needsDecryption(e *openpgp.Entity) bool {
	if e.PrivateKey.Encrypted {
		return true
	}
	for _, sk := range e.Subkeys {
		if sk.PrivateKey != nil && sk.PrivateKey.Encrypted && !sk.PrivateKey.Dummy() {
			return true
		}
	}
	return false
}

func selectKey(keyring openpgp.EntityList, keyName string) (*openpgp.Entity, error) {
	if keyName == "" {
		var secret []*openpgp.Entity
		for _, e := range keyring {
			if e.PrivateKey != nil {
				secret = append(secret, e)
			}
		}
		switch len(secret) {
		case 1:
			return secret[0], nil
		case 0:
			return nil, fmt.Errorf("%w: the keyring has no secret key: pass one exported with gpg --export-secret-keys", ErrNoPrivateKey)
		}
		return nil, fmt.Errorf("%w: the keyring has %d secret keys (%s): name one", ErrAmbiguousKey, len(secret), names(secret))
	}
	var candidates []*openpgp.Entity
	for _, e := range keyring {
		if matchesID(e, keyName) {
			candidates = appendUnique(candidates, e)
			continue
		}
		for n := range e.Identities {
			if n == keyName {
				return e, nil
			}
			if strings.Contains(n, keyName) {
				candidates = appendUnique(candidates, e)
			}
		}
	}
	switch len(candidates) {
	case 0:
		return nil, fmt.Errorf("%w: no key in the keyring matches %q (keys: %s)", ErrKeyNotFound, keyName, names(keyring))
	case 1:
		return candidates[0], nil
	}
	return nil, fmt.Errorf("%w: %q matches %d keys (%s): give the full identity or a key ID", ErrAmbiguousKey, keyName, len(candidates), names(candidates))
}

func appendUnique(list []*openpgp.Entity, e *openpgp.Entity) []*openpgp.Entity {
	if slices.Contains(list, e) {
		return list
	}
	return append(list, e)
}

// matchesID reports whether id is a hex key ID or fingerprint (suffix) of e.
func matchesID(e *openpgp.Entity, id string) bool {
	id = strings.ToUpper(strings.TrimPrefix(strings.TrimPrefix(id, "0x"), "0X"))
	if len(id) < 8 || strings.Trim(id, "0123456789ABCDEF") != "" {
		return false
	}
	keys := []*packet.PublicKey{e.PrimaryKey}
	for _, sk := range e.Subkeys {
		keys = append(keys, sk.PublicKey)
	}
	for _, k := range keys {
		if strings.HasSuffix(strings.ToUpper(fmt.Sprintf("%X", k.Fingerprint)), id) {
			return true
		}
	}
	return false
}

func names(list []*openpgp.Entity) string {
	var out []string
	for _, e := range list {
		out = append(out, entityName(e))
	}
	return strings.Join(out, "; ")
}

// entityName is the first identity in sorted order, or the key ID.
func entityName(e *openpgp.Entity) string {
	if e == nil {
		return "(unknown key)"
	}
	var ids []string
	for n := range e.Identities {
		if n != "" {
			ids = append(ids, n)
		}
	}
	sort.Strings(ids)
	if pi := e.PrimaryIdentity(); pi != nil && pi.Name != "" {
		return pi.Name
	}
	if len(ids) > 0 {
		return ids[0]
	}
	return e.PrimaryKey.KeyIdString()
}

// signingKey returns the decrypted private key Sign uses.
func signingKey(e *openpgp.Entity) (*packet.PrivateKey, error) {
	if e == nil || e.PrivateKey == nil {
		return nil, fmt.Errorf("%w: sign with an entity from SignerFromKeyring", ErrNoPrivateKey)
	}
	pk := e.PrivateKey
	if k, ok := e.SigningKey(time.Now()); ok && k.PrivateKey != nil && !k.PrivateKey.Dummy() {
		pk = k.PrivateKey
	}
	if pk.Encrypted {
		return nil, fmt.Errorf("%w: key %s is still encrypted: decrypt it with SignerFromKeyring", ErrPassphraseRequired, entityName(e))
	}
	return pk, nil
}

// signatureError maps a go-crypto verification error to a sentinel.
func signatureError(err error, issuerKeyID uint64) error {
	var se pgperrors.SignatureError
	switch {
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return fmt.Errorf("%w: the .prov is not signed by a trusted key (key ID %016X is not in the keyring): import the publisher's public key (gpg --export KEYID) and pass that keyring", ErrUnknownKey, issuerKeyID)
	case errors.Is(err, pgperrors.ErrKeyExpired), errors.Is(err, pgperrors.ErrSignatureExpired), errors.Is(err, pgperrors.ErrKeyRevoked):
		return fmt.Errorf("%w: %v: ask the publisher for a signature by a current key", ErrKeyExpired, err)
	case errors.As(err, &se):
		return fmt.Errorf("%w: %v: the .prov was modified after signing; download it again or ask the publisher", ErrBadSignature, err)
	}
	return fmt.Errorf("%w: %v: the signature block is corrupt; download the .prov again", ErrBadSignature, err)
}

func listNames(files map[string]string) string {
	var n []string
	for k := range files {
		n = append(n, fmt.Sprintf("%q", k))
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

func checkArchiveName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\\") {
		return fmt.Errorf("archive name %q must be a plain file name such as mychart-1.2.3.tgz", name)
	}
	return nil
}
