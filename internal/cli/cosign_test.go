package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/cosign"
)

func TestKeygen(t *testing.T) {
	isolateHome(t)
	dir := t.TempDir()
	prefix := filepath.Join(dir, "release")

	// No password source and no terminal: refused, nothing written.
	t.Setenv(envCosignPassword, "")
	os.Unsetenv(envCosignPassword)
	run(t, "", "keygen", "--output-key-prefix", prefix).wantExit(t, 2, "COSIGN_PASSWORD")
	if _, err := os.Stat(prefix + ".key"); err == nil {
		t.Fatal("a key was written without a password")
	}

	t.Setenv(envCosignPassword, "pw one")
	r := run(t, "", "keygen", "--output-key-prefix", prefix, "-o", "json")
	r.wantExit(t, 0)
	var res keygenResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.PrivateKey != prefix+".key" || res.PublicKey != prefix+".pub" {
		t.Fatalf("keygen -o json: %+v %v\n%s", res, err, r.stdout)
	}
	priv, _ := os.ReadFile(prefix + ".key")
	key, err := cosign.DecryptPrivateKey(priv, []byte("pw one"))
	if err != nil {
		t.Fatal(err)
	}
	pubData, _ := os.ReadFile(prefix + ".pub")
	pub, err := cosign.ParsePublicKey(pubData)
	if err != nil || !pub.ECDSA().Equal(&key.PublicKey) || pub.ID() != res.Key {
		t.Fatalf("public key %v, key %s", err, res.Key)
	}
	if fi, _ := os.Stat(prefix + ".key"); fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v, want 0600", fi.Mode().Perm())
	}

	// An existing pair is kept unless --force.
	run(t, "", "keygen", "--output-key-prefix", prefix).wantExit(t, 2, "exists", "--force")
	if again, _ := os.ReadFile(prefix + ".key"); string(again) != string(priv) {
		t.Fatal("the existing key was replaced")
	}
	pf := filepath.Join(dir, "pass.txt")
	os.WriteFile(pf, []byte("from file\n"), 0o600)
	run(t, "", "keygen", "--output-key-prefix", prefix, "--force", "--passphrase-file", pf).wantExit(t, 0)
	priv, _ = os.ReadFile(prefix + ".key")
	if _, err := cosign.DecryptPrivateKey(priv, []byte("from file")); err != nil {
		t.Fatalf("--passphrase-file wins over COSIGN_PASSWORD: %v", err)
	}
}

func TestSignVerifyOCICLI(t *testing.T) {
	isolateHome(t)
	srv := newCLIServer(t)
	t.Setenv(envUsername, cliUser)
	t.Setenv(envPassword, cliPassword)
	archive := cliArchive(t, t.TempDir(), "myapp", "1.4.2", "a")
	oci := "oci://" + srv.host + "/team"
	run(t, "", "push", archive, oci, "--plain-http").wantExit(t, 0)
	dir := t.TempDir()
	prefix := filepath.Join(dir, "cosign")
	t.Setenv(envCosignPassword, "s3cret")
	run(t, "", "keygen", "--output-key-prefix", prefix).wantExit(t, 0)
	other := filepath.Join(dir, "other")
	run(t, "", "keygen", "--output-key-prefix", other).wantExit(t, 0)
	ref := oci + "/myapp"

	r := run(t, "", "sign", ref, "--version", "1.4.2", "--key", prefix+".key", "--plain-http", "-o", "json")
	r.wantExit(t, 0)
	var signed struct {
		Ref, ManifestDigest, Key string
		Signatures               []struct{ Form, Tag, Digest string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &signed); err != nil || len(signed.Signatures) != 2 || signed.Ref != srv.host+"/team/myapp:1.4.2" || !strings.HasPrefix(signed.Key, "sha256:") {
		t.Fatalf("sign -o json: %+v %v\n%s", signed, err, r.stdout)
	}

	r = run(t, "", "verify", ref+":1.4.2", "--key", prefix+".pub", "--plain-http")
	r.wantExit(t, 0, "Verified: "+srv.host+"/team/myapp:1.4.2", "Signed by: "+signed.Key+" (tag ", "Signed by: "+signed.Key+" (bundle ")
	r = run(t, "", "verify", ref, "--version", "1.4.2", "--key", other+".pub", "--plain-http", "-o", "json")
	r.wantExit(t, 1, "no cosign signature of myapp 1.4.2", "does not verify with the trusted key")
	if !strings.Contains(r.stdout, `"exit": 1`) {
		t.Errorf("-o json failure: %s", r.stdout)
	}

	// The password: wrong, missing, or the public key given to sign.
	t.Setenv(envCosignPassword, "wrong")
	run(t, "", "sign", ref, "--version", "1.4.2", "--key", prefix+".key", "--plain-http").wantExit(t, 2, "wrong password", "$COSIGN_PASSWORD")
	os.Unsetenv(envCosignPassword)
	run(t, "", "sign", ref, "--version", "1.4.2", "--key", prefix+".key", "--plain-http").wantExit(t, 2, "encrypted with a password", "COSIGN_PASSWORD")
	run(t, "", "sign", ref, "--version", "1.4.2", "--key", prefix+".pub", "--plain-http").wantExit(t, 2, "is a public key")
	run(t, "", "verify", ref, "--version", "1.4.2", "--key", prefix+".key", "--plain-http").wantExit(t, 2, "is a private key")
	pf := filepath.Join(dir, "pass.txt")
	os.WriteFile(pf, []byte("s3cret\n"), 0o600)
	run(t, "", "sign", ref, "--version", "1.4.2", "--key", prefix+".key", "--passphrase-file", pf, "--plain-http", "--form", "tag").
		wantExit(t, 0, "already there")
}

func TestSignVerifyFlagMisuse(t *testing.T) {
	isolateHome(t)
	archive := cliArchive(t, t.TempDir(), "myapp", "1.4.2", "a")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"sign oci with a keyring", []string{"sign", "oci://h/team/myapp", "--keyring", "x.gpg", "--key", "cosign.key"}, "--keyring is for .prov"},
		{"sign oci without a key", []string{"sign", "oci://h/team/myapp"}, "needs --key FILE"},
		{"sign oci with an unknown form", []string{"sign", "oci://h/team/myapp", "--key", "k", "--form", "sig"}, "expected both, tag or bundle"},
		{"sign an archive with --version", []string{"sign", archive, "--version", "1.0.0"}, "--version applies to oci:// references"},
		{"sign an archive with --plain-http", []string{"sign", archive, "--plain-http"}, "--plain-http applies to oci:// references"},
		{"verify an archive with --key", []string{"verify", archive, "--key", "cosign.pub"}, "--key is for oci:// references"},
		{"verify oci with --keyring", []string{"verify", "oci://h/team/myapp", "--keyring", "x.gpg"}, "--keyring is for .prov"},
		{"verify oci without a key", []string{"verify", "oci://h/team/myapp"}, "needs --key FILE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, "", tc.args...).wantExit(t, 2, tc.want)
		})
	}
}
