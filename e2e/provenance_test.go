package e2e

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHelmPushStaleProvenance: helm push sends the .prov lying next to the archive. When the
// archive was rebuilt after signing, that .prov vouches for other bytes; chartroom refuses
// the push (400, naming the provenance layer) and publishes nothing, so the version can still
// be pushed right: signed again, it is accepted and helm pull --verify checks it.
func TestHelmPushStaleProvenance(t *testing.T) {
	for _, h := range helmVersions {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			helm := need(t, h)
			key := newSigningKey(t)
			srv := StartServer(t)
			e := newToolEnv(t)
			c := adminClient(srv)
			host, plain := srv.Host(), "--plain-http"
			e.must(helm, "registry", "login", host, "--username", "admin", "--password", srv.Password, plain)

			work := t.TempDir()
			src := repoChartDir(t, filepath.Join(work, "src"), "demo", "0.1.0", "1.0")
			pkg := filepath.Join(work, "pkg")
			e.must(helm, "package", "--sign", "--key", key.name, "--keyring", key.secring, src, "--destination", pkg)
			tgz := filepath.Join(pkg, "demo-0.1.0.tgz")
			stale, err := os.ReadFile(tgz + ".prov")
			if err != nil {
				t.Fatal(err)
			}

			t.Log("the archive is rebuilt without signing: the .prov beside it is stale")
			if err := os.WriteFile(filepath.Join(src, "values.yaml"), []byte("greeting: changed after signing\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			e.must(helm, "package", src, "--destination", pkg)
			if now, _ := os.ReadFile(tgz + ".prov"); !bytes.Equal(now, stale) {
				t.Fatal("helm package without --sign changed the .prov; the test needs it stale")
			}
			out, err := e.run(helm, "push", tgz, "oci://"+host+"/team", plain)
			if err == nil {
				t.Fatalf("helm push with a stale .prov succeeded:\n%s", out)
			}
			for _, want := range []string{"provenance layer", "demo-0.1.0.tgz", "sha256:" + fileSHA256(t, tgz)} {
				if !strings.Contains(out, want) {
					t.Errorf("helm's error lacks %q:\n%s", want, out)
				}
			}
			if status, body, _, _ := c.getManifest("team/demo", "0.1.0"); status != http.StatusNotFound {
				t.Fatalf("after the refused push, GET the manifest of 0.1.0 = %d %s; want 404", status, body)
			}

			t.Log("signed again, the same version is accepted and verifies")
			e.must(helm, "package", "--sign", "--key", key.name, "--keyring", key.secring, src, "--destination", pkg)
			e.must(helm, "push", tgz, "oci://"+host+"/team", plain)
			dest := t.TempDir()
			e.must(helm, "pull", "oci://"+host+"/team/demo", "--version", "0.1.0", plain, "--verify", "--keyring", key.pubring, "--destination", dest)
			sameFile(t, filepath.Join(dest, "demo-0.1.0.tgz"), tgz)
			if got, _ := os.ReadFile(tgz + ".prov"); !bytes.Equal(repoGet(t, c, "/team/charts/demo-0.1.0.tgz.prov", http.StatusOK), got) {
				t.Fatal("the classic repository serves another .prov than the one pushed")
			}
		})
	}
}
