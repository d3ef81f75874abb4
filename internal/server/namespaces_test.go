package server

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// chartArchive is a minimal chart archive.
// Which chart namespaces the classic repository can serve depends on how the server routes
// paths: a namespace under v2/ is refused at upload (its /v2/… paths are the OCI API's);
// namespaces named after the other routes (healthz, readyz, metrics, api) are served.
func TestChartNamespacesTheRoutesCanServe(t *testing.T) {
	s, _ := newTestServer(t)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	do := func(method, path string, body []byte) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("admin", "test-password")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	archive := chartArchive(t, "myapp", "1.0.0", "")
	for _, ns := range []string{"healthz", "readyz", "metrics", "api", "api/charts"} {
		if status, body := do("POST", "/api/"+ns+"/charts", archive); status != http.StatusCreated {
			t.Fatalf("upload to %s: %d %s", ns, status, body)
		}
		if status, body := do("GET", "/"+ns+"/index.yaml", nil); status != http.StatusOK || !strings.Contains(body, "myapp") {
			t.Errorf("/%s/index.yaml: %d %s", ns, status, body)
		}
		if status, body := do("GET", "/"+ns+"/charts/myapp-1.0.0.tgz", nil); status != http.StatusOK || body != string(archive) {
			t.Errorf("/%s/charts/myapp-1.0.0.tgz: %d", ns, status)
		}
	}
	for _, ns := range []string{"v2", "v2/team"} {
		status, body := do("POST", "/api/"+ns+"/charts", archive)
		if status != http.StatusBadRequest || !strings.Contains(body, "reserved") {
			t.Errorf("upload to %s: %d %s", ns, status, body)
		}
	}
}
