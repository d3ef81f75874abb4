package meta

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/opencontainers/go-digest"
)

// ensureRepository returns the id of the named repository, creating it if needed.
func (db *DB) ensureRepository(ctx context.Context, tx *sql.Tx, name string) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM repositories WHERE name = ?`, name).Scan(&id)
	if err == nil {
		return id, nil
	}
	if err != sql.ErrNoRows {
		return 0, err
	}
	// ON CONFLICT: a writer that does not serialize with this one (see the package doc) may
	// have created it meanwhile; then read its id.
	err = tx.QueryRowContext(ctx, `INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING RETURNING id`, name, db.now().UnixNano()).Scan(&id)
	if err == sql.ErrNoRows {
		err = tx.QueryRowContext(ctx, `SELECT id FROM repositories WHERE name = ?`, name).Scan(&id)
	}
	return id, err
}

// RepositoryExists reports whether the repository has ever received content.
func (db *DB) RepositoryExists(ctx context.Context, repo string) (bool, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM repositories WHERE name = ?`, repo).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("repository %s: %w", repo, err)
	}
	return n > 0, nil
}

// LinkBlob records that the blob d (of size bytes, already in the blob store) is readable
// in repo, creating the repository on first use.
func (db *DB) LinkBlob(ctx context.Context, repo string, d digest.Digest, size int64) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		id, err := db.ensureRepository(ctx, tx, repo)
		if err != nil {
			return err
		}
		now := db.now().UnixNano()
		if _, err := tx.ExecContext(ctx, `INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?) ON CONFLICT (digest) DO NOTHING`, d.String(), size, now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, id, d.String(), now)
		return err
	})
	if err != nil {
		return fmt.Errorf("link blob %s to %s: %w", d, repo, err)
	}
	return nil
}

// RepositoryBlob returns the size of blob d if it is readable in repo, or ErrNotFound.
func (db *DB) RepositoryBlob(ctx context.Context, repo string, d digest.Digest) (int64, error) {
	var size int64
	err := db.r.QueryRowContext(ctx, `
		SELECT b.size FROM repository_blobs rb
		JOIN repositories r ON r.id = rb.repository_id
		JOIN blobs b ON b.digest = rb.digest
		WHERE r.name = ? AND rb.digest = ?`, repo, d.String()).Scan(&size)
	if err != nil {
		return 0, fmt.Errorf("blob %s in %s: %w", d, repo, notFound(err))
	}
	return size, nil
}

// Blob returns the size of blob d if any repository holds it, or ErrNotFound.
func (db *DB) Blob(ctx context.Context, d digest.Digest) (int64, error) {
	var size int64
	// The blobs row outlives the last link (garbage collection removes it), so ask for a link.
	err := db.r.QueryRowContext(ctx, `
		SELECT b.size FROM blobs b
		WHERE b.digest = ? AND EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest)`, d.String()).Scan(&size)
	if err != nil {
		return 0, fmt.Errorf("blob %s: %w", d, notFound(err))
	}
	return size, nil
}

// UnlinkBlob makes blob d unreadable in repo. The bytes stay in the blob store until
// garbage collection finds no repository linking them.
func (db *DB) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			DELETE FROM repository_blobs
			WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND digest = ?`, repo, d.String())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("unlink blob %s from %s: %w", d, repo, err)
	}
	return nil
}

// StorageBytes is the total size of all blobs recorded, each counted once.
func (db *DB) StorageBytes(ctx context.Context) (int64, error) {
	var n sql.NullInt64
	if err := db.r.QueryRowContext(ctx, `SELECT CAST(sum(size) AS BIGINT) FROM blobs`).Scan(&n); err != nil {
		return 0, fmt.Errorf("storage size: %w", err)
	}
	return n.Int64, nil
}

// Catalog lists repository names in lexical order after last, at most n (n ≤ 0: all).
func (db *DB) Catalog(ctx context.Context, n int, last string) ([]string, error) {
	return db.names(ctx, `SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?`, n, last)
}

// BlobRepositories lists, in name order, at most n repositories that link blob d (n ≤ 0: all).
func (db *DB) BlobRepositories(ctx context.Context, d digest.Digest, n int) ([]string, error) {
	out, err := db.names(ctx, `SELECT r.name FROM repository_blobs b JOIN repositories r ON r.id = b.repository_id
		WHERE b.digest = ? AND r.name > ? ORDER BY r.name LIMIT ?`, n, "", d.String())
	if err != nil {
		return nil, fmt.Errorf("repositories of blob %s: %w", d, err)
	}
	return out, nil
}

// names runs a name-listing query whose last two parameters are the lower bound and limit.
func (db *DB) names(ctx context.Context, query string, n int, last string, args ...any) ([]string, error) {
	if n <= 0 {
		n = noLimit
	}
	args = append(args, last, n)
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
