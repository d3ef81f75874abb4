package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// tcKeys are keyring files of two signers: jane (no passphrase) and locked (passphrase
// "s3cret"), each as binary and armored secret and public keyrings.
type tcKeys struct {
	janeSec, janePub, janeSecArmored, janePubArmored string
	lockedSec, lockedPub                             string
}

func tcMakeKeys(t *testing.T) tcKeys {
	t.Helper()
	dir := t.TempDir()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA}
	jane, err := openpgp.NewEntity("Jane Doe", "", "jane@example.com", cfg)
	if err != nil {
		t.Fatal(err)
	}
	locked, err := openpgp.NewEntity("Locked Signer", "", "locked@example.com", cfg)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, armorType string, fn func(io.Writer) error) string {
		t.Helper()
		var buf bytes.Buffer
		var w io.Writer = &buf
		var aw io.WriteCloser
		if armorType != "" {
			if aw, err = armor.Encode(&buf, armorType, nil); err != nil {
				t.Fatal(err)
			}
			w = aw
		}
		if err := fn(w); err != nil {
			t.Fatal(err)
		}
		if aw != nil {
			aw.Close()
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	k := tcKeys{
		janeSec:        write("jane-sec.gpg", "", func(w io.Writer) error { return jane.SerializePrivate(w, nil) }),
		janePub:        write("jane-pub.gpg", "", jane.Serialize),
		janeSecArmored: write("jane-sec.asc", openpgp.PrivateKeyType, func(w io.Writer) error { return jane.SerializePrivate(w, nil) }),
		janePubArmored: write("jane-pub.asc", openpgp.PublicKeyType, jane.Serialize),
		lockedPub:      write("locked-pub.gpg", "", locked.Serialize),
	}
	if err := locked.EncryptPrivateKeys([]byte("s3cret"), cfg); err != nil {
		t.Fatal(err)
	}
	k.lockedSec = write("locked-sec.asc", openpgp.PrivateKeyType, func(w io.Writer) error { return locked.SerializePrivateWithoutSigning(w, nil) })
	return k
}

// tcArchive packages a small chart and returns the archive's path.
func tcArchive(t *testing.T, name string) string {
	t.Helper()
	dir := tcChart(t, filepath.Join(t.TempDir(), name), name)
	out := t.TempDir()
	tcRun(t, "", "package", dir, "-d", out).want(t, 0)
	return filepath.Join(out, name+"-1.4.2.tgz")
}

func TestSignVerify(t *testing.T) {
	t.Setenv(envPassphrase, "")
	t.Setenv(envHelmPassphrase, "")
	keys := tcMakeKeys(t)
	passFile := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(passFile, []byte("s3cret\r\nsecond line ignored\n"), 0o600)
	wrongFile := filepath.Join(t.TempDir(), "wrong")
	os.WriteFile(wrongFile, []byte("guess\n"), 0o600)

	for _, tc := range []struct {
		name   string
		env    map[string]string
		stdin  string
		args   []string
		pub    string
		signer string
	}{
		{"binary keyring, key by email", nil, "", []string{"--key", "jane@example.com", "--keyring", keys.janeSec}, keys.janePub, "Jane Doe <jane@example.com>"},
		{"armored keyring, the only key", nil, "", []string{"--keyring", keys.janeSecArmored}, keys.janePubArmored, "Jane Doe"},
		{"passphrase file", nil, "", []string{"--keyring", keys.lockedSec, "--passphrase-file", passFile}, keys.lockedPub, "Locked Signer"},
		{"passphrase on stdin", nil, "s3cret\n", []string{"--keyring", keys.lockedSec, "--passphrase-file", "-"}, keys.lockedPub, "Locked Signer"},
		{"passphrase in CHARTROOM_KEY_PASSPHRASE", map[string]string{envPassphrase: "s3cret"}, "", []string{"--keyring", keys.lockedSec}, keys.lockedPub, "Locked Signer"},
		{"passphrase in HELM_KEY_PASSPHRASE", map[string]string{envHelmPassphrase: "s3cret"}, "", []string{"--keyring", keys.lockedSec}, keys.lockedPub, "Locked Signer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			archive := tcArchive(t, "myapp")
			r := tcRun(t, tc.stdin, append([]string{"sign", archive, "-o", "json"}, tc.args...)...)
			r.want(t, 0)
			var sr signResult
			r.json(t, &sr)
			if sr.Prov != archive+".prov" || !strings.Contains(sr.Signer, tc.signer) || !strings.HasPrefix(sr.Hash, "sha256:") {
				t.Errorf("sign result %+v", sr)
			}
			r = tcRun(t, "", "verify", archive, "--keyring", tc.pub, "-o", "json")
			r.want(t, 0)
			var vr verifyResult
			r.json(t, &vr)
			if vr.Hash != sr.Hash || vr.Signer != sr.Signer || vr.Fingerprint != sr.Fingerprint || vr.Name != "myapp" || vr.Version != "1.4.2" {
				t.Errorf("verify result %+v, sign result %+v", vr, sr)
			}
			tcRun(t, "", "verify", archive, "--keyring", tc.pub).want(t, 0, "Signed by: "+sr.Signer, "Chart Hash Verified: "+sr.Hash)
		})
	}

	t.Run("key errors", func(t *testing.T) {
		archive := tcArchive(t, "myapp")
		garbage := filepath.Join(t.TempDir(), "garbage.gpg")
		os.WriteFile(garbage, []byte("not a keyring"), 0o600)
		keybox := filepath.Join(t.TempDir(), "pubring.kbx")
		os.WriteFile(keybox, append([]byte("\x00\x00\x00\x20\x01\x01\x00\x00KBXf"), make([]byte, 20)...), 0o600)
		for _, tc := range []struct {
			name string
			args []string
			want []string
		}{
			{"no passphrase", []string{"--keyring", keys.lockedSec}, []string{"needs a passphrase", "--passphrase-file", envPassphrase}},
			{"wrong passphrase", []string{"--keyring", keys.lockedSec, "--passphrase-file", wrongFile}, []string{"wrong passphrase", "--passphrase-file " + wrongFile}},
			{"missing passphrase file", []string{"--keyring", keys.lockedSec, "--passphrase-file", wrongFile + ".nope"}, []string{"--passphrase-file", "no such file"}},
			{"missing keyring", []string{"--keyring", garbage + ".nope"}, []string{"does not exist", "--keyring"}},
			{"not a keyring", []string{"--keyring", garbage}, []string{"is not an OpenPGP keyring", "gpg --export"}},
			{"gpg keybox", []string{"--keyring", keybox}, []string{"keybox"}},
			{"public keyring", []string{"--keyring", keys.janePub}, []string{"secret key"}},
			{"unknown key name", []string{"--keyring", keys.janeSec, "--key", "nobody"}, []string{`"nobody"`, "Jane Doe"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tcRun(t, "", append([]string{"sign", archive}, tc.args...)...).want(t, 2, tc.want...)
				if _, err := os.Stat(archive + ".prov"); err == nil {
					t.Error("a .prov was written")
				}
			})
		}
		tcRun(t, "", "sign", filepath.Join(t.TempDir(), "none.tgz"), "--keyring", keys.janeSec).want(t, 2, "does not exist")
		notChart := filepath.Join(t.TempDir(), "x-1.0.0.tgz")
		os.WriteFile(notChart, []byte("apiVersion: v2\nname: x\n"), 0o644)
		tcRun(t, "", "sign", notChart, "--keyring", keys.janeSec).want(t, 2, "not a valid chart archive", "YAML")
	})
}

func TestVerifyFailures(t *testing.T) {
	keys := tcMakeKeys(t)
	other := tcMakeKeys(t)
	archive := tcArchive(t, "myapp")
	tcRun(t, "", "sign", archive, "--keyring", keys.janeSec).want(t, 0)
	data, _ := os.ReadFile(archive)
	prov, _ := os.ReadFile(archive + ".prov")

	copyTo := func(t *testing.T, archiveData, provData []byte) string {
		p := filepath.Join(t.TempDir(), filepath.Base(archive))
		os.WriteFile(p, archiveData, 0o644)
		if provData != nil {
			os.WriteFile(p+".prov", provData, 0o644)
		}
		return p
	}
	tamperedArchive := append(append([]byte{}, data...), 0)
	tamperedProv := bytes.Replace(prov, []byte("name: myapp"), []byte("name: evil!"), 1)
	if bytes.Equal(tamperedProv, prov) {
		t.Fatal("test setup: the .prov does not contain name: myapp")
	}
	for _, tc := range []struct {
		name    string
		path    string
		keyring string
		code    int
		want    []string
	}{
		{"tampered archive", copyTo(t, tamperedArchive, prov), keys.janePub, 1, []string{"archive was modified"}},
		{"tampered .prov", copyTo(t, data, tamperedProv), keys.janePub, 1, []string{"signature is invalid", ".prov was modified"}},
		{"wrong key", copyTo(t, data, prov), other.janePub, 1, []string{"unknown key", "not in the keyring"}},
		{"renamed archive", func() string {
			p := filepath.Join(t.TempDir(), "other-1.0.0.tgz")
			os.WriteFile(p, data, 0o644)
			os.WriteFile(p+".prov", prov, 0o644)
			return p
		}(), keys.janePub, 1, []string{"lists", "myapp-1.4.2.tgz"}},
		{"not a .prov", copyTo(t, data, []byte("hello\n")), keys.janePub, 1, []string{"malformed provenance"}},
		{"no .prov", copyTo(t, data, nil), keys.janePub, 2, []string{"no provenance file", "chartroom sign"}},
		{"huge .prov", copyTo(t, data, make([]byte, maxProv+1)), keys.janePub, 1, []string{"malformed provenance", "larger than"}},
		{"missing archive", filepath.Join(t.TempDir(), "none.tgz"), keys.janePub, 2, []string{"does not exist"}},
		{"missing keyring", copyTo(t, data, prov), keys.janePub + ".nope", 2, []string{"keyring", "does not exist"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tcRun(t, "", "verify", tc.path, "--keyring", tc.keyring).want(t, tc.code, tc.want...)
		})
	}
	// --prov names a provenance file elsewhere.
	elsewhere := filepath.Join(t.TempDir(), "sig.prov")
	os.WriteFile(elsewhere, prov, 0o644)
	tcRun(t, "", "verify", copyTo(t, data, nil), "--keyring", keys.janePub, "--prov", elsewhere).want(t, 0, "Chart Hash Verified")
}

func TestPackageSign(t *testing.T) {
	t.Setenv(envPassphrase, "")
	t.Setenv(envHelmPassphrase, "")
	keys := tcMakeKeys(t)
	dir := tcChart(t, filepath.Join(t.TempDir(), "myapp"), "myapp")
	out := t.TempDir()

	// A wrong passphrase fails before anything is written.
	wrong := filepath.Join(t.TempDir(), "wrong")
	os.WriteFile(wrong, []byte("guess\n"), 0o600)
	tcRun(t, "", "package", dir, "-d", out, "--sign", "--keyring", keys.lockedSec, "--passphrase-file", wrong).want(t, 2, "wrong passphrase")
	if left, _ := os.ReadDir(out); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}

	r := tcRun(t, "s3cret\n", "package", dir, "-d", out, "--sign", "--keyring", keys.lockedSec, "--passphrase-file", "-", "-o", "json")
	r.want(t, 0)
	var res packageResult
	r.json(t, &res)
	if res.Prov != res.Path+".prov" || res.Signer != "Locked Signer <locked@example.com>" {
		t.Fatalf("result %+v", res)
	}
	tcRun(t, "", "verify", res.Path, "--keyring", keys.lockedPub).want(t, 0, "Chart Hash Verified: sha256:"+res.Digest)
}
