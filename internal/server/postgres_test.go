package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/meta/pgtest"
)

// Two servers on one PostgreSQL database, each with its own data directory (its blob store
// shared with the other's): what one publishes, the other lists in its index at once, under
// the same ETag, even when it cached the index before; a version published on one is
// immutable on the other.
func TestReplicasOnPostgres(t *testing.T) {
	database := pgtest.NewDatabase(t)
	shared := t.TempDir()
	var urls [2]string
	for i := range urls {
		cfg := DefaultConfig()
		cfg.DataDir = t.TempDir()
		cfg.Database = database
		cfg.AdminPassword = "test-password" // bombClient's
		if err := os.Symlink(shared, filepath.Join(cfg.DataDir, BlobsDir)); err != nil {
			t.Fatal(err)
		}
		s, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(func() { srv.Close(); s.Close() })
		urls[i] = srv.URL
	}
	a, b := bombClient{t: t, url: urls[0]}, bombClient{t: t, url: urls[1]}
	index := func(c bombClient) (string, string) {
		t.Helper()
		code, body, hdr := c.do(http.MethodGet, "/team/index.yaml", "", nil)
		if code != http.StatusOK {
			t.Fatalf("index on %s: %d %s", c.url, code, body)
		}
		return body, hdr.Get("ETag")
	}
	before, _ := index(b) // cached by b at the namespace's current generation

	archive := chartArchive(t, "myapp", "1.0.0", "a: 1\n")
	if code, body, _ := a.do(http.MethodPost, "/api/team/charts", "application/gzip", archive); code != http.StatusCreated {
		t.Fatalf("upload on a: %d %s", code, body)
	}
	bodyA, etagA := index(a)
	bodyB, etagB := index(b)
	if !strings.Contains(bodyB, "version: 1.0.0") || bodyB == before {
		t.Fatalf("b's index after a's upload lacks it:\n%s", bodyB)
	}
	if bodyA != bodyB || etagA != etagB || etagA == "" {
		t.Fatalf("indexes differ: a %s, b %s\n%s\n---\n%s", etagA, etagB, bodyA, bodyB)
	}
	if code, got, _ := b.do(http.MethodGet, "/team/charts/myapp-1.0.0.tgz", "", nil); code != http.StatusOK || got != string(archive) {
		t.Fatalf("download on b: %d (%d bytes, want %d)", code, len(got), len(archive))
	}
	other := chartArchive(t, "myapp", "1.0.0", "a: 2\n")
	if code, body, _ := b.do(http.MethodPost, "/api/team/charts", "application/gzip", other); code != http.StatusConflict {
		t.Fatalf("other bytes for 1.0.0 on b: %d %s; want 409", code, body)
	}
}

// A data directory that holds a SQLite database is not served on PostgreSQL: its charts would
// silently be left behind.
func TestPostgresRefusesADataDirWithSQLite(t *testing.T) {
	s, _ := newTestServer(t)
	s.Close()
	cfg := s.cfg
	cfg.Database = pgtest.NewDatabase(t)
	_, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if !errors.Is(err, ErrDatabaseElsewhere) || !strings.Contains(err.Error(), "--data-dir") {
		t.Fatalf("New on PostgreSQL over a SQLite data directory: %v; want ErrDatabaseElsewhere saying what to do", err)
	}
}
