package cosign

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
)

// Errors of signature checks.
var (
	// ErrBadSignature: the signature does not verify with any trusted key (another key made
	// it, or what it signs was changed).
	ErrBadSignature = errors.New("the signature does not verify with the trusted key")
	// ErrKeyless: the signature carries a certificate (keyless signing), which chartroom
	// does not verify.
	ErrKeyless = errors.New("keyless signature (a Fulcio certificate)")
	// ErrWrongDigest: the signature is valid but signs another manifest.
	ErrWrongDigest = errors.New("the signature is for another manifest")
	// ErrMalformed: the signature, its payload or its bundle is not in cosign's format.
	ErrMalformed = errors.New("not a cosign signature")
	// ErrNotSignature: a sigstore bundle that attests something else than a signature (an
	// in-toto attestation of another predicate type, made by cosign attest).
	ErrNotSignature = errors.New("an attestation, not a signature")
)

// Material is what a signature carries to say who made it: a sigstore bundle's verification
// material, or a signature layer's annotations.
type Material struct {
	// KeyHint names the signing key ([PublicKey.Hint]); set for key-based signatures in
	// bundles, "" in signature layers (which do not name their key).
	KeyHint string
	// Certificate is the DER X.509 certificate of a keyless signature (issued by Fulcio for
	// an OIDC identity); chartroom's signers never set it.
	Certificate []byte
}

// Signature is one signature and what it carries about its signer.
type Signature struct {
	// Sig is the raw signature (ASN.1 DER for ECDSA).
	Sig      []byte
	Material Material
}

// Signer makes signatures. A key-based one is [KeySigner]; a keyless one would sign with an
// ephemeral key and return its Fulcio certificate in each signature's Material.
type Signer interface {
	// Sign signs message: a simple-signing payload, or a DSSE envelope's pre-authentication
	// encoding.
	Sign(ctx context.Context, message []byte) (*Signature, error)
	// Verifier accepts exactly the signatures this signer makes; signing uses it to find a
	// signature it already made, which it does not add twice.
	Verifier() Verifier
}

// Verifier decides whether a signature of message is trusted. A key-based one is
// [KeyVerifier]; a keyless one would check the certificate in the signature's Material
// against Fulcio's roots and an identity policy, and its transparency-log entry.
type Verifier interface {
	// Verify returns who made sig (a key ID, or a certificate's identity), or an error
	// wrapping [ErrBadSignature] or [ErrKeyless].
	Verify(ctx context.Context, message []byte, sig Signature) (signer string, err error)
}

// KeySigner signs with an ECDSA P-256 private key, as `cosign sign --key` does: ECDSA over the
// SHA-256 of the message, ASN.1 DER.
type KeySigner struct {
	key *ecdsa.PrivateKey
	pub *PublicKey
}

var (
	_ Signer   = (*KeySigner)(nil)
	_ Verifier = (*KeyVerifier)(nil)
)

// NewKeySigner makes a signer of key.
func NewKeySigner(key *ecdsa.PrivateKey) (*KeySigner, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: no key", ErrNotKey)
	}
	pub, err := NewPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	return &KeySigner{key: key, pub: pub}, nil
}

// PublicKey is the signer's public key.
func (s *KeySigner) PublicKey() *PublicKey { return s.pub }

// Sign implements [Signer].
func (s *KeySigner) Sign(_ context.Context, message []byte) (*Signature, error) {
	sum := sha256.Sum256(message)
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, sum[:])
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return &Signature{Sig: sig, Material: Material{KeyHint: s.pub.Hint()}}, nil
}

// Verifier implements [Signer]: a verifier of the signer's public key.
func (s *KeySigner) Verifier() Verifier { return NewKeyVerifier(s.pub) }

// KeyVerifier trusts signatures made by any of its public keys, as `cosign verify --key`
// does (with --insecure-ignore-tlog: transparency-log entries are not checked). A bundle's
// key hint is not trusted to pick the key: every key is tried.
type KeyVerifier struct {
	keys []*PublicKey
}

// NewKeyVerifier trusts keys.
func NewKeyVerifier(keys ...*PublicKey) *KeyVerifier {
	return &KeyVerifier{keys: keys}
}

// Verify implements [Verifier]: the ID of the key that made sig.
func (v *KeyVerifier) Verify(_ context.Context, message []byte, sig Signature) (string, error) {
	sum := sha256.Sum256(message)
	for _, k := range v.keys {
		if ecdsa.VerifyASN1(k.ECDSA(), sum[:], sig.Sig) {
			return k.ID(), nil
		}
	}
	if len(sig.Material.Certificate) > 0 {
		what := "a certificate"
		if c, err := x509.ParseCertificate(sig.Material.Certificate); err == nil {
			what = "a certificate for " + certIdentity(c)
		}
		return "", fmt.Errorf("%w: signed with %s, which chartroom does not verify (keyless signing needs Fulcio and Rekor); verify it with cosign verify --certificate-identity … --certificate-oidc-issuer …", ErrKeyless, what)
	}
	return "", ErrBadSignature
}

// certIdentity names a certificate's subject as cosign prints it: its first SAN, else its
// subject.
func certIdentity(c *x509.Certificate) string {
	switch {
	case len(c.EmailAddresses) > 0:
		return c.EmailAddresses[0]
	case len(c.URIs) > 0:
		return c.URIs[0].String()
	case len(c.DNSNames) > 0:
		return c.DNSNames[0]
	}
	return c.Subject.String()
}
