package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestArtifactHubListing: chartroom namespace set, run beside the running server on its data
// directory, makes the namespace listable on Artifact Hub over both protocols at once: curl
// of /<ns>/artifacthub-repo.yml, oras pull and crane manifest of <chart>:artifacthub.io
// return the metadata, as Artifact Hub reads them; the tag cannot be overwritten by the push
// Artifact Hub's docs show while the namespace's setting serves it.
func TestArtifactHubListing(t *testing.T) {
	t.Parallel()
	orasBin, craneBin := need(t, oras), need(t, crane)
	srv := StartServer(t)
	e := newToolEnv(t)
	c := adminClient(srv)
	host := srv.Host()
	const ns, id = "team/charts", "5a4b9f1c-7c3d-4e2f-9a1b-0c2d3e4f5a6b"
	for _, name := range []string{"web", "db"} {
		resp, body, err := c.do("POST", repoAPI(ns, "charts"), repoArchive(t, name, "1.0.0", ""), map[string]string{"Content-Type": "application/gzip"})
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload %s: %v %v %s", name, err, resp, body)
		}
	}
	if resp, _, _ := c.do("GET", "/"+ns+"/artifacthub-repo.yml", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("before namespace set: %d; want 404", resp.StatusCode)
	}

	out := e.tcMust("namespace", "set", ns, "--data-dir", srv.DataDir, "--artifacthub-repo-id", id, "--owner", "Jane Doe <jane@example.com>")
	if !strings.Contains(out, "served at /team/charts/artifacthub-repo.yml") {
		t.Errorf("namespace set printed:\n%s", out)
	}
	resp, file, err := c.do("GET", "/"+ns+"/artifacthub-repo.yml", nil, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /%s/artifacthub-repo.yml: %v %v", ns, err, resp)
	}
	for _, w := range []string{"repositoryID: " + id, "name: Jane Doe", "email: jane@example.com"} {
		if !strings.Contains(string(file), w) {
			t.Errorf("artifacthub-repo.yml lacks %q:\n%s", w, file)
		}
	}

	e.must(orasBin, "login", host, "--username", "admin", "--password", srv.Password, "--plain-http")
	for _, chart := range []string{"web", "db"} {
		ref := host + "/" + ns + "/" + chart + ":artifacthub.io"
		pulled := t.TempDir()
		e.must(orasBin, "pull", ref, "--plain-http", "--output", pulled)
		got, err := os.ReadFile(filepath.Join(pulled, "artifacthub-repo.yml"))
		if err != nil || string(got) != string(file) {
			t.Fatalf("oras pull %s: %q, %v; want the namespace's file", ref, got, err)
		}
		if tags := e.must(orasBin, "repo", "tags", host+"/"+ns+"/"+chart, "--plain-http"); !strings.Contains(tags, "artifacthub.io") || !strings.Contains(tags, "1.0.0") {
			t.Errorf("oras repo tags %s:\n%s", chart, tags)
		}
	}
	e.must(craneBin, "auth", "login", host, "--username", "admin", "--password", srv.Password)
	manifest := e.must(craneBin, "manifest", host+"/"+ns+"/web:artifacthub.io", "--insecure")
	for _, w := range []string{"application/vnd.cncf.artifacthub.config.v1+yaml", "application/vnd.cncf.artifacthub.repository-metadata.layer.v1.yaml", digestOf(file)} {
		if !strings.Contains(manifest, w) {
			t.Errorf("crane manifest lacks %q:\n%s", w, manifest)
		}
	}
	if d := strings.TrimSpace(e.must(craneBin, "digest", host+"/"+ns+"/web:artifacthub.io", "--insecure")); d != digestOf([]byte(manifest)) {
		t.Errorf("crane digest %s; the manifest hashes to %s", d, digestOf([]byte(manifest)))
	}

	// The push Artifact Hub's docs show is refused while the namespace's setting serves the tag.
	work := t.TempDir()
	os.WriteFile(filepath.Join(work, "artifacthub-repo.yml"), []byte("owners:\n- email: other@example.com\n"), 0o600)
	out, err = e.runIn(work, orasBin, "push", host+"/"+ns+"/web:artifacthub.io", "--plain-http",
		"--config", "/dev/null:application/vnd.cncf.artifacthub.config.v1+yaml",
		"artifacthub-repo.yml:application/vnd.cncf.artifacthub.repository-metadata.layer.v1.yaml")
	if err == nil || !strings.Contains(out, "chartroom namespace set") {
		t.Errorf("oras push over the served tag: %v\n%s", err, out)
	}

	// Removed: neither form is served any more.
	e.tcMust("namespace", "set", ns, "--data-dir", srv.DataDir, "--no-artifacthub")
	if resp, _, _ := c.do("GET", "/"+ns+"/artifacthub-repo.yml", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("after --no-artifacthub: %d; want 404", resp.StatusCode)
	}
	if out, err := e.run(craneBin, "manifest", host+"/"+ns+"/web:artifacthub.io", "--insecure"); err == nil {
		t.Errorf("the tag is still served after --no-artifacthub:\n%s", out)
	}
}
