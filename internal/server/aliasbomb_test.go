package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/chart/charttest"
)

// The audit's 1.2 KB chart: values.yaml holds one 1 MiB anchored string and 3,000 aliases to
// it. Expanded by sigs.k8s.io/yaml it asks for gigabytes, and serve died with "fatal error:
// out of memory". Uploaded over the repository API and pushed as an OCI manifest, it is
// refused with 400 naming the aliases, and the server goes on serving.

func bombValues() string {
	var b strings.Builder
	fmt.Fprintf(&b, "a: &a %q\nb:\n", strings.Repeat("x", 1<<20))
	for i := 0; i < 3000; i++ {
		b.WriteString("- *a\n")
	}
	return b.String()
}

func chartArchive(t *testing.T, name, version, values string) []byte {
	t.Helper()
	return charttest.Files(t, name, map[string]string{"Chart.yaml": "apiVersion: v2\nname: " + name + "\nversion: " + version + "\n", "values.yaml": values})
}

type bombClient struct {
	t   *testing.T
	url string
}

func (c bombClient) do(method, path, contentType string, body []byte) (int, string, http.Header) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.SetBasicAuth("admin", "test-password")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v (did the server die?)", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// pushBlob uploads data to repo in one POST + PUT.
func (c bombClient) pushBlob(repo string, data []byte) ocispec.Descriptor {
	c.t.Helper()
	status, body, h := c.do("POST", "/v2/"+repo+"/blobs/uploads/", "", nil)
	if status != http.StatusAccepted {
		c.t.Fatalf("start upload: %d %s", status, body)
	}
	loc := h.Get("Location")
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	d := digest.FromBytes(data)
	loc = strings.TrimPrefix(loc, c.url)
	if status, body, _ = c.do("PUT", loc+sep+"digest="+d.String(), "application/octet-stream", data); status != http.StatusCreated {
		c.t.Fatalf("finish upload: %d %s", status, body)
	}
	return ocispec.Descriptor{Digest: d, Size: int64(len(data))}
}

func TestAliasBombIsRefusedAndTheServerStaysUp(t *testing.T) {
	s, _ := newTestServer(t)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	c := bombClient{t: t, url: srv.URL}
	bomb := chartArchive(t, "bomb", "1.0.0", bombValues())
	if len(bomb) > 8<<10 {
		t.Fatalf("the bomb archive has %d bytes; the attack needs only a few KB", len(bomb))
	}

	t.Run("upload API", func(t *testing.T) {
		status, body, _ := c.do("POST", "/api/team/charts", "application/gzip", bomb)
		var e struct{ Error string }
		if status != http.StatusBadRequest || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error, "values.yaml") || !strings.Contains(e.Error, "aliases") {
			t.Fatalf("upload of the alias bomb = %d %s, want 400 naming values.yaml and the aliases", status, body)
		}
	})

	t.Run("OCI manifest PUT", func(t *testing.T) {
		const repo = "team/bomb"
		config := []byte(`{"apiVersion":"v2","name":"bomb","version":"1.0.0"}`)
		layer := c.pushBlob(repo, bomb)
		layer.MediaType = chart.ChartLayerMediaType
		cfg := c.pushBlob(repo, config)
		cfg.MediaType = chart.ConfigMediaType
		manifest, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{layer}})
		status, body, _ := c.do("PUT", "/v2/"+repo+"/manifests/1.0.0", ocispec.MediaTypeImageManifest, manifest)
		var e struct {
			Errors []struct{ Code, Message string }
		}
		if status != http.StatusBadRequest || json.Unmarshal([]byte(body), &e) != nil || len(e.Errors) != 1 ||
			e.Errors[0].Code != "MANIFEST_INVALID" || !strings.Contains(e.Errors[0].Message, "aliases") {
			t.Fatalf("manifest PUT of the alias bomb = %d %s, want 400 MANIFEST_INVALID naming the aliases", status, body)
		}
	})

	// Still serving, and still publishing.
	if status, body, _ := c.do("GET", "/healthz", "", nil); status != http.StatusOK {
		t.Fatalf("healthz after the bombs: %d %s", status, body)
	}
	if status, body, _ := c.do("POST", "/api/team/charts", "application/gzip", chartArchive(t, "fine", "1.0.0", "a: 1\n")); status != http.StatusCreated {
		t.Fatalf("an ordinary upload after the bombs: %d %s", status, body)
	}
	if status, body, _ := c.do("GET", "/team/index.yaml", "", nil); status != http.StatusOK || !strings.Contains(body, "fine") || strings.Contains(body, "bomb") {
		t.Fatalf("index after the bombs: %d %s", status, body)
	}
}
