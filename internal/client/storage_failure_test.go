package client

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chartroom/chartroom/internal/server"
)

// A registry whose storage fails while a push uploads a blob: the client reports the
// server's 500 and what it said, and never sends a second request to the upload URL the
// failed request consumed (which answers 404 and read as "no OCI API under /v2/").
func TestPushStorageFailureReportsTheServerError(t *testing.T) {
	cfg := server.DefaultConfig()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.AdminPassword = testPassword
	s, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	// The real server, whose directory of finished blobs (the filesystem store's layout:
	// DATA/blobs/blobs/sha256/…) turns into a regular file the moment the first upload is
	// completed: committing an upload fails from then on, as on a full or read-only disk,
	// the server answers 500, and the failed request has consumed its upload.
	blobs := filepath.Join(cfg.DataDir, server.BlobsDir, "blobs")
	var (
		mu         sync.Mutex
		puts       = map[string]int{} // upload URL path → PUT requests
		once       sync.Once
		breakStore = func() {
			if err := os.Rename(blobs, blobs+".moved"); err != nil {
				t.Error(err)
			}
			if err := os.WriteFile(blobs, []byte("not a directory\n"), 0o644); err != nil {
				t.Error(err)
			}
		}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") {
			once.Do(breakStore)
			mu.Lock()
			puts[r.URL.Path]++
			mu.Unlock()
		}
		s.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)

	c := newTestEnv(t).admin(t)
	archive := testArchive(t, t.TempDir(), "myapp", "1.0.0", "a")
	_, err = c.Push(context.Background(), archive, "oci://"+u.Host+"/team")
	oneLineError(t, err, nil, u.Host+" answered 500 Internal Server Error",
		"(the server said: internal server error: the registry could not complete the request; its log has the details)",
		"the registry failed; try again later or ask its administrator")
	if strings.Contains(err.Error(), "no OCI API") || strings.Contains(err.Error(), "404") {
		t.Errorf("a storage failure reads as a wrong address: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(puts) == 0 {
		t.Fatal("no upload reached the server")
	}
	for path, n := range puts {
		if n != 1 {
			t.Errorf("the client sent %d PUT requests to the upload URL %s; an upload URL is consumed by the first", n, path)
		}
	}
}
