package server

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/meta"
)

// populatedDataDir serves a fresh data directory, pushes a blob into it, stops, and returns
// the directory.
func populatedDataDir(t *testing.T) Config {
	t.Helper()
	s, _ := newTestServer(t)
	srv := httptest.NewServer(s.Handler())
	body := []byte("a layer")
	req, _ := http.NewRequest("POST", srv.URL+"/v2/team/app/blobs/uploads/?digest="+digest.FromBytes(body).String(), bytes.NewReader(body))
	req.SetBasicAuth("admin", "test-password")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("push a blob: %d", resp.StatusCode)
	}
	srv.Close()
	s.Close()
	return s.cfg
}

// TestStartRefusesLostDatabase starts on a data directory whose blobs are there but whose
// database is not: it must refuse, say what to do, and write nothing (no new database, no
// admin user with a password in the log).
func TestStartRefusesLostDatabase(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
		want   []string
	}{
		{
			name:   "zero-length",
			damage: func(t *testing.T, p string) { writeFile(t, p, nil) },
			want:   []string{"is empty", "probably lost or misplaced", "Backup and restore", "chartroom fsck", "move"},
		},
		{
			name: "missing",
			damage: func(t *testing.T, p string) {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"is missing", "probably lost or misplaced", "Backup and restore"},
		},
		{
			name: "a SQLite database without chartroom's tables",
			damage: func(t *testing.T, p string) {
				os.Remove(p)
				db, err := sql.Open("sqlite", p)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec(`CREATE TABLE notes (body TEXT)`); err != nil {
					t.Fatal(err)
				}
				db.Close()
			},
			want: []string{"is empty", "probably lost or misplaced"},
		},
		{
			name:   "not a database",
			damage: func(t *testing.T, p string) { writeFile(t, p, bytes.Repeat([]byte("garbage "), 600)) },
			want:   []string{"is not a SQLite database or is corrupt", "restore it from your backup", "Backup and restore", "never overwrites"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := populatedDataDir(t)
			dbPath := filepath.Join(cfg.DataDir, DatabaseFile)
			tt.damage(t, dbPath)
			before, beforeErr := os.ReadFile(dbPath)
			logs := &syncBuffer{}
			cfg.AdminPassword = "" // a new admin would get a generated password, logged
			s, err := New(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, nil)))
			if err == nil {
				s.Close()
				t.Fatal("New started on a data directory whose database is lost")
			}
			for _, w := range append(tt.want, dbPath) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			after, afterErr := os.ReadFile(dbPath)
			if !bytes.Equal(before, after) || (beforeErr == nil) != (afterErr == nil) {
				t.Errorf("the database file changed: %d bytes (%v) → %d bytes (%v)", len(before), beforeErr, len(after), afterErr)
			}
			if logs.b.Len() != 0 {
				t.Errorf("New logged %q", logs.b.String())
			}
		})
	}
}

func TestStartChecksCorruptDatabaseWithoutBlobs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	writeFile(t, filepath.Join(cfg.DataDir, DatabaseFile), []byte("SQLite format 3\x00 and then nothing that makes sense"))
	_, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if !errors.Is(err, meta.ErrCorrupt) {
		t.Fatalf("New = %v; want ErrCorrupt", err)
	}
}

// TestStartFreshWithEmptyBlobStore: a blob store without blobs (only its upload and temporary
// directories, as a first start leaves it) and no database is a fresh start.
func TestStartFreshWithEmptyBlobStore(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	for _, d := range []string{"blobs/sha256/ab", "uploads", "tmp"} {
		if err := os.MkdirAll(filepath.Join(cfg.DataDir, BlobsDir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A second server on a data directory another one serves is refused, naming the holder;
// once the first closes, the directory can be served again.
func TestDataDirIsServedByOneProcess(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.DataDir = dir
	cfg.AdminPassword = "test-password"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	first, err := New(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(context.Background(), cfg, log)
	if !errors.Is(err, ErrDataDirLocked) || !strings.Contains(err.Error(), "process ") || !strings.Contains(err.Error(), "--data-dir") {
		t.Fatalf("second server on %s = %v; want ErrDataDirLocked naming the holder and what to do", dir, err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := New(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("after the first server closed: %v", err)
	}
	again.Close()
}
