package cli

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/chartroom/chartroom/internal/provenance"
)

// signArchive writes archive.prov signed by a new key and returns a keyring file with the
// key's public part.
func signArchive(t *testing.T, archive, name string) string {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(archive)
	prov, err := provenance.Sign(f, filepath.Base(archive), e)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(archive+".prov", prov, 0o644)
	var pub bytes.Buffer
	e.Serialize(&pub)
	keyring := filepath.Join(t.TempDir(), name+".gpg")
	os.WriteFile(keyring, pub.Bytes(), 0o644)
	return keyring
}

func TestPushPullCLI(t *testing.T) {
	isolateHome(t)
	srv := newCLIServer(t)
	t.Setenv(envUsername, cliUser)
	t.Setenv(envPassword, cliPassword)
	archive := cliArchive(t, t.TempDir(), "myapp", "1.2.0", "a")
	keyring := signArchive(t, archive, "publisher")
	other := signArchive(t, cliArchive(t, t.TempDir(), "x", "1.0.0", "a"), "stranger")
	oci := "oci://" + srv.host + "/team"

	r := run(t, "", "push", archive, oci, "--plain-http", "-o", "json")
	r.wantExit(t, 0)
	var pushed struct {
		Name, Version, Ref, Digest, ManifestDigest string
		Prov                                       bool
	}
	if err := json.Unmarshal([]byte(r.stdout), &pushed); err != nil || pushed.Ref != srv.host+"/team/myapp:1.2.0" || !pushed.Prov || pushed.ManifestDigest == "" {
		t.Errorf("push -o json: %+v %v\n%s", pushed, err, r.stdout)
	}

	want, _ := os.ReadFile(archive)
	for name, args := range map[string][]string{
		"oci":       {"pull", oci + "/myapp", "--version", "^1", "--plain-http"},
		"oci tag":   {"pull", oci + "/myapp:1.2.0", "--plain-http"},
		"repo name": {"pull", srv.url + "/team", "myapp", "--version", "1.2.0"},
		"--repo":    {"pull", "myapp", "--repo", srv.url + "/team"},
	} {
		t.Run(name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "out")
			r := run(t, "", append(args, "-d", dest, "--verify", "--keyring", keyring, "-o", "json")...)
			r.wantExit(t, 0)
			var pulled struct {
				Path, ProvPath, SignedBy string
				Verified                 bool
			}
			if err := json.Unmarshal([]byte(r.stdout), &pulled); err != nil || !pulled.Verified || pulled.SignedBy == "" {
				t.Fatalf("pull -o json: %+v %v\n%s", pulled, err, r.stdout)
			}
			if got, _ := os.ReadFile(filepath.Join(dest, "myapp-1.2.0.tgz")); !bytes.Equal(got, want) {
				t.Error("pulled archive differs")
			}
		})
	}

	t.Run("verification failure exits 1 and writes nothing", func(t *testing.T) {
		dest := t.TempDir()
		run(t, "", "pull", oci+"/myapp", "--plain-http", "-d", dest, "--verify", "--keyring", other).
			wantExit(t, 1, "unknown key")
		if entries, _ := os.ReadDir(dest); len(entries) != 0 {
			t.Errorf("left %d files", len(entries))
		}
	})
	t.Run("text output", func(t *testing.T) {
		dest := t.TempDir()
		run(t, "", "pull", oci+"/myapp", "--plain-http", "-d", dest).
			wantExit(t, 0, "Pulled: oci://"+srv.host+"/team/myapp:1.2.0", "Saved: "+filepath.Join(dest, "myapp-1.2.0.tgz"))
	})
	t.Run("conflict", func(t *testing.T) {
		changed := cliArchive(t, t.TempDir(), "myapp", "1.2.0", "changed")
		run(t, "", "push", changed, oci, "--plain-http").wantExit(t, 2, "already published", "bump")
		run(t, "", "push", changed, srv.url+"/team").wantExit(t, 2, "already published", "bump")
	})
	t.Run("wrong password", func(t *testing.T) {
		run(t, "nope", "push", archive, oci, "--plain-http", "-u", cliUser, "--password-stdin").
			wantExit(t, 2, "rejected the given --username/--password (401 Unauthorized)")
	})
	t.Run("unreachable", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		run(t, "", "push", archive, "oci://"+addr+"/team", "--plain-http").wantExit(t, 2, "cannot reach "+addr)
		run(t, "", "pull", "http://"+addr+"/team", "myapp").wantExit(t, 2, "cannot reach "+addr)
	})
	t.Run("usage", func(t *testing.T) {
		run(t, "", "pull", "myapp").wantExit(t, 2, "does not say where the chart is")
		run(t, "", "pull", oci+"/myapp", "-o", "yaml").wantExit(t, 2, "--output")
		run(t, "", "pull", oci+"/myapp", "--verify", "--keyring", filepath.Join(t.TempDir(), "none.gpg")).wantExit(t, 2, "--keyring")
		run(t, "", "push", archive).wantExit(t, 2)
	})
}
