// Package provenance signs and verifies Helm provenance files (.prov), in
// the format of Helm v3.22.0's pkg/provenance: an OpenPGP clear-signed
// message whose text is the chart's Chart.yaml (as Helm marshals it), a
// line "...", then a YAML map
//
//	files:
//	  <archive file name>: sha256:<hex digest of the archive>
//
// Signatures use SHA-512, as Helm's.
package provenance

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"sigs.k8s.io/yaml"

	"github.com/chartroom/chartroom/internal/safeyaml"

	"github.com/chartroom/chartroom/internal/chart"
)

// Errors wrapped by [Verify] and [CheckFiles]; each says who is at fault.
var (
	// ErrMalformed: the .prov is not a clear-signed provenance message.
	ErrMalformed = errors.New("malformed provenance file")
	// ErrBadSignature: the signature does not match the signed text — the
	// .prov was altered after signing, or is corrupt.
	ErrBadSignature = errors.New("provenance signature is invalid")
	// ErrUnknownKey: the signature is by a key not in the keyring.
	ErrUnknownKey = errors.New("provenance signed by an unknown key")
	// ErrKeyExpired: the signing key or signature is expired or revoked.
	ErrKeyExpired = errors.New("provenance signing key expired or revoked")
	// ErrDigestMismatch: the archive is not the one the .prov vouches for
	// (its SHA-256 differs, or its name is not listed) — the archive was
	// altered, or the .prov belongs to another file.
	ErrDigestMismatch = errors.New("chart archive does not match its provenance")
)

// pgpConfig is Helm's: SHA-512 signatures.
var pgpConfig = packet.Config{DefaultHash: crypto.SHA512}

// sumCollection is the part after "..." (Helm's SumCollection).
type sumCollection struct {
	Files  map[string]string `json:"files"`
	Images map[string]string `json:"images,omitempty"`
}

// Statement is the content of a .prov file, parsed without checking the
// signature.
type Statement struct {
	// Metadata is the signed Chart.yaml.
	Metadata *chart.Metadata
	// Files maps archive file names to "sha256:<hex>".
	Files map[string]string
	// IssuerKeyID is the 64-bit ID of the signing key, 0 if absent.
	IssuerKeyID uint64
	// IssuerFingerprint is the signing key's fingerprint, if the signature names it.
	IssuerFingerprint []byte
}

// Verification is the result of a successful [Verify].
type Verification struct {
	// SignedBy is the keyring entity whose key made the signature.
	SignedBy *openpgp.Entity
	// FileName is the archive name found in the .prov.
	FileName string
	// FileHash is the archive's digest, "sha256:<hex>".
	FileHash string
	// Metadata is the signed Chart.yaml.
	Metadata *chart.Metadata
}

// Signer returns the first identity of the signing key (e.g.
// "Jane <jane@example.com>"), or its key ID if it has none.
func (v *Verification) Signer() string {
	return entityName(v.SignedBy)
}

// Sign creates the .prov for a chart archive, as `helm package --sign`
// does: it reads the whole archive (validating it with [chart.LoadArchive]
// and default limits) to hash it and to take its Chart.yaml. archiveName
// is the archive's file name as it will be published ("mychart-1.2.3.tgz").
// signer must hold a decrypted private key ([SignerFromKeyring]); its
// signing key is used (the primary key unless a signing subkey exists).
func Sign(archive io.Reader, archiveName string, signer *openpgp.Entity) ([]byte, error) {
	if err := checkArchiveName(archiveName); err != nil {
		return nil, err
	}
	key, err := signingKey(signer)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	tee := io.TeeReader(archive, h)
	ch, err := chart.LoadArchive(tee, chart.Limits{})
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", archiveName, err)
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return nil, fmt.Errorf("sign %s: read archive: %w", archiveName, err)
	}
	body, err := messageBlock(ch.Metadata, archiveName, "sha256:"+hex.EncodeToString(h.Sum(nil)))
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", archiveName, err)
	}
	var out bytes.Buffer
	w, err := clearsign.Encode(&out, key, &pgpConfig)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", archiveName, err)
	}
	if _, err := w.Write(body); err != nil {
		return nil, fmt.Errorf("sign %s: %w", archiveName, err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("sign %s: %w", archiveName, err)
	}
	return out.Bytes(), nil
}

// messageBlock is Helm's: Chart.yaml YAML, "\n...\n", files YAML.
func messageBlock(md *chart.Metadata, name, digest string) ([]byte, error) {
	head, err := md.HelmYAML()
	if err != nil {
		return nil, err
	}
	sums, err := yaml.Marshal(&sumCollection{Files: map[string]string{name: digest}})
	if err != nil {
		return nil, err
	}
	b := bytes.NewBuffer(head)
	b.WriteString("\n...\n")
	b.Write(sums)
	return b.Bytes(), nil
}

// Verify checks a .prov against an archive and a keyring, as `helm verify`
// does: the signature must be valid and by a key in keyring, and the
// archive's SHA-256 must be the one listed for archiveName. The signature
// is checked before the signed text's YAML is read, so a .prov that no
// trusted key signed is refused without parsing it. The archive is
// streamed, not held in memory. Errors wrap [ErrMalformed],
// [ErrBadSignature], [ErrUnknownKey], [ErrKeyExpired] or
// [ErrDigestMismatch].
func Verify(archive io.Reader, archiveName string, prov []byte, keyring openpgp.EntityList) (*Verification, error) {
	if err := checkArchiveName(archiveName); err != nil {
		return nil, err
	}
	msg, err := decode(prov)
	if err != nil {
		return nil, err
	}
	signer, err := openpgp.CheckDetachedSignature(keyring, bytes.NewReader(msg.block.Bytes), bytes.NewReader(msg.signature), &pgpConfig)
	if err != nil {
		return nil, signatureError(err, msg.issuerKeyID)
	}
	st, err := msg.statement()
	if err != nil {
		return nil, fmt.Errorf("%w (validly signed by %s)", err, entityName(signer))
	}
	want, ok := st.Files[archiveName]
	if !ok {
		return nil, fmt.Errorf("%w: the provenance file lists %s, not %q: use the .prov published with this archive", ErrDigestMismatch, listNames(st.Files), archiveName)
	}
	h := sha256.New()
	if _, err := io.Copy(h, archive); err != nil {
		return nil, fmt.Errorf("verify %s: read archive: %w", archiveName, err)
	}
	got := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if !strings.EqualFold(want, got) {
		return nil, fmt.Errorf("%w: %s has digest %s but its provenance file, validly signed by %s, says %s: the archive was modified or replaced; download it again or ask its publisher", ErrDigestMismatch, archiveName, got, entityName(signer), want)
	}
	return &Verification{SignedBy: signer, FileName: archiveName, FileHash: got, Metadata: st.Metadata}, nil
}

// CheckFiles is a keyless structural check for a server receiving a .prov
// next to an archive: prov must be what [Parse] accepts, and its files map
// must list archiveName with this SHA-256 (hex). It does not check who
// signed (a server has no keyring). It returns the parsed statement. Errors
// wrap [ErrMalformed] or [ErrDigestMismatch].
func CheckFiles(prov []byte, archiveName string, sha256hex string) (*Statement, error) {
	st, err := Parse(prov)
	if err != nil {
		return nil, err
	}
	if err := st.CheckFile(archiveName, sha256hex); err != nil {
		return nil, err
	}
	return st, nil
}

// CheckFile reports whether the statement's files map lists archiveName
// with this SHA-256 (hex). Errors wrap [ErrDigestMismatch].
func (st *Statement) CheckFile(archiveName string, sha256hex string) error {
	want, ok := st.Files[archiveName]
	if !ok {
		return fmt.Errorf("%w: the provenance file lists %s, not %q: upload the .prov made for this archive", ErrDigestMismatch, listNames(st.Files), archiveName)
	}
	if got := "sha256:" + sha256hex; !strings.EqualFold(want, got) {
		return fmt.Errorf("%w: the provenance file says %s for %s, but the archive's digest is %s: sign this archive again", ErrDigestMismatch, want, archiveName, got)
	}
	return nil
}

// Parse reads a .prov without checking who signed it. It checks the
// structure: a clear-signed message (RFC 4880 §7) whose armored signature
// block decodes to OpenPGP signature packets (at least one, nothing else),
// and whose signed text is a Helm provenance statement (Chart.yaml, "...",
// a non-empty files map), read with internal/safeyaml's alias budget.
// Errors wrap [ErrMalformed] (and [safeyaml.ErrExpansion] for an alias
// bomb).
func Parse(prov []byte) (*Statement, error) {
	msg, err := decode(prov)
	if err != nil {
		return nil, err
	}
	return msg.statement()
}

// signedMessage is a .prov taken apart, before any of its YAML is read.
type signedMessage struct {
	block *clearsign.Block
	// signature is the binary content of the armored signature block.
	signature []byte
	// issuerKeyID and issuerFingerprint come from the first signature packet.
	issuerKeyID       uint64
	issuerFingerprint []byte
}

// decode takes a .prov apart: the clear-signed text and the signature
// packets. It reads no YAML.
func decode(prov []byte) (*signedMessage, error) {
	const again = "sign the chart again (helm package --sign, or chartroom sign) and use the .prov it writes"
	block, _ := clearsign.Decode(prov)
	if block == nil || block.ArmoredSignature == nil {
		return nil, fmt.Errorf("%w: no PGP signed message found, or it is incomplete: a .prov starts with -----BEGIN PGP SIGNED MESSAGE----- and ends with -----END PGP SIGNATURE-----; %s", ErrMalformed, again)
	}
	if block.ArmoredSignature.Type != openpgp.SignatureType {
		return nil, fmt.Errorf("%w: the signature block is a %q block, not a %q block; %s", ErrMalformed, block.ArmoredSignature.Type, openpgp.SignatureType, again)
	}
	sig, err := io.ReadAll(block.ArmoredSignature.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: the signature block's armor does not decode: %v; %s", ErrMalformed, err, again)
	}
	msg := &signedMessage{block: block, signature: sig}
	packets := packet.NewReader(bytes.NewReader(sig))
	for n := 0; ; n++ {
		p, err := packets.Next()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return nil, fmt.Errorf("%w: the signature block holds no OpenPGP signature; %s", ErrMalformed, again)
			}
			return msg, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: the signature block is not a valid OpenPGP signature: %v; %s", ErrMalformed, err, again)
		}
		s, ok := p.(*packet.Signature)
		if !ok {
			return nil, fmt.Errorf("%w: the signature block holds an OpenPGP packet of type %T, not a signature; %s", ErrMalformed, p, again)
		}
		if n == 0 {
			if s.IssuerKeyId != nil {
				msg.issuerKeyID = *s.IssuerKeyId
			}
			msg.issuerFingerprint = s.IssuerFingerprint
		}
	}
}

// statement parses the signed text: Chart.yaml, "...", the files map.
func (m *signedMessage) statement() (*Statement, error) {
	parts := bytes.Split(m.block.Plaintext, []byte("\n...\n"))
	if len(parts) < 2 {
		return nil, fmt.Errorf("%w: the signed text lacks the \"...\" line between Chart.yaml and the files list", ErrMalformed)
	}
	st := &Statement{Metadata: new(chart.Metadata), IssuerKeyID: m.issuerKeyID, IssuerFingerprint: m.issuerFingerprint}
	if err := safeyaml.Unmarshal(parts[0], st.Metadata); err != nil {
		return nil, fmt.Errorf("%w: signed Chart.yaml: %w", ErrMalformed, err)
	}
	var sums sumCollection
	if err := safeyaml.Unmarshal(parts[1], &sums); err != nil {
		return nil, fmt.Errorf("%w: files list: %w", ErrMalformed, err)
	}
	if len(sums.Files) == 0 {
		return nil, fmt.Errorf("%w: the files list is empty", ErrMalformed)
	}
	st.Files = sums.Files
	return st, nil
}

// VerifySignature checks who signed a .prov, and nothing else: the signature must be valid
// and made by a key in keyring. It returns the keyring's entity that signed. What the signed
// statement says (the chart and archive it vouches for) is for [Parse] and
// [Statement.CheckFile]. Errors wrap [ErrMalformed], [ErrBadSignature], [ErrUnknownKey] or
// [ErrKeyExpired].
func VerifySignature(prov []byte, keyring openpgp.EntityList) (*openpgp.Entity, error) {
	msg, err := decode(prov)
	if err != nil {
		return nil, err
	}
	signer, err := openpgp.CheckDetachedSignature(keyring, bytes.NewReader(msg.block.Bytes), bytes.NewReader(msg.signature), &pgpConfig)
	if err != nil {
		return nil, signatureError(err, msg.issuerKeyID)
	}
	return signer, nil
}

// Fingerprint is an entity's primary key fingerprint in upper-case hex, as gpg prints it.
func Fingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
}

// Identity is the first identity of an entity ("Jane <jane@example.com>"), or its key ID.
func Identity(e *openpgp.Entity) string { return entityName(e) }
