package meta

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/opencontainers/go-digest"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Read-side helpers for checking a database (chartroom fsck, the start-up check of serve)
// and copying it (chartroom backup), and the one repair that is safe on it. Unlike
// OpenSQLite, nothing here creates a database or migrates one.

// ErrNoDatabase means there is no chartroom database at the path: no file, an empty
// (zero-length) file, or a SQLite database without chartroom's tables.
var ErrNoDatabase = errors.New("no chartroom database")

// ErrCorrupt means the file is not a SQLite database, or SQLite found it damaged. The
// error returned is a *CorruptError.
var ErrCorrupt = errors.New("not a SQLite database, or a damaged one")

// CorruptError says which file is not a SQLite database or is damaged, and how it shows.
type CorruptError struct {
	Path   string
	Detail string // e.g. "file is not a database (26)"
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("the database at %s is not a SQLite database or is corrupt (%s)", e.Path, e.Detail)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// DatabaseState is what InspectSQLite found at a path.
type DatabaseState int

// States of a database file.
const (
	// DatabaseOK is a SQLite database with chartroom's tables.
	DatabaseOK DatabaseState = iota
	// DatabaseMissing means no file exists at the path.
	DatabaseMissing
	// DatabaseEmpty is a zero-length file, or a SQLite database without chartroom's tables.
	DatabaseEmpty
	// DatabaseCorrupt is a file that is not a SQLite database or that SQLite finds damaged.
	DatabaseCorrupt
)

// String names the state: ok, missing, empty or corrupt.
func (s DatabaseState) String() string {
	switch s {
	case DatabaseOK:
		return "ok"
	case DatabaseMissing:
		return "missing"
	case DatabaseEmpty:
		return "empty"
	case DatabaseCorrupt:
		return "corrupt"
	}
	return fmt.Sprintf("DatabaseState(%d)", int(s))
}

// sqliteHeader starts every SQLite database file (https://sqlite.org/fileformat.html).
const sqliteHeader = "SQLite format 3\x00"

// InspectSQLite tells, without writing to it, whether path holds a chartroom database.
// A corrupt file is DatabaseCorrupt with a *CorruptError that says what is wrong; other errors (permissions, I/O) are returned as such. A database in WAL mode is read
// with its -wal file (SQLite may create the -shm index beside it, as any reader does).
func InspectSQLite(ctx context.Context, path string) (DatabaseState, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return DatabaseMissing, nil
	}
	if err != nil {
		return 0, fmt.Errorf("database %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return DatabaseCorrupt, &CorruptError{Path: path, Detail: "not a regular file"}
	}
	if fi.Size() == 0 {
		// A zero-length file with a WAL beside it may hold its content there: let SQLite read it.
		wal, err := os.Stat(path + "-wal")
		if err != nil || wal.Size() == 0 {
			return DatabaseEmpty, nil
		}
	} else {
		head := make([]byte, len(sqliteHeader))
		f, err := os.Open(path)
		if err != nil {
			return 0, fmt.Errorf("database %s: %w", path, err)
		}
		_, err = io.ReadFull(f, head)
		f.Close()
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("database %s: %w", path, err)
		}
		if !bytes.Equal(head, []byte(sqliteHeader)) {
			return DatabaseCorrupt, &CorruptError{Path: path, Detail: "the file does not start with SQLite's header"}
		}
	}
	db, err := sql.Open("sqlite", readOnlyDSN(path))
	if err != nil {
		return 0, fmt.Errorf("database %s: %w", path, err)
	}
	defer db.Close()
	var n int
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n)
	if IsCorrupt(err) {
		return DatabaseCorrupt, &CorruptError{Path: path, Detail: err.Error()}
	}
	if err != nil {
		return 0, fmt.Errorf("database %s: %w", path, err)
	}
	if n == 0 {
		return DatabaseEmpty, nil
	}
	return DatabaseOK, nil
}

// IsCorrupt reports whether err is SQLite saying the file is not a database or is damaged.
func IsCorrupt(err error) bool {
	if errors.Is(err, ErrCorrupt) {
		return true
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		return true
	}
	return false
}

func readOnlyDSN(path string) string {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Set("_txlock", "deferred")
	return "file:" + path + "?" + q.Encode()
}

// OpenSQLiteExisting opens the chartroom database at path as it is: it never creates a file
// and never migrates. readOnly opens it for reading only, which is safe beside a running
// server (SQLite's WAL lets readers and the server's writer proceed together). ErrNoDatabase
// when path holds no chartroom database; ErrCorrupt when it is not a SQLite database.
func OpenSQLiteExisting(ctx context.Context, path string, readOnly bool) (*DB, error) {
	state, err := InspectSQLite(ctx, path)
	if err != nil {
		return nil, err
	}
	if state != DatabaseOK {
		return nil, fmt.Errorf("database %s is %s: %w", path, state, ErrNoDatabase)
	}
	var w, r *sql.DB
	if readOnly {
		r, err = sql.Open("sqlite", readOnlyDSN(path))
		if err == nil {
			w, err = sql.Open("sqlite", readOnlyDSN(path))
		}
	} else {
		dsn := func(txlock string) string {
			q := url.Values{}
			q.Set("mode", "rw") // fail rather than create
			q.Add("_pragma", "busy_timeout(10000)")
			q.Add("_pragma", "foreign_keys(1)")
			q.Add("_pragma", "synchronous(NORMAL)")
			q.Set("_txlock", txlock)
			return "file:" + path + "?" + q.Encode()
		}
		w, err = sql.Open("sqlite", dsn("immediate"))
		if err == nil {
			w.SetMaxOpenConns(1)
			r, err = sql.Open("sqlite", dsn("deferred"))
		}
	}
	if err != nil {
		if w != nil {
			w.Close()
		}
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db := &DB{w: w, r: r, now: time.Now, dialect: sqliteDialect, queued: make(chan struct{}, 1)}
	if err := r.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return db, nil
}

// IntegrityCheck runs SQLite's integrity and foreign key checks and returns what they
// report (nothing when the database is sound).
func (db *DB) IntegrityCheck(ctx context.Context) ([]string, error) {
	var out []string
	rows, err := db.r.QueryContext(ctx, `PRAGMA integrity_check(100)`)
	if err != nil {
		return nil, fmt.Errorf("integrity check: %w", err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return nil, fmt.Errorf("integrity check: %w", err)
		}
		if s != "ok" {
			out = append(out, s)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("integrity check: %w", err)
	}
	rows, err = db.r.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return nil, fmt.Errorf("foreign key check: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fk int
		if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
			return nil, fmt.Errorf("foreign key check: %w", err)
		}
		out = append(out, fmt.Sprintf("row %d of table %s refers to a row of %s that does not exist", rowid.Int64, table, parent))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("foreign key check: %w", err)
	}
	return out, nil
}

// BackupTo writes a consistent copy of the whole database, as of one moment, to a new file
// dest (SQLite's VACUUM INTO). It only reads this database, so it is safe beside a running
// server. dest must not exist.
func (db *DB) BackupTo(ctx context.Context, dest string) error {
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("back up the database to %s: the file exists", dest)
	}
	if _, err := db.r.ExecContext(ctx, `VACUUM INTO ?`, dest); err != nil {
		return fmt.Errorf("back up the database to %s: %w", dest, err)
	}
	f, err := os.Open(dest)
	if err != nil {
		return fmt.Errorf("back up the database to %s: %w", dest, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("back up the database to %s: %w", dest, err)
	}
	return nil
}

// ForgetBlob removes the rows of blob d (its repository links and its blobs row) unless
// something depends on it: a manifest that references it, or a live chart version whose
// archive or provenance it is. It is for a blob whose bytes are gone from the blob store;
// it reports whether it removed anything. The check and the removal are one transaction,
// so a manifest pushed meanwhile keeps the rows.
func (db *DB) ForgetBlob(ctx context.Context, d digest.Digest) (bool, error) {
	removed := false
	err := db.tx(ctx, func(tx *sql.Tx) error {
		removed = false
		var deps int
		err := tx.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM manifest_references WHERE child_digest = ?) +
			(SELECT count(*) FROM chart_versions WHERE deleted_at IS NULL AND (chart_digest = ? OR prov_digest = ?))`,
			d.String(), d.String(), d.String()).Scan(&deps)
		if err != nil || deps > 0 {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM repository_blobs WHERE digest = ?`, d.String()); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM blobs WHERE digest = ?`, d.String())
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		removed = n > 0
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("forget blob %s: %w", d, err)
	}
	return removed, nil
}

// Snapshot is a read-only view of the whole database as of one moment, for checks that
// read everything: what a writer commits meanwhile is not in it. Close it when done.
type Snapshot struct {
	tx *sql.Tx
}

// Snapshot starts a read-only view of the whole database.
func (db *DB) Snapshot(ctx context.Context) (*Snapshot, error) {
	tx, err := db.readTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	// SQLite takes the snapshot at the first read: take it now.
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return &Snapshot{tx: tx}, nil
}

// Close ends the snapshot.
func (s *Snapshot) Close() error { return s.tx.Rollback() }

// Count returns the number of rows of one of chartroom's tables.
func (s *Snapshot) Count(ctx context.Context, table string) (int, error) {
	switch table {
	case "repositories", "blobs", "repository_blobs", "manifests", "tags", "chart_versions", "users":
	default:
		return 0, fmt.Errorf("count %s: not a table of chartroom's", table)
	}
	var n int
	if err := s.tx.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	return n, nil
}

// each runs query and calls scan for each row.
func (s *Snapshot) each(ctx context.Context, what, query string, scan func(*sql.Rows) error) error {
	rows, err := s.tx.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("read %s: %w", what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	return nil
}

// BlobRecord is a row of the blobs table: a blob the database says the store holds.
type BlobRecord struct {
	Digest digest.Digest
	Size   int64
}

// Blobs calls fn for every blob the database records, in digest order.
func (s *Snapshot) Blobs(ctx context.Context, fn func(BlobRecord) error) error {
	return s.each(ctx, "blobs", `SELECT digest, size FROM blobs ORDER BY digest`, func(rows *sql.Rows) error {
		var b BlobRecord
		if err := rows.Scan(&b.Digest, &b.Size); err != nil {
			return err
		}
		return fn(b)
	})
}

// Links calls fn for every (repository, blob) link: the blobs each repository may read.
func (s *Snapshot) Links(ctx context.Context, fn func(repo string, d digest.Digest) error) error {
	return s.each(ctx, "blob links", `SELECT r.name, rb.digest FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id ORDER BY r.name, rb.digest`,
		func(rows *sql.Rows) error {
			var repo string
			var d digest.Digest
			if err := rows.Scan(&repo, &d); err != nil {
				return err
			}
			return fn(repo, d)
		})
}

// Manifests calls fn for every stored manifest, with its content.
func (s *Snapshot) Manifests(ctx context.Context, fn func(Manifest) error) error {
	return s.each(ctx, "manifests", `SELECT r.name, m.digest, m.media_type, m.size, m.content FROM manifests m JOIN repositories r ON r.id = m.repository_id ORDER BY r.name, m.digest`,
		func(rows *sql.Rows) error {
			var m Manifest
			if err := rows.Scan(&m.Repository, &m.Digest, &m.MediaType, &m.Size, &m.Content); err != nil {
				return err
			}
			return fn(m)
		})
}

// References calls fn for every recorded reference of a manifest: a config or layer blob,
// or a child manifest of an index.
func (s *Snapshot) References(ctx context.Context, fn func(repo string, manifest, child digest.Digest) error) error {
	return s.each(ctx, "manifest references", `SELECT r.name, mr.manifest_digest, mr.child_digest FROM manifest_references mr JOIN repositories r ON r.id = mr.repository_id`,
		func(rows *sql.Rows) error {
			var repo string
			var m, c digest.Digest
			if err := rows.Scan(&repo, &m, &c); err != nil {
				return err
			}
			return fn(repo, m, c)
		})
}

// Tags calls fn for every tag.
func (s *Snapshot) Tags(ctx context.Context, fn func(repo, tag string, d digest.Digest) error) error {
	return s.each(ctx, "tags", `SELECT r.name, t.name, t.manifest_digest FROM tags t JOIN repositories r ON r.id = t.repository_id`,
		func(rows *sql.Rows) error {
			var repo, tag string
			var d digest.Digest
			if err := rows.Scan(&repo, &tag, &d); err != nil {
				return err
			}
			return fn(repo, tag, d)
		})
}

// ChartVersions calls fn for every chart version, tombstones included (Deleted set).
func (s *Snapshot) ChartVersions(ctx context.Context, fn func(ChartVersion) error) error {
	return s.each(ctx, "chart versions", `SELECT `+chartColumns+` FROM chart_versions c JOIN repositories r ON r.id = c.repository_id ORDER BY r.name, c.version`,
		func(rows *sql.Rows) error {
			c, err := scanChart(rows)
			if err != nil {
				return err
			}
			return fn(*c)
		})
}
