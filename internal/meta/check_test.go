package meta

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestInspectSQLite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A live database: its content is still in the WAL while the writer holds it open.
	live := filepath.Join(dir, "live.db")
	db, err := OpenSQLite(ctx, live)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateUser(ctx, User{Name: "admin", PasswordHash: "x", Role: "admin"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.db")
	odb, _ := sql.Open("sqlite", other)
	if _, err := odb.Exec(`CREATE TABLE notes (body TEXT)`); err != nil {
		t.Fatal(err)
	}
	odb.Close()

	tests := []struct {
		name string
		path string
		want DatabaseState
	}{
		{"missing", filepath.Join(dir, "nope.db"), DatabaseMissing},
		{"zero-length", write("zero.db", nil), DatabaseEmpty},
		{"other SQLite database", other, DatabaseEmpty},
		{"text", write("text.db", bytes.Repeat([]byte("text "), 1000)), DatabaseCorrupt},
		{"short", write("short.db", []byte("SQLite")), DatabaseCorrupt},
		{"header then garbage", write("garbage.db", append([]byte(sqliteHeader), bytes.Repeat([]byte{0xee}, 8192)...)), DatabaseCorrupt},
		{"live, in WAL mode", live, DatabaseOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := os.ReadFile(tt.path)
			got, err := InspectSQLite(ctx, tt.path)
			if got != tt.want {
				t.Fatalf("state = %s (%v), want %s", got, err, tt.want)
			}
			if (got == DatabaseCorrupt) != errors.Is(err, ErrCorrupt) {
				t.Errorf("err = %v", err)
			}
			if got != DatabaseCorrupt && err != nil {
				t.Errorf("err = %v", err)
			}
			if after, _ := os.ReadFile(tt.path); !bytes.Equal(before, after) {
				t.Error("InspectSQLite changed the file")
			}
			if got == DatabaseMissing {
				if _, err := os.Stat(tt.path); !errors.Is(err, os.ErrNotExist) {
					t.Error("InspectSQLite created the file")
				}
			}
		})
	}
}

func TestOpenSQLiteExisting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	missing := filepath.Join(dir, "chartroom.db")
	for _, ro := range []bool{true, false} {
		if _, err := OpenSQLiteExisting(ctx, missing, ro); !errors.Is(err, ErrNoDatabase) {
			t.Fatalf("missing database (read-only %v): %v, want ErrNoDatabase", ro, err)
		}
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("OpenSQLiteExisting created the database")
	}

	path := filepath.Join(dir, "live.db")
	w, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	d := digest.FromString("layer")
	if err := w.LinkBlob(ctx, "team/a", d, 5); err != nil {
		t.Fatal(err)
	}
	ro, err := OpenSQLiteExisting(ctx, path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.LinkBlob(ctx, "team/b", d, 5); err == nil {
		t.Fatal("a read-only database accepted a write")
	}
	// The snapshot does not see what the writer commits after it started.
	snap, err := ro.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if err := w.LinkBlob(ctx, "team/c", digest.FromString("later"), 5); err != nil {
		t.Fatalf("the server's writer is blocked by a reader: %v", err)
	}
	var seen []digest.Digest
	snap.Blobs(ctx, func(b BlobRecord) error { seen = append(seen, b.Digest); return nil })
	if len(seen) != 1 || seen[0] != d {
		t.Errorf("snapshot blobs = %v; want only %s", seen, d)
	}
	if issues, err := ro.IntegrityCheck(ctx); err != nil || len(issues) != 0 {
		t.Errorf("integrity check of a sound database: %v %v", issues, err)
	}

	// A consistent copy while the writer is open.
	backup := filepath.Join(dir, "backup.db")
	if err := ro.BackupTo(ctx, backup); err != nil {
		t.Fatal(err)
	}
	if err := ro.BackupTo(ctx, backup); err == nil {
		t.Error("BackupTo overwrote an existing file")
	}
	b, err := OpenSQLiteExisting(ctx, backup, true)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if size, err := b.Blob(ctx, digest.FromString("later")); err != nil || size != 5 {
		t.Errorf("the backup lacks a committed blob: %d %v", size, err)
	}
}

func TestForgetBlob(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	loose := digest.FromString("loose")
	if err := db.LinkBlob(ctx, "team/myapp", loose, 5); err != nil {
		t.Fatal(err)
	}
	p := chartPush("team/myapp", "1.0.0", "archive")
	if err := db.LinkBlob(ctx, "team/myapp", p.Chart.ChartDigest, 7); err != nil {
		t.Fatal(err)
	}
	p.Blobs = []digest.Digest{p.Chart.ChartDigest}
	p.References = []digest.Digest{p.Chart.ChartDigest}
	if _, err := db.PutManifest(ctx, p); err != nil {
		t.Fatal(err)
	}
	if removed, err := db.ForgetBlob(ctx, p.Chart.ChartDigest); err != nil || removed {
		t.Fatalf("ForgetBlob of a chart's archive = %v, %v; want kept", removed, err)
	}
	if _, err := db.RepositoryBlob(ctx, "team/myapp", p.Chart.ChartDigest); err != nil {
		t.Fatalf("the archive's link is gone: %v", err)
	}
	if removed, err := db.ForgetBlob(ctx, loose); err != nil || !removed {
		t.Fatalf("ForgetBlob of a blob nothing needs = %v, %v; want removed", removed, err)
	}
	if _, err := db.RepositoryBlob(ctx, "team/myapp", loose); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the loose blob is still linked: %v", err)
	}
}
