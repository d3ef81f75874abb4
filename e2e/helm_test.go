package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// helmVersions are the helm majors chartroom supports. Both take the same flags for the
// commands used here (checked against helm v3.22.0 cmd/helm and v4.3.1 pkg/cmd): --plain-http
// on registry login, push, pull, show and template.
var helmVersions = []tool{helm3, helm4}

// TestHelm drives the real helm through a chart's life on chartroom: login, push, show,
// pull (byte-identical), template, the refused re-publish of a changed archive under the
// same version, and the accepted re-push of the identical one.
func TestHelm(t *testing.T) {
	for _, h := range helmVersions {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			helm := need(t, h)
			srv := StartServer(t)
			e := newToolEnv(t)
			host := srv.Host()
			repo := "oci://" + host + "/team/charts"
			chart := repo + "/demo"
			plain := "--plain-http"

			t.Log("login: a wrong password is refused, the right one accepted")
			if out, err := e.run(helm, "registry", "login", host, "--username", "admin", "--password", "wrong", plain); err == nil {
				t.Fatalf("login with a wrong password succeeded:\n%s", out)
			}
			e.must(helm, "registry", "login", host, "--username", "admin", "--password", srv.Password, plain)

			work := t.TempDir()
			src := filepath.Join(work, "demo")
			e.must(helm, "create", src)
			e.must(helm, "package", src, "--destination", filepath.Join(work, "v1"))
			tgz := filepath.Join(work, "v1", "demo-0.1.0.tgz")

			out := e.must(helm, "push", tgz, repo, plain)
			digest := printedDigest(t, out)

			show := e.must(helm, "show", "chart", chart, "--version", "0.1.0", plain)
			for _, want := range []string{"name: demo", "version: 0.1.0"} {
				if !strings.Contains(show, want) {
					t.Errorf("helm show chart lacks %q:\n%s", want, show)
				}
			}

			pulled := t.TempDir()
			out = e.must(helm, "pull", chart, "--version", "0.1.0", plain, "--destination", pulled)
			if d := printedDigest(t, out); d != digest {
				t.Errorf("pull reports digest %s; push reported %s", d, digest)
			}
			if got, want := fileSHA256(t, filepath.Join(pulled, "demo-0.1.0.tgz")), fileSHA256(t, tgz); got != want {
				t.Fatalf("pulled archive sha256 %s; pushed %s", got, want)
			}

			rendered := e.must(helm, "template", "rel", chart, "--version", "0.1.0", plain)
			for _, want := range []string{"kind: Deployment", "name: rel-demo"} {
				if !strings.Contains(rendered, want) {
					t.Errorf("helm template output lacks %q", want)
				}
			}

			t.Log("a changed archive under the published version is refused with 409")
			f, err := os.OpenFile(filepath.Join(src, "values.yaml"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("\n# changed after 0.1.0 was published\nextra: true\n")
			f.Close()
			e.must(helm, "package", src, "--destination", filepath.Join(work, "v1-changed"))
			changed := filepath.Join(work, "v1-changed", "demo-0.1.0.tgz")
			if fileSHA256(t, changed) == fileSHA256(t, tgz) {
				t.Fatal("the changed chart packaged to the same bytes")
			}
			out, err = e.run(helm, "push", changed, repo, plain)
			if err == nil {
				t.Fatalf("pushing a changed archive as 0.1.0 succeeded:\n%s", out)
			}
			for _, want := range []string{"409", digest, "publish a new version"} {
				if !strings.Contains(out, want) {
					t.Errorf("helm's error for the refused push lacks %q:\n%s", want, out)
				}
			}

			t.Log("re-pushing the identical archive succeeds")
			out = e.must(helm, "push", tgz, repo, plain)
			if d := printedDigest(t, out); d != digest {
				t.Errorf("identical re-push reports digest %s; want %s", d, digest)
			}
			pulled = t.TempDir()
			e.must(helm, "pull", chart, "--version", "0.1.0", plain, "--destination", pulled)
			if got, want := fileSHA256(t, filepath.Join(pulled, "demo-0.1.0.tgz")), fileSHA256(t, tgz); got != want {
				t.Fatalf("after the refused push, the pulled archive changed: sha256 %s; want %s", got, want)
			}
		})
	}
}
