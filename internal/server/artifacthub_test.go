package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/meta"
)

// A namespace's Artifact Hub metadata, set in the database while the server runs, is served
// both ways Artifact Hub reads it, at the next request: /<ns>/artifacthub-repo.yml, and the
// artifacthub.io tag of each chart repository of the namespace (tags/list, manifest by tag
// and digest, GET and HEAD, its blobs, ranges), which OCI clients cannot push over or delete.
func TestArtifactHubMetadataServedBothWays(t *testing.T) {
	s, logs := newTestServer(t)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	do := func(method, path string, body []byte, header map[string]string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("admin", "test-password")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	if resp, body := do("POST", "/api/team/charts", testChart(t, "listed", "1.0.0"), nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload = %d %s", resp.StatusCode, body)
	}
	set := func(file string) {
		t.Helper()
		if err := s.db.SetNamespaceSettings(context.Background(), meta.NamespaceSettings{Namespace: "team", ArtifactHubRepo: []byte(file)}); err != nil {
			t.Fatal(err)
		}
	}

	resp, body := do("GET", "/team/artifacthub-repo.yml", nil, nil)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "chartroom namespace set team") {
		t.Fatalf("without metadata: %d %s; want 404 saying how to set it", resp.StatusCode, body)
	}
	if l := logs.requestLogs(t, "/team/artifacthub-repo.yml"); len(l) != 1 || l[0]["reason"] != "metadata_unknown" {
		t.Fatalf("log of the 404: %v", l)
	}
	if resp, _ := do("GET", "/v2/team/listed/manifests/artifacthub.io", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("tag without metadata = %d; want 404", resp.StatusCode)
	}

	const file = "repositoryID: 5a4b9f1c-7c3d-4e2f-9a1b-0c2d3e4f5a6b\nowners:\n- name: Jane\n  email: jane@example.com\n"
	set(file)
	t.Run("the file", func(t *testing.T) {
		resp, body := do("GET", "/team/artifacthub-repo.yml", nil, nil)
		if resp.StatusCode != http.StatusOK || body != file || resp.Header.Get("Content-Type") != "application/yaml" {
			t.Fatalf("GET = %d %q %s", resp.StatusCode, body, resp.Header.Get("Content-Type"))
		}
		resp, _ = do("GET", "/team/artifacthub-repo.yml", nil, map[string]string{"If-None-Match": resp.Header.Get("ETag")})
		if resp.StatusCode != http.StatusNotModified {
			t.Fatalf("GET with its ETag = %d; want 304", resp.StatusCode)
		}
		if resp, body := do("HEAD", "/team/artifacthub-repo.yml", nil, nil); resp.StatusCode != http.StatusOK || body != "" {
			t.Fatalf("HEAD = %d %q", resp.StatusCode, body)
		}
		if resp, _ := do("GET", "/other/artifacthub-repo.yml", nil, nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("another namespace's = %d; want 404", resp.StatusCode)
		}
	})

	t.Run("the OCI tag", func(t *testing.T) {
		resp, body := do("GET", "/v2/team/listed/tags/list", nil, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"artifacthub.io"`) {
			t.Fatalf("tags/list = %d %s", resp.StatusCode, body)
		}
		accept := map[string]string{"Accept": "application/vnd.oci.image.manifest.v1+json"}
		resp, manifest := do("GET", "/v2/team/listed/manifests/artifacthub.io", nil, accept)
		sum := sha256.Sum256([]byte(manifest))
		d := "sha256:" + hex.EncodeToString(sum[:])
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != d ||
			resp.Header.Get("Content-Type") != "application/vnd.oci.image.manifest.v1+json" {
			t.Fatalf("manifest = %d %v %s", resp.StatusCode, resp.Header, manifest)
		}
		for _, ref := range []string{"artifacthub.io", d} {
			resp, body := do("HEAD", "/v2/team/listed/manifests/"+ref, nil, accept)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != d || body != "" ||
				resp.ContentLength != int64(len(manifest)) {
				t.Fatalf("HEAD %s = %d %v", ref, resp.StatusCode, resp.Header)
			}
		}
		if resp, body := do("GET", "/v2/team/listed/manifests/"+d, nil, accept); resp.StatusCode != http.StatusOK || body != manifest {
			t.Fatalf("by digest = %d %s", resp.StatusCode, body)
		}
		var doc struct {
			Config struct {
				MediaType, Digest string
				Size              int64
			}
			Layers []struct {
				MediaType, Digest string
				Size              int64
			}
		}
		if err := json.Unmarshal([]byte(manifest), &doc); err != nil || len(doc.Layers) != 1 {
			t.Fatalf("manifest %s: %v", manifest, err)
		}
		if resp, body := do("GET", "/v2/team/listed/blobs/"+doc.Layers[0].Digest, nil, nil); resp.StatusCode != http.StatusOK || body != file {
			t.Fatalf("layer = %d %q", resp.StatusCode, body)
		}
		if resp, body := do("GET", "/v2/team/listed/blobs/"+doc.Layers[0].Digest, nil, map[string]string{"Range": "bytes=0-11"}); resp.StatusCode != http.StatusPartialContent || body != file[:12] {
			t.Fatalf("layer range = %d %q", resp.StatusCode, body)
		}
		if resp, _ := do("HEAD", "/v2/team/listed/blobs/"+doc.Config.Digest, nil, nil); resp.StatusCode != http.StatusOK || resp.ContentLength != 0 {
			t.Fatalf("config HEAD = %d, %d bytes", resp.StatusCode, resp.ContentLength)
		}
		if resp, body := do("PUT", "/v2/team/listed/manifests/artifacthub.io", []byte(manifest), map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "chartroom namespace set") {
			t.Fatalf("PUT over it = %d %s; want 409", resp.StatusCode, body)
		}
		if resp, body := do("DELETE", "/v2/team/listed/manifests/artifacthub.io", nil, nil); resp.StatusCode != http.StatusConflict {
			t.Fatalf("DELETE = %d %s; want 409", resp.StatusCode, body)
		}
	})

	t.Run("a change applies at the next request", func(t *testing.T) {
		const changed = "owners:\n- email: new@example.com\n"
		set(changed)
		if _, body := do("GET", "/team/artifacthub-repo.yml", nil, nil); body != changed {
			t.Fatalf("file after the change = %q", body)
		}
		_, manifest := do("GET", "/v2/team/listed/manifests/artifacthub.io", nil, nil)
		sum := sha256.Sum256([]byte(changed))
		if !strings.Contains(manifest, hex.EncodeToString(sum[:])) {
			t.Fatalf("the manifest does not name the new file: %s", manifest)
		}
	})
}
