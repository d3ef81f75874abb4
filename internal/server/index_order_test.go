package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// An index brought up to date incrementally (the versions changed since the last one merged
// into it) has the bytes of one built from scratch, and so deserves its strong ETag: the
// server restarted on the same data directory, without its cached copy of the index, builds
// it afresh and must serve the same bytes under the same ETag. Versions that differ only in
// build metadata have the same SemVer precedence; they are ordered by their build metadata,
// not by the order they were published or restored in.
func TestIndexSameBytesIncrementalAndFull(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.AdminPassword = "test-password" // bombClient's
	var srv *httptest.Server
	start := func() func() {
		t.Helper()
		s, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		srv = httptest.NewServer(s.Handler())
		return func() { srv.Close(); s.Close() }
	}
	do := func(method, path string, body []byte) (int, string, http.Header) {
		t.Helper()
		return bombClient{t: t, url: srv.URL}.do(method, path, "", body) // as admin
	}
	archives := map[string][]byte{}
	upload := func(version string) {
		t.Helper()
		if archives[version] == nil {
			archives[version] = chartArchive(t, "myapp", version, "build: "+version+"\n")
		}
		if code, body, _ := do(http.MethodPost, "/api/team/charts", archives[version]); code != http.StatusCreated {
			t.Fatalf("upload %s: %d %s", version, code, body)
		}
	}
	remove := func(version string) {
		t.Helper()
		if code, body, _ := do(http.MethodDelete, "/api/team/charts/myapp/"+version, nil); code != http.StatusOK {
			t.Fatalf("delete %s: %d %s", version, code, body)
		}
	}
	type index struct {
		body string
		etag string
	}
	paths := []string{"/team/index.yaml", "/team/index.yaml?format=json"}
	indexes := func() []index {
		t.Helper()
		var out []index
		for _, p := range paths {
			code, body, h := do(http.MethodGet, p, nil)
			if code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", p, code, body)
			}
			out = append(out, index{body, h.Get("ETag")})
		}
		return out
	}
	// restart stops the server, drops its cached copies of the index, starts it again on
	// the same data directory and checks that the index it builds from scratch is want.
	restart := func(stop func(), want []index) func() {
		t.Helper()
		stop()
		if err := os.RemoveAll(filepath.Join(cfg.DataDir, IndexCacheDir)); err != nil {
			t.Fatal(err)
		}
		stop = start()
		for i, got := range indexes() {
			if got.body != want[i].body || got.etag != want[i].etag {
				t.Errorf("%s: built from scratch after a restart (ETag %s):\n%s\nbrought up to date incrementally before it (ETag %s):\n%s",
					paths[i], got.etag, got.body, want[i].etag, want[i].body)
			}
		}
		return stop
	}

	stop := start()
	upload("1.0.0+b")
	indexes() // each request after a change brings the cached index up to date
	upload("1.0.0+a")
	indexes()
	upload("1.0.0")
	upload("1.0.0+b.1")
	indexes()
	remove("1.0.0+a")
	indexes()
	upload("1.0.0+a") // the same archive again: the version is restored
	stop = restart(stop, indexes())

	upload("1.0.0+c")
	indexes()
	remove("1.0.0+b")
	indexes()
	upload("1.0.0+b")
	stop = restart(stop, indexes())
	stop()
}
