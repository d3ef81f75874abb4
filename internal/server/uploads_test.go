package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUploadSessionsAtStart: serve removes, when it starts, the upload sessions idle for
// longer than --upload-expiry and keeps the others, which stay usable; --max-uploads-per-user
// 0 is no limit.
func TestUploadSessionsAtStart(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.AdminPassword = "test-password"
	cfg.UploadExpiry = time.Hour
	cfg.MaxUploadsPerUser = 0
	open := func() (*Server, *httptest.Server) {
		t.Helper()
		s, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler())
		return s, srv
	}
	do := func(srv *httptest.Server, method, path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.SetBasicAuth("admin", cfg.AdminPassword)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	s, srv := open()
	var sessions []string
	for range DefaultMaxUploadsPerUser + 1 { // 0 lifts the default limit
		resp := do(srv, "POST", "/v2/team/app/blobs/uploads/")
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST upload %d: %d", len(sessions)+1, resp.StatusCode)
		}
		sessions = append(sessions, resp.Header.Get("Location"))
	}
	srv.Close()
	s.Close()

	// All but the last have been idle for two hours when the server starts again.
	stale := time.Now().Add(-2 * time.Hour)
	for _, loc := range sessions[:len(sessions)-1] {
		id := loc[strings.LastIndex(loc, "/")+1:]
		state := filepath.Join(cfg.DataDir, BlobsDir, "uploads", id, "state")
		if err := os.Chtimes(state, stale, stale); err != nil {
			t.Fatal(err)
		}
	}
	s, srv = open()
	defer s.Close()
	defer srv.Close()
	for i, loc := range sessions {
		want := http.StatusNotFound
		if i == len(sessions)-1 {
			want = http.StatusNoContent
		}
		if got := do(srv, "GET", loc).StatusCode; got != want {
			t.Fatalf("session %d after the restart: %d, want %d", i, got, want)
		}
	}
	if n, _ := os.ReadDir(filepath.Join(cfg.DataDir, BlobsDir, "uploads")); len(n) != 1 {
		t.Fatalf("%d session directories after the restart, want 1", len(n))
	}
}
