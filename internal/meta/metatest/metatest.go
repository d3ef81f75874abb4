// Package metatest opens the metadata database of a test directory on the backend the tests
// run on: a SQLite file in the directory, or, with CHARTROOM_TEST_DATABASE=postgres, a fresh
// database on pgtest's PostgreSQL server, remembered in the directory so that opening the same
// directory again (a restart, a second replica) opens the same database.
package metatest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/meta/pgtest"
)

// urlFile is where a directory remembers its PostgreSQL database.
const urlFile = "postgres-url"

// Open opens dir's database (creating it when needed), closed when the test ends.
func Open(t testing.TB, dir string) *meta.DB {
	t.Helper()
	ctx := context.Background()
	var db *meta.DB
	var err error
	if pgtest.Selected() {
		db, err = meta.OpenPostgres(ctx, URL(t, dir))
	} else {
		db, err = meta.OpenSQLite(ctx, filepath.Join(dir, "chartroom.db"))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// URL returns dir's PostgreSQL database URL, creating the database on first use.
func URL(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, urlFile)
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b))
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	url := pgtest.NewDatabase(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(url+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return url
}
