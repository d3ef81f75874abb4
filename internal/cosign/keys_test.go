package cosign

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/nacl/secretbox"
)

func TestKeyRoundTrip(t *testing.T) {
	for _, pass := range []string{"", "s3cret", "pässwörd with spaces"} {
		t.Run("password "+pass, func(t *testing.T) {
			key, err := GenerateKey()
			if err != nil {
				t.Fatal(err)
			}
			data, err := EncryptPrivateKey(key, []byte(pass))
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode(data)
			if block == nil || block.Type != PrivateKeyPEMType {
				t.Fatalf("PEM block %v, want %q", block, PrivateKeyPEMType)
			}
			// cosign's envelope: scrypt with go-securesystemslib's standard parameters,
			// nacl/secretbox, 32-byte salt, 24-byte nonce.
			raw := map[string]json.RawMessage{}
			if err := json.Unmarshal(block.Bytes, &raw); err != nil {
				t.Fatal(err)
			}
			var kdf struct {
				Name   string         `json:"name"`
				Params map[string]int `json:"params"`
				Salt   []byte         `json:"salt"`
			}
			var cipher struct {
				Name  string `json:"name"`
				Nonce []byte `json:"nonce"`
			}
			json.Unmarshal(raw["kdf"], &kdf)
			json.Unmarshal(raw["cipher"], &cipher)
			if kdf.Name != "scrypt" || kdf.Params["N"] != 65536 || kdf.Params["r"] != 8 || kdf.Params["p"] != 1 || len(kdf.Salt) != 32 {
				t.Errorf("kdf %+v", kdf)
			}
			if cipher.Name != "nacl/secretbox" || len(cipher.Nonce) != 24 {
				t.Errorf("cipher %+v", cipher)
			}
			got, err := DecryptPrivateKey(data, []byte(pass))
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(key) {
				t.Fatal("the decrypted key differs")
			}
			if _, err := DecryptPrivateKey(data, []byte(pass+"x")); !errors.Is(err, ErrWrongPassword) {
				t.Fatalf("wrong password: %v, want ErrWrongPassword", err)
			}
		})
	}
}

func TestDecryptPrivateKeyRefuses(t *testing.T) {
	key, _ := GenerateKey()
	good, _ := EncryptPrivateKey(key, []byte("pw"))
	block, _ := pem.Decode(good)
	var env map[string]json.RawMessage
	json.Unmarshal(block.Bytes, &env)
	reenvelope := func(typ string, edit func(map[string]json.RawMessage)) []byte {
		e := map[string]json.RawMessage{}
		for k, v := range env {
			e[k] = v
		}
		if edit != nil {
			edit(e)
		}
		b, _ := json.Marshal(e)
		return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b})
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384PEM, _ := encryptAny(p384, []byte("pw"))
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"not PEM", []byte("hello"), ErrNotKey},
		{"a public key", func() []byte { p, _ := NewPublicKey(&key.PublicKey); return p.PEM() }(), ErrNotKey},
		{"an unencrypted PKCS8 key", func() []byte {
			der, _ := x509.MarshalPKCS8PrivateKey(key)
			return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		}(), ErrNotKey},
		{"scrypt parameters that take hours", reenvelope(PrivateKeyPEMType, func(e map[string]json.RawMessage) {
			e["kdf"] = json.RawMessage(strings.Replace(string(e["kdf"]), `"N":65536`, `"N":1073741824`, 1))
		}), ErrNotKey},
		{"another cipher", reenvelope(PrivateKeyPEMType, func(e map[string]json.RawMessage) {
			e["cipher"] = json.RawMessage(strings.Replace(string(e["cipher"]), "nacl/secretbox", "aes", 1))
		}), ErrNotKey},
		{"a short nonce", reenvelope(PrivateKeyPEMType, func(e map[string]json.RawMessage) {
			e["cipher"] = json.RawMessage(`{"name":"nacl/secretbox","nonce":"AAAA"}`)
		}), ErrNotKey},
		{"tampered ciphertext", reenvelope(PrivateKeyPEMType, func(e map[string]json.RawMessage) {
			var ct []byte
			json.Unmarshal(e["ciphertext"], &ct)
			ct[len(ct)-1] ^= 1
			e["ciphertext"], _ = json.Marshal(ct)
		}), ErrWrongPassword},
		{"a P-384 key", p384PEM, ErrKeyType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecryptPrivateKey(tc.data, []byte("pw")); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// cosign's older block type is read.
	if _, err := DecryptPrivateKey(reenvelope(LegacyPrivateKeyPEMType, nil), []byte("pw")); err != nil {
		t.Fatalf("ENCRYPTED COSIGN PRIVATE KEY: %v", err)
	}
}

// encryptAny is EncryptPrivateKey for any key type (to test refusals).
func encryptAny(key any, pass []byte) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	ec, _ := GenerateKey()
	tmpl, err := EncryptPrivateKey(ec, pass)
	if err != nil {
		return nil, err
	}
	// Same envelope, other plaintext: re-encrypt by hand.
	block, _ := pem.Decode(tmpl)
	var env encryptedKey
	json.Unmarshal(block.Bytes, &env)
	k, err := deriveKey(pass, env.KDF.Salt, env.KDF.Params)
	if err != nil {
		return nil, err
	}
	var nonce [boxNonceSize]byte
	copy(nonce[:], env.Cipher.Nonce)
	env.Ciphertext = secretbox.Seal(nil, der, &nonce, k)
	b, _ := json.Marshal(env)
	return pem.EncodeToMemory(&pem.Block{Type: PrivateKeyPEMType, Bytes: b}), nil
}

func TestParsePublicKey(t *testing.T) {
	key, _ := GenerateKey()
	pub, err := NewPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePublicKey(pub.PEM())
	if err != nil {
		t.Fatal(err)
	}
	if !got.ECDSA().Equal(&key.PublicKey) || got.ID() != pub.ID() || !strings.HasPrefix(got.ID(), "sha256:") || len(got.ID()) != 71 {
		t.Fatalf("parsed %s, want %s", got.ID(), pub.ID())
	}
	if _, err := ParsePublicKey([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")); !errors.Is(err, ErrNotKey) {
		t.Errorf("garbage: %v", err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	if _, err := ParsePublicKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})); !errors.Is(err, ErrKeyType) {
		t.Errorf("P-384: %v", err)
	}
}

// The key pair in testdata was made by the real cosign (testdata/regenerate.sh): its private
// key decrypts with its password and matches its public key; the wrong password is refused.
func TestDecryptCosignGeneratedKey(t *testing.T) {
	checkCosignPair(t, filepath.Join("testdata", "cosign-generated.key"), filepath.Join("testdata", "cosign-generated.pub"), "chartroom test password")
}

// With the pinned cosign at hand (CHARTROOM_COSIGN, from scripts/tools.sh), a key pair it makes
// now with COSIGN_PASSWORD set decrypts too, and cosign reads the keys chartroom makes.
func TestCosignGenerateKeyPairLive(t *testing.T) {
	bin := os.Getenv("CHARTROOM_COSIGN")
	if bin == "" {
		t.Skip("CHARTROOM_COSIGN is not set: export the paths scripts/tools.sh prints (make tools) to run this against the real cosign")
	}
	dir := t.TempDir()
	const pass = "live password"
	cmd := exec.Command(bin, "generate-key-pair", "--output-key-prefix", filepath.Join(dir, "made"))
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD="+pass, "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	checkCosignPair(t, filepath.Join(dir, "made.key"), filepath.Join(dir, "made.pub"), pass)

	// cosign public-key reads a key chartroom encrypted, and derives the same public key.
	key, _ := GenerateKey()
	data, _ := EncryptPrivateKey(key, []byte(pass))
	os.WriteFile(filepath.Join(dir, "ours.key"), data, 0o600)
	cmd = exec.Command(bin, "public-key", "--key", filepath.Join(dir, "ours.key"))
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD="+pass, "HOME="+dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cosign public-key: %v\n%s", err, out)
	}
	pub, err := ParsePublicKey(out)
	if err != nil || !pub.ECDSA().Equal(&key.PublicKey) {
		t.Fatalf("cosign public-key printed %q (%v), not our key", out, err)
	}
}

func checkCosignPair(t *testing.T, keyPath, pubPath, pass string) {
	t.Helper()
	data, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	pubData, err := os.ReadFile(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	key, err := DecryptPrivateKey(data, []byte(pass))
	if err != nil {
		t.Fatalf("decrypt cosign's key: %v", err)
	}
	pub, err := ParsePublicKey(pubData)
	if err != nil {
		t.Fatalf("cosign's public key: %v", err)
	}
	if !pub.ECDSA().Equal(&key.PublicKey) {
		t.Fatal("cosign's private key does not match its public key")
	}
	if !bytes.Equal(bytes.TrimSpace(pub.PEM()), bytes.TrimSpace(pubData)) {
		t.Errorf("our PEM of cosign's public key differs:\n%s\nwant\n%s", pub.PEM(), pubData)
	}
	if _, err := DecryptPrivateKey(data, []byte(pass+"!")); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
}
