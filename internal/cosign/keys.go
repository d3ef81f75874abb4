package cosign

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/crypto/scrypt"
)

// PEM block types of cosign's key files.
const (
	// PrivateKeyPEMType is the block `cosign generate-key-pair` writes since v2.
	PrivateKeyPEMType = "ENCRYPTED SIGSTORE PRIVATE KEY"
	// LegacyPrivateKeyPEMType is the block cosign wrote before; it is read, never written.
	LegacyPrivateKeyPEMType = "ENCRYPTED COSIGN PRIVATE KEY"
	// PublicKeyPEMType is a PKIX public key.
	PublicKeyPEMType = "PUBLIC KEY"
)

// Errors of key files.
var (
	// ErrWrongPassword: the private key does not decrypt with the password given.
	ErrWrongPassword = errors.New("wrong password for the private key")
	// ErrNotKey: the file is not a key in cosign's format.
	ErrNotKey = errors.New("not a cosign key")
	// ErrKeyType: the key is not ECDSA P-256, the only kind chartroom signs and verifies with.
	ErrKeyType = errors.New("unsupported key type")
)

// The scrypt parameters of cosign's key envelope (go-securesystemslib/encrypted): keys are
// written with the standard ones, and read with any of the three sets that library writes.
// Others are refused: a file could otherwise name parameters that take hours to derive.
var (
	scryptStandard = scryptParams{N: 1 << 16, R: 8, P: 1}
	scryptAccepted = []scryptParams{{N: 1 << 15, R: 8, P: 1}, scryptStandard, {N: 1 << 17, R: 8, P: 1}}
)

const (
	kdfScrypt        = "scrypt"
	cipherSecretbox  = "nacl/secretbox"
	saltSize         = 32
	boxKeySize       = 32
	boxNonceSize     = 24
	maxKeyCiphertext = 64 << 10
)

type scryptParams struct {
	N int `json:"N"`
	R int `json:"r"`
	P int `json:"p"`
}

// encryptedKey is the JSON envelope inside the private key's PEM block. []byte fields are
// base64, as encoding/json writes them (and as go-securesystemslib reads them).
type encryptedKey struct {
	KDF struct {
		Name   string       `json:"name"`
		Params scryptParams `json:"params"`
		Salt   []byte       `json:"salt"`
	} `json:"kdf"`
	Cipher struct {
		Name  string `json:"name"`
		Nonce []byte `json:"nonce"`
	} `json:"cipher"`
	Ciphertext []byte `json:"ciphertext"`
}

// GenerateKey makes an ECDSA P-256 key, the kind `cosign generate-key-pair` makes.
func GenerateKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// EncryptPrivateKey writes key as cosign's encrypted private key PEM, protected by password
// (which may be empty, as with COSIGN_PASSWORD="").
func EncryptPrivateKey(key *ecdsa.PrivateKey, password []byte) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode the private key: %w", err)
	}
	var env encryptedKey
	env.KDF.Name, env.KDF.Params = kdfScrypt, scryptStandard
	env.KDF.Salt = make([]byte, saltSize)
	env.Cipher.Name = cipherSecretbox
	env.Cipher.Nonce = make([]byte, boxNonceSize)
	if _, err := io.ReadFull(rand.Reader, env.KDF.Salt); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(rand.Reader, env.Cipher.Nonce); err != nil {
		return nil, err
	}
	boxKey, err := deriveKey(password, env.KDF.Salt, env.KDF.Params)
	if err != nil {
		return nil, err
	}
	var nonce [boxNonceSize]byte
	copy(nonce[:], env.Cipher.Nonce)
	env.Ciphertext = secretbox.Seal(nil, der, &nonce, boxKey)
	body, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: PrivateKeyPEMType, Bytes: body}), nil
}

// DecryptPrivateKey reads cosign's encrypted private key PEM with password. It fails with
// [ErrWrongPassword] when the password does not open it, [ErrNotKey] when data is not such a
// key, and [ErrKeyType] for a key that is not ECDSA P-256.
func DecryptPrivateKey(data, password []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrNotKey)
	}
	if block.Type != PrivateKeyPEMType && block.Type != LegacyPrivateKeyPEMType {
		return nil, fmt.Errorf("%w: a %q PEM block, not %q", ErrNotKey, block.Type, PrivateKeyPEMType)
	}
	if len(block.Bytes) > maxKeyCiphertext {
		return nil, fmt.Errorf("%w: the encrypted key has %d bytes; cosign's have a few hundred", ErrNotKey, len(block.Bytes))
	}
	var env encryptedKey
	if err := json.Unmarshal(block.Bytes, &env); err != nil {
		return nil, fmt.Errorf("%w: the encrypted key is not cosign's JSON envelope: %v", ErrNotKey, err)
	}
	if env.KDF.Name != kdfScrypt || env.Cipher.Name != cipherSecretbox {
		return nil, fmt.Errorf("%w: encrypted with %q and %q, not scrypt and nacl/secretbox", ErrNotKey, env.KDF.Name, env.Cipher.Name)
	}
	known := false
	for _, p := range scryptAccepted {
		known = known || p == env.KDF.Params
	}
	if !known {
		return nil, fmt.Errorf("%w: unsupported scrypt parameters N=%d r=%d p=%d", ErrNotKey, env.KDF.Params.N, env.KDF.Params.R, env.KDF.Params.P)
	}
	if len(env.Cipher.Nonce) != boxNonceSize {
		return nil, fmt.Errorf("%w: a %d-byte nonce, not %d", ErrNotKey, len(env.Cipher.Nonce), boxNonceSize)
	}
	boxKey, err := deriveKey(password, env.KDF.Salt, env.KDF.Params)
	if err != nil {
		return nil, err
	}
	var nonce [boxNonceSize]byte
	copy(nonce[:], env.Cipher.Nonce)
	der, ok := secretbox.Open(nil, env.Ciphertext, &nonce, boxKey)
	if !ok {
		return nil, ErrWrongPassword
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: the decrypted key is not PKCS #8: %v", ErrNotKey, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: a %s key; chartroom signs with ECDSA P-256 keys (cosign generate-key-pair's default, or chartroom keygen)", ErrKeyType, keyKind(k))
	}
	return ek, nil
}

func deriveKey(password, salt []byte, p scryptParams) (*[boxKeySize]byte, error) {
	k, err := scrypt.Key(password, salt, p.N, p.R, p.P, boxKeySize)
	if err != nil {
		return nil, fmt.Errorf("derive the key encryption key: %w", err)
	}
	var out [boxKeySize]byte
	copy(out[:], k)
	return &out, nil
}

// PublicKey is an ECDSA P-256 public key, with its PKIX encoding.
type PublicKey struct {
	key *ecdsa.PublicKey
	der []byte
}

// NewPublicKey wraps an ECDSA P-256 public key.
func NewPublicKey(pub *ecdsa.PublicKey) (*PublicKey, error) {
	if pub == nil || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: chartroom signs and verifies with ECDSA P-256 keys", ErrKeyType)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotKey, err)
	}
	return &PublicKey{key: pub, der: der}, nil
}

// ParsePublicKey reads a PKIX "PUBLIC KEY" PEM (cosign.pub, cosign public-key's output). It
// fails with [ErrNotKey] for anything else — a private key given by mistake included — and
// [ErrKeyType] for a key that is not ECDSA P-256.
func ParsePublicKey(data []byte) (*PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrNotKey)
	}
	if block.Type != PublicKeyPEMType {
		return nil, fmt.Errorf("%w: a %q PEM block, not %q", ErrNotKey, block.Type, PublicKeyPEMType)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotKey, err)
	}
	ek, ok := k.(*ecdsa.PublicKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: a %s key; chartroom verifies with ECDSA P-256 keys (cosign generate-key-pair's default)", ErrKeyType, keyKind(k))
	}
	return NewPublicKey(ek)
}

// ECDSA is the key.
func (k *PublicKey) ECDSA() *ecdsa.PublicKey { return k.key }

// PEM is the key as the PKIX "PUBLIC KEY" PEM cosign writes to cosign.pub.
func (k *PublicKey) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: PublicKeyPEMType, Bytes: k.der})
}

// ID names the key: "sha256:" and the hex SHA-256 of its PKIX encoding.
func (k *PublicKey) ID() string {
	sum := sha256.Sum256(k.der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Hint is the key's hint in a sigstore bundle: the base64 SHA-256 of its PKIX encoding, as
// cosign writes it.
func (k *PublicKey) Hint() string {
	sum := sha256.Sum256(k.der)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func keyKind(k any) string {
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		return "ECDSA " + k.Curve.Params().Name
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	}
	return fmt.Sprintf("%T", k)
}
