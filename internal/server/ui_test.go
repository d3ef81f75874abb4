package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/chart/charttest"
)

// The web UI is served under /ui/ by default and 404 with --ui=false; a browser opening / is
// sent to it while clients keep the classic repository's answer; a namespace named ui keeps
// its classic repository (index.yaml, archives).
func TestWebUIRoutes(t *testing.T) {
	s, _ := newTestServer(t)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(path, accept string, basic bool) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if basic {
			req.SetBasicAuth("admin", "test-password")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	// A chart in namespace ui, published over the upload API.
	archive := charttest.Archive(t, "uiapp", "1.0.0", "a")
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/ui/charts", bytes.NewReader(archive))
	req.SetBasicAuth("admin", "test-password")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("publish to namespace ui: %d", resp.StatusCode)
	}

	if resp, body := do("/ui/", "text/html", false); resp.StatusCode != 200 || !strings.Contains(body, "<title>Namespaces · chartroom</title>") ||
		resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("/ui/: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	if resp, _ := do("/ui", "", false); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("/ui: %d %q, want a redirect to /ui/", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := do("/ui/index.yaml", "", true); resp.StatusCode != 200 || !strings.Contains(body, "uiapp") {
		t.Errorf("/ui/index.yaml (namespace ui's index): %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := do("/ui/charts/uiapp-1.0.0.tgz", "", true); resp.StatusCode != 200 || resp.Header.Get("Content-Type") == "text/html; charset=utf-8" {
		t.Errorf("/ui/charts/uiapp-1.0.0.tgz (namespace ui's archive): %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, p := range []string{"/ui/static/index.yaml", "/ui/static/charts/x-1.0.0.tgz", "/ui/chart/charts/x-1.0.0.tgz.prov", "/ui/artifacthub-repo.yml"} {
		if resp, _ := do(p, "", true); resp.Header.Get("X-Frame-Options") == "DENY" {
			t.Errorf("%s: answered by the UI, not by the classic repository of a namespace under ui", p)
		}
	}
	if resp, _ := do("/", "text/html,application/xhtml+xml", false); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("/ from a browser: %d %q, want a redirect to /ui/", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := do("/", "", false); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `"error"`) {
		t.Errorf("/ from a client: %d %s, want the classic repository's 404", resp.StatusCode, body)
	}

	off, _ := newTestServer(t, func(c *Config) { c.DisableUI = true })
	srvOff := httptest.NewServer(off.Handler())
	defer srvOff.Close()
	for _, p := range []string{"/ui/", "/ui/login", "/ui/static/style.css"} {
		resp, err := http.Get(srvOff.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("--ui=false: %s %d, want 404", p, resp.StatusCode)
		}
	}
	req, _ = http.NewRequestWithContext(context.Background(), http.MethodGet, srvOff.URL+"/", nil)
	req.Header.Set("Accept", "text/html")
	if resp, err := client.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusNotFound {
		t.Errorf("--ui=false: / from a browser %d, want 404", resp.StatusCode)
	}
}
