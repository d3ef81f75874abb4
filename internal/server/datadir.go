package server

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/chartroom/chartroom/internal/meta"
)

// ErrDatabaseLost means the data directory's blobs are there but its database is not (it is
// missing or empty): starting would create an empty registry (and a new admin user) beside them.
var ErrDatabaseLost = errors.New("the database was probably lost or misplaced")

// checkDataDir refuses a data directory that cannot be served as it is, before anything in
// it is opened for writing: a database that is missing or empty (zero-length, or without
// chartroom's tables) while the blob store holds blobs, and a database file that is not a
// SQLite database. A fresh directory (no database, no blobs) passes: serve creates both.
// The blob store is st's: the filesystem store of the data directory, or an S3 bucket (where
// the check is one listing request).
func checkDataDir(ctx context.Context, dataDir string, st *storage) error {
	dbPath := filepath.Join(dataDir, DatabaseFile)
	state, err := meta.InspectSQLite(ctx, dbPath)
	var corrupt *meta.CorruptError
	switch {
	case errors.As(err, &corrupt):
		return fmt.Errorf("refusing to start: %w: restore it from your backup (README, \"Backup and restore\"); chartroom never overwrites it", corrupt)
	case err != nil:
		return fmt.Errorf("check the data directory: %w", err)
	case state == meta.DatabaseOK:
		return nil
	}
	hasBlobs, err := st.hasBlobs(ctx)
	if err != nil {
		return fmt.Errorf("check the data directory: %w", err)
	}
	if !hasBlobs {
		return nil
	}
	what := "missing"
	if state == meta.DatabaseEmpty {
		what = "empty (zero-length, or without chartroom's tables)"
	}
	return fmt.Errorf("refusing to start: the database %s is %s, but the blob store %s holds blobs: %w "+
		"(starting would create an empty registry with a new admin user beside them). Restore chartroom.db from your backup (README, \"Backup and restore\") and check it with "+
		"chartroom fsck --data-dir %s; or, to really start over, %s",
		dbPath, what, st.where, ErrDatabaseLost, dataDir, st.startOver())
}

// ErrDatabaseElsewhere means the data directory holds a SQLite database while the server is
// told to use PostgreSQL: chartroom does not copy data between databases, so starting would
// leave what the SQLite database holds behind.
var ErrDatabaseElsewhere = errors.New("the data directory holds a SQLite database")

// checkDataDirForPostgres refuses a data directory that holds a SQLite chartroom database when
// the server is told to use PostgreSQL.
func checkDataDirForPostgres(ctx context.Context, dataDir string) error {
	dbPath := filepath.Join(dataDir, DatabaseFile)
	state, err := meta.InspectSQLite(ctx, dbPath)
	if err != nil || state == meta.DatabaseMissing || state == meta.DatabaseEmpty {
		return nil // nothing there a user would miss (a damaged file is fsck's to report)
	}
	return fmt.Errorf("refusing to start on PostgreSQL: %w (%s) whose charts and users PostgreSQL does not have; "+
		"chartroom does not move data between databases: start without --database to serve it, or use another --data-dir for the PostgreSQL server",
		ErrDatabaseElsewhere, dbPath)
}
