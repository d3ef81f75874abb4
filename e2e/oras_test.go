package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestOras pushes and pulls an arbitrary artifact with an artifact type, attaches a referrer
// to it and discovers the referrer, with the real oras.
func TestOras(t *testing.T) {
	t.Parallel()
	bin := need(t, oras)
	srv := StartServer(t)
	e := newToolEnv(t)
	host := srv.Host()
	ref := host + "/team/artifacts/demo:v1"
	const (
		artifactType = "application/vnd.chartroom.e2e.demo"
		sigType      = "application/vnd.chartroom.e2e.signature"
	)

	e.must(bin, "login", host, "--username", "admin", "--password", srv.Password, "--plain-http")

	work := t.TempDir()
	payload := randomBytes(3<<20 + 17)
	if err := os.WriteFile(filepath.Join(work, "payload.bin"), payload, 0o600); err != nil {
		t.Fatal(err)
	}
	var pushed struct {
		Digest       string `json:"digest"`
		ArtifactType string `json:"artifactType"`
	}
	e.mustJSON(work, &pushed, bin, "push", ref, "--plain-http", "--artifact-type", artifactType,
		"--format", "json", "payload.bin:application/octet-stream")
	if pushed.Digest == "" || pushed.ArtifactType != artifactType {
		t.Fatalf("oras push reported %+v", pushed)
	}

	pulled := t.TempDir()
	e.must(bin, "pull", ref, "--plain-http", "--output", pulled)
	got, err := os.ReadFile(filepath.Join(pulled, "payload.bin"))
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("pulled payload: %d bytes, %v; want the pushed %d bytes", len(got), err, len(payload))
	}

	var manifest struct {
		ArtifactType string `json:"artifactType"`
		Layers       []struct {
			Digest string `json:"digest"`
		} `json:"layers"`
	}
	e.mustJSON("", &manifest, bin, "manifest", "fetch", ref, "--plain-http")
	if manifest.ArtifactType != artifactType || len(manifest.Layers) != 1 || manifest.Layers[0].Digest != digestOf(payload) {
		t.Errorf("manifest: artifactType %q, layers %v; want %q and the payload's digest", manifest.ArtifactType, manifest.Layers, artifactType)
	}

	if err := os.WriteFile(filepath.Join(work, "sig.txt"), []byte("signed by e2e\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var attached struct {
		Digest string `json:"digest"`
	}
	e.mustJSON(work, &attached, bin, "attach", ref, "--plain-http", "--artifact-type", sigType,
		"--format", "json", "sig.txt:text/plain")
	if attached.Digest == "" {
		t.Fatal("oras attach reported no digest")
	}

	type node struct {
		Digest       string `json:"digest"`
		ArtifactType string `json:"artifactType"`
		Referrers    []node `json:"referrers"`
	}
	for _, filter := range [][]string{nil, {"--artifact-type", sigType}} {
		args := append([]string{"discover", ref, "--plain-http", "--format", "json"}, filter...)
		var root node
		e.mustJSON("", &root, bin, args...)
		if root.Digest != pushed.Digest || len(root.Referrers) != 1 ||
			root.Referrers[0].Digest != attached.Digest || root.Referrers[0].ArtifactType != sigType {
			t.Errorf("oras discover %v: subject %s, referrers %+v; want exactly %s of type %s",
				filter, root.Digest, root.Referrers, attached.Digest, sigType)
		}
	}
	// A filter for another type finds nothing.
	var none node
	e.mustJSON("", &none, bin, "discover", ref, "--plain-http", "--format", "json", "--artifact-type", "application/vnd.other")
	if len(none.Referrers) != 0 {
		t.Errorf("discover filtered by another type: %+v; want no referrers", none.Referrers)
	}
}
