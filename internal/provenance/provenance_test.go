package provenance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/provenance/provtest"
	"github.com/chartroom/chartroom/internal/safeyaml"
)

// testArchive packages a small chart and returns its bytes and file name.
func testArchive(t testing.TB) ([]byte, string) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"Chart.yaml":       "apiVersion: v2\nname: demo\nversion: 1.2.3\ndescription: A demo\nmaintainers:\n- name: Jane\n",
		"values.yaml":      "a: 1\n",
		"templates/x.yaml": "kind: X\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
	}
	var buf bytes.Buffer
	ch, err := chart.Package(context.Background(), dir, &buf, chart.PackageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), ch.Metadata.ArchiveName()
}

var testCfg = &packet.Config{RSABits: 2048, Algorithm: packet.PubKeyAlgoRSA}

func newEntity(t testing.TB, name, email string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", email, testCfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// keyring serializes entities as gpg would export them.
func keyring(t testing.TB, secret, armored bool, passphrase []byte, es ...*openpgp.Entity) []byte {
	t.Helper()
	var raw bytes.Buffer
	for _, e := range es {
		var err error
		switch {
		case secret && passphrase != nil:
			if err = e.SerializePrivate(&bytes.Buffer{}, nil); err == nil { // sign identities while decrypted
				if err = e.EncryptPrivateKeys(passphrase, nil); err == nil {
					err = e.SerializePrivateWithoutSigning(&raw, nil)
				}
			}
		case secret:
			err = e.SerializePrivate(&raw, nil)
		default:
			err = e.Serialize(&raw)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !armored {
		return raw.Bytes()
	}
	var out bytes.Buffer
	typ := openpgp.PublicKeyType
	if secret {
		typ = openpgp.PrivateKeyType
	}
	w, err := armor.Encode(&out, typ, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(raw.Bytes())
	w.Close()
	return out.Bytes()
}

func load(t testing.TB, data []byte) openpgp.EntityList {
	t.Helper()
	el, err := LoadKeyring(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return el
}

func TestSignFormat(t *testing.T) {
	archive, name := testArchive(t)
	signer := newEntity(t, "Chart Signer", "signer@example.com")
	prov, err := Sign(bytes.NewReader(archive), name, signer)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(archive)
	want := "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" +
		// Lines starting with "-" are dash-escaped (RFC 4880 §7.1), as in Helm's files.
		"apiVersion: v2\ndescription: A demo\nmaintainers:\n- - name: Jane\nname: demo\nversion: 1.2.3\n\n...\n" +
		"files:\n  demo-1.2.3.tgz: sha256:" + hex.EncodeToString(sum[:]) + "\n\n-----BEGIN PGP SIGNATURE-----\n"
	if !strings.HasPrefix(string(prov), want) {
		t.Errorf("prov:\n%s\nwant prefix:\n%s", prov, want)
	}
	st, err := Parse(prov)
	if err != nil {
		t.Fatal(err)
	}
	if st.Metadata.Name != "demo" || st.IssuerKeyID != signer.PrimaryKey.KeyId {
		t.Errorf("statement %+v", st)
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	archive, name := testArchive(t)
	for _, tc := range []struct {
		name       string
		armored    bool
		passphrase []byte
	}{
		{"binary keyring", false, nil},
		{"armored keyring", true, nil},
		{"encrypted key", false, []byte("s3cret")},
		{"armored encrypted key", true, []byte("s3cret")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEntity(t, "Chart Signer", "signer@example.com")
			pub := keyring(t, false, tc.armored, nil, e)
			sec := keyring(t, true, tc.armored, tc.passphrase, e)
			signer, err := SignerFromKeyring(load(t, sec), "signer@example.com", tc.passphrase)
			if err != nil {
				t.Fatal(err)
			}
			prov, err := Sign(bytes.NewReader(archive), name, signer)
			if err != nil {
				t.Fatal(err)
			}
			v, err := Verify(bytes.NewReader(archive), name, prov, load(t, pub))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(archive)
			if v.FileName != name || v.FileHash != "sha256:"+hex.EncodeToString(sum[:]) || v.Signer() != "Chart Signer <signer@example.com>" || v.Metadata.Version != "1.2.3" {
				t.Errorf("verification %+v signer %q", v, v.Signer())
			}
			if _, err := CheckFiles(prov, name, hex.EncodeToString(sum[:])); err != nil {
				t.Errorf("CheckFiles: %v", err)
			}
		})
	}
}

func TestVerifyFailures(t *testing.T) {
	archive, name := testArchive(t)
	e := newEntity(t, "Chart Signer", "signer@example.com")
	other := newEntity(t, "Someone Else", "else@example.com")
	prov, err := Sign(bytes.NewReader(archive), name, e)
	if err != nil {
		t.Fatal(err)
	}
	ring := openpgp.EntityList{e}
	tampered := append(append([]byte{}, archive...), 0)
	tests := []struct {
		name    string
		archive []byte
		file    string
		prov    []byte
		ring    openpgp.EntityList
		is      error
		want    string
	}{
		{"tampered archive", tampered, name, prov, ring, ErrDigestMismatch, "the archive was modified"},
		{"other archive name", archive, "other-1.0.0.tgz", prov, ring, ErrDigestMismatch, `lists "demo-1.2.3.tgz"`},
		{"tampered prov body", archive, name, bytes.Replace(prov, []byte("description: A demo"), []byte("description: A lie "), 1), ring, ErrBadSignature, "modified after signing"},
		{"tampered prov digest", archive, name, bytes.Replace(prov, []byte("sha256:"), []byte("sha256:0"), 1), ring, ErrBadSignature, "modified after signing"},
		{"unknown key", archive, name, prov, openpgp.EntityList{other}, ErrUnknownKey, "is not in the keyring"},
		{"not a prov", archive, name, []byte("hello"), ring, ErrMalformed, "no PGP signed message"},
		{"no separator", archive, name, clearsigned(t, e, "name: demo\n"), ring, ErrMalformed, `"..."`},
		{"corrupt signature", archive, name, bytes.Replace(prov, []byte("-----END PGP SIGNATURE-----"), []byte("-----END PGP SIGNATURE----"), 1), ring, ErrMalformed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(bytes.NewReader(tc.archive), tc.file, tc.prov, tc.ring)
			if !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func clearsigned(t *testing.T, e *openpgp.Entity, text string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := clearsignEncode(&buf, e)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(text))
	w.Close()
	return buf.Bytes()
}

func TestVerifyExpiredKey(t *testing.T) {
	archive, name := testArchive(t)
	cfg := *testCfg
	cfg.Time = func() time.Time { return time.Now().Add(-48 * time.Hour) }
	cfg.KeyLifetimeSecs = 3600
	e, err := openpgp.NewEntity("Old", "", "old@example.com", &cfg)
	if err != nil {
		t.Fatal(err)
	}
	prov, err := Sign(bytes.NewReader(archive), name, e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(bytes.NewReader(archive), name, prov, openpgp.EntityList{e}); !errors.Is(err, ErrKeyExpired) {
		t.Errorf("err = %v, want ErrKeyExpired", err)
	}
}

func TestCheckFiles(t *testing.T) {
	archive, name := testArchive(t)
	prov, err := Sign(bytes.NewReader(archive), name, newEntity(t, "S", "s@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(archive)
	good := hex.EncodeToString(sum[:])
	for _, tc := range []struct {
		name, file, digest string
		prov               []byte
		is                 error
	}{
		{"ok", name, good, prov, nil},
		{"upper-case hex", name, strings.ToUpper(good), prov, nil},
		{"wrong digest", name, strings.Repeat("0", 64), prov, ErrDigestMismatch},
		{"wrong name", "x-1.0.0.tgz", good, prov, ErrDigestMismatch},
		{"not clear-signed", name, good, []byte("files:\n  demo-1.2.3.tgz: sha256:" + good + "\n"), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckFiles(tc.prov, tc.file, tc.digest)
			if tc.is == nil && err != nil || tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want %v", err, tc.is)
			}
		})
	}
}

func TestSignRefuses(t *testing.T) {
	archive, name := testArchive(t)
	e := newEntity(t, "S", "s@example.com")
	if _, err := Sign(bytes.NewReader([]byte("not a chart")), name, e); !errors.Is(err, chart.ErrInvalidArchive) {
		t.Errorf("invalid archive: %v", err)
	}
	if _, err := Sign(bytes.NewReader(archive), "dir/"+name, e); err == nil {
		t.Error("path accepted as archive name")
	}
	pubOnly := load(t, keyring(t, false, false, nil, e))[0]
	if _, err := Sign(bytes.NewReader(archive), name, pubOnly); !errors.Is(err, ErrNoPrivateKey) {
		t.Errorf("public key: %v", err)
	}
	locked := load(t, keyring(t, true, false, []byte("pw"), newEntity(t, "L", "l@example.com")))[0]
	if _, err := Sign(bytes.NewReader(archive), name, locked); !errors.Is(err, ErrPassphraseRequired) {
		t.Errorf("encrypted key: %v", err)
	}
}

// aliasBomb is a provenance statement for demo-1.2.3.tgz whose Chart.yaml holds an alias
// bomb: a few kilobytes that expand to megabytes.
func aliasBomb(sha256hex string) string {
	return "apiVersion: v2\nname: demo\nversion: 1.2.3\nx: &a " + strings.Repeat("x", 4096) +
		"\ny: [" + strings.Repeat("*a, ", 2000) + "*a]\n...\nfiles:\n  demo-1.2.3.tgz: sha256:" + sha256hex + "\n"
}

// TestVerifyChecksSignatureFirst: the signed text is YAML read only once a trusted key's
// signature over it holds.
func TestVerifyChecksSignatureFirst(t *testing.T) {
	archive, name := testArchive(t)
	sum := sha256.Sum256(archive)
	trusted := newEntity(t, "Trusted", "trusted@example.com")
	stranger := newEntity(t, "Stranger", "stranger@example.com")
	bomb := aliasBomb(hex.EncodeToString(sum[:]))

	t.Run("bomb signed by an untrusted key", func(t *testing.T) {
		_, err := Verify(bytes.NewReader(archive), name, clearsigned(t, stranger, bomb), openpgp.EntityList{trusted})
		if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "not signed by a trusted key") {
			t.Fatalf("err = %v, want ErrUnknownKey saying \"not signed by a trusted key\"", err)
		}
		if errors.Is(err, ErrMalformed) || errors.Is(err, safeyaml.ErrExpansion) {
			t.Fatalf("the body was parsed before the signature was checked: %v", err)
		}
	})
	t.Run("bomb signed by a trusted key", func(t *testing.T) {
		_, err := Verify(bytes.NewReader(archive), name, clearsigned(t, trusted, bomb), openpgp.EntityList{trusted})
		if !errors.Is(err, safeyaml.ErrExpansion) || !errors.Is(err, ErrMalformed) {
			t.Fatalf("err = %v, want safeyaml's ErrExpansion", err)
		}
	})
	t.Run("garbage signature over a valid statement", func(t *testing.T) {
		prov, err := Sign(bytes.NewReader(archive), name, trusted)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Verify(bytes.NewReader(archive), name, provtest.ZeroSignature(t, prov), openpgp.EntityList{trusted})
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("err = %v, want ErrMalformed", err)
		}
	})
}

// TestParseRefusesBrokenSignatures: the keyless check a server makes refuses a .prov whose
// signature block is not an OpenPGP signature, although the signed text is right.
func TestParseRefusesBrokenSignatures(t *testing.T) {
	archive, name := testArchive(t)
	sum := sha256.Sum256(archive)
	e := newEntity(t, "S", "s@example.com")
	prov, err := Sign(bytes.NewReader(archive), name, e)
	if err != nil {
		t.Fatal(err)
	}
	var pubKey bytes.Buffer // a key, armored as if it were a signature
	w, _ := armor.Encode(&pubKey, "PGP SIGNATURE", nil)
	e.Serialize(w)
	w.Close()
	end := bytes.Index(prov, []byte("-----BEGIN PGP SIGNATURE-----"))
	for _, tc := range []struct {
		name string
		prov []byte
		says string
	}{
		{"40 zero bytes", provtest.ZeroSignature(t, prov), "not a valid OpenPGP signature"},
		{"truncated armor", provtest.TruncatedArmor(t, prov), "not a valid OpenPGP signature"},
		{"cut in the signature block", prov[:len(prov)-60], "no PGP signed message"},
		{"a key instead of a signature", append(append([]byte{}, prov[:end]...), pubKey.Bytes()...), "not a signature"},
		{"empty signature block", append(append([]byte{}, prov[:end]...), "-----BEGIN PGP SIGNATURE-----\n\n-----END PGP SIGNATURE-----\n"...), "no OpenPGP signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse(tc.prov); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("Parse: %v, want ErrMalformed saying %q", err, tc.says)
			}
			if _, err := CheckFiles(tc.prov, name, hex.EncodeToString(sum[:])); !errors.Is(err, ErrMalformed) {
				t.Errorf("CheckFiles: %v, want ErrMalformed", err)
			}
		})
	}
	if _, err := CheckFiles(prov, name, hex.EncodeToString(sum[:])); err != nil {
		t.Fatalf("the intact .prov: %v", err)
	}
}
