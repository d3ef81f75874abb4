package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// Garbage collection (registry/gc.go drives it): the queries that find what nothing needs
// and remove it, each removal re-deciding in its own write transaction what it removes, so
// that a push committed meanwhile (on any replica: writes are serialized) wins.

// ErrBlobDeleting means garbage collection is deleting the blob from the blob store: it may
// not be linked until that is done (upload it again).
var ErrBlobDeleting = errors.New("the blob is being deleted by garbage collection")

// ErrGCRunning means another garbage collection holds the lease.
var ErrGCRunning = errors.New("another garbage collection is running")

// LinkStoredBlob is LinkBlob for a blob the caller has just written to the blob store, and
// reports whether it created the database's row of the blob: then the caller must check
// that the bytes are still in the store, since a garbage collection may have deleted them
// between the write and this link (see RemoveBlobRow). ErrBlobDeleting while a garbage
// collection is deleting the blob. Linking refreshes the link's time, from which the grace
// period of garbage collection counts.
func (db *DB) LinkStoredBlob(ctx context.Context, repo string, d digest.Digest, size int64) (bool, error) {
	var created bool
	err := db.tx(ctx, func(tx *sql.Tx) error {
		id, err := db.ensureRepository(ctx, tx, repo)
		if err != nil {
			return err
		}
		now := db.now().UnixNano()
		res, err := tx.ExecContext(ctx, `INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?) ON CONFLICT (digest) DO NOTHING`, d.String(), size, now)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		created = n == 1
		var deleting bool
		if err := tx.QueryRowContext(ctx, `SELECT deleting_at IS NOT NULL FROM blobs WHERE digest = ?`, d.String()).Scan(&deleting); err != nil {
			return err
		}
		if deleting {
			return ErrBlobDeleting
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (?, ?, ?)
			ON CONFLICT (repository_id, digest) DO UPDATE SET created_at = excluded.created_at`, id, d.String(), now)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("link blob %s to %s: %w", d, repo, err)
	}
	return created, nil
}

// MountBlob links blob d, which repository from links (any repository when from is ""), to
// repo in one transaction and returns its size; ErrNotFound when from does not link it.
func (db *DB) MountBlob(ctx context.Context, repo, from string, d digest.Digest) (int64, error) {
	var size int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		query := `SELECT b.size FROM blobs b WHERE b.digest = ? AND b.deleting_at IS NULL AND EXISTS (
			SELECT 1 FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id WHERE rb.digest = b.digest`
		args := []any{d.String()}
		if from != "" {
			query += ` AND r.name = ?`
			args = append(args, from)
		}
		if err := tx.QueryRowContext(ctx, query+`)`, args...).Scan(&size); err != nil {
			return notFound(err)
		}
		id, err := db.ensureRepository(ctx, tx, repo)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (?, ?, ?)
			ON CONFLICT (repository_id, digest) DO UPDATE SET created_at = excluded.created_at`, id, d.String(), db.now().UnixNano())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("mount blob %s in %s: %w", d, repo, err)
	}
	return size, nil
}

// GCRepository is one repository as garbage collection sees it.
type GCRepository struct {
	ID   int64
	Name string
}

// GCRepositories lists every repository.
func (db *DB) GCRepositories(ctx context.Context) ([]GCRepository, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, name FROM repositories ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("repositories: %w", err)
	}
	defer rows.Close()
	var out []GCRepository
	for rows.Next() {
		var r GCRepository
		if err := rows.Scan(&r.ID, &r.Name); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// reachable is the mark of one repository: a recursive query of every digest its roots
// reach. Roots are its manifests created at or after the cutoff (the grace period), tagged
// or publishing a live chart version; from a manifest in the set, the set takes what it
// references (config, layers, index children), its subject, and its referrers (manifests
// whose subject it is). Parameters: repository id (×4), cutoff.
const reachable = `WITH RECURSIVE
	edges (src, dst) AS (
		SELECT manifest_digest, child_digest FROM manifest_references WHERE repository_id = ?
		UNION ALL SELECT digest, subject FROM manifests WHERE repository_id = ? AND subject IS NOT NULL
		UNION ALL SELECT subject, digest FROM manifests WHERE repository_id = ? AND subject IS NOT NULL),
	live (digest) AS (
		SELECT m.digest FROM manifests m WHERE m.repository_id = ? AND (m.created_at >= ?
			OR EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id AND t.manifest_digest = m.digest)
			OR EXISTS (SELECT 1 FROM chart_versions c WHERE c.repository_id = m.repository_id AND c.manifest_digest = m.digest AND c.deleted_at IS NULL))
		UNION SELECT e.dst FROM edges e JOIN live l ON e.src = l.digest)
`

func reachableArgs(repoID int64, cutoff time.Time) []any {
	return []any{repoID, repoID, repoID, repoID, cutoff.UnixNano()}
}

// GCSweep is what one repository's sweep removed (or, dry, would remove).
type GCSweep struct {
	Manifests []digest.Digest // unreachable manifests
	Links     []digest.Digest // blob links no reachable manifest references, older than the cutoff
}

// SweepRepository removes, in one write transaction that first marks again, the manifests of
// repository repoID that nothing reachable needs and the blob links no reachable manifest
// references and were made before cutoff (then the blob is no longer readable there). With
// dry it removes nothing and reports what it would remove.
func (db *DB) SweepRepository(ctx context.Context, repoID int64, cutoff time.Time, dry bool) (GCSweep, error) {
	var out GCSweep
	sweep := func(q interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}) error {
		out = GCSweep{}
		args := reachableArgs(repoID, cutoff)
		var err error
		out.Manifests, err = digests(ctx, q, reachable+`SELECT digest FROM manifests WHERE repository_id = ? AND digest NOT IN (SELECT digest FROM live) ORDER BY digest`,
			append(args, repoID)...)
		if err != nil {
			return err
		}
		out.Links, err = digests(ctx, q, reachable+`SELECT digest FROM repository_blobs WHERE repository_id = ? AND created_at < ? AND digest NOT IN (SELECT digest FROM live) ORDER BY digest`,
			append(args, repoID, cutoff.UnixNano())...)
		return err
	}
	var err error
	if dry {
		err = sweep(db.r)
	} else {
		err = db.tx(ctx, func(tx *sql.Tx) error {
			if err := sweep(tx); err != nil {
				return err
			}
			for _, d := range out.Manifests {
				if _, err := tx.ExecContext(ctx, `DELETE FROM manifests WHERE repository_id = ? AND digest = ?`, repoID, d.String()); err != nil {
					return err
				}
			}
			for _, d := range out.Links {
				if _, err := tx.ExecContext(ctx, `DELETE FROM repository_blobs WHERE repository_id = ? AND digest = ?`, repoID, d.String()); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return GCSweep{}, fmt.Errorf("sweep repository %d: %w", repoID, err)
	}
	return out, nil
}

func digests(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) ([]digest.Digest, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []digest.Digest
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, digest.Digest(s))
	}
	return out, rows.Err()
}

// LinkedBlobs returns which of ds some repository links (or a garbage collection is
// deleting: those are not new candidates).
func (db *DB) LinkedBlobs(ctx context.Context, ds []digest.Digest) (map[digest.Digest]bool, error) {
	out := map[digest.Digest]bool{}
	for len(ds) > 0 {
		batch := ds[:min(len(ds), 500)]
		ds = ds[len(batch):]
		args := make([]any, len(batch))
		for i, d := range batch {
			args[i] = d.String()
		}
		in := strings.TrimSuffix(strings.Repeat("?, ", len(batch)), ", ")
		found, err := digests(ctx, db.r, `SELECT DISTINCT digest FROM repository_blobs WHERE digest IN (`+in+`)
			UNION SELECT digest FROM blobs WHERE deleting_at IS NOT NULL AND digest IN (`+in+`)`, append(args, args...)...)
		if err != nil {
			return nil, fmt.Errorf("linked blobs: %w", err)
		}
		for _, d := range found {
			out[d] = true
		}
	}
	return out, nil
}

// UnlinkedBlobRows lists the blobs the database records that no repository links and no
// garbage collection is deleting.
func (db *DB) UnlinkedBlobRows(ctx context.Context) ([]digest.Digest, error) {
	out, err := digests(ctx, db.r, `SELECT digest FROM blobs b WHERE deleting_at IS NULL
		AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest) ORDER BY digest`)
	if err != nil {
		return nil, fmt.Errorf("unlinked blobs: %w", err)
	}
	return out, nil
}

// DeletingBlobs lists the blobs marked for deletion (MarkBlobDeleting) and not yet removed:
// what a garbage collection that stopped half-way left.
func (db *DB) DeletingBlobs(ctx context.Context) ([]digest.Digest, error) {
	out, err := digests(ctx, db.r, `SELECT digest FROM blobs WHERE deleting_at IS NOT NULL ORDER BY digest`)
	if err != nil {
		return nil, fmt.Errorf("blobs being deleted: %w", err)
	}
	return out, nil
}

// MarkBlobDeleting decides, in one write transaction, that blob d (size bytes, recorded or
// not) is deleted: only if no repository links it. From then on LinkStoredBlob refuses it
// until RemoveBlobRow. It reports whether the blob was marked (false: something links it).
func (db *DB) MarkBlobDeleting(ctx context.Context, d digest.Digest, size int64) (bool, error) {
	var marked bool
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var linked bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM repository_blobs WHERE digest = ?)`, d.String()).Scan(&linked); err != nil {
			return err
		}
		if linked {
			marked = false
			return nil
		}
		now := db.now().UnixNano()
		_, err := tx.ExecContext(ctx, `INSERT INTO blobs (digest, size, created_at, deleting_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (digest) DO UPDATE SET deleting_at = coalesce(blobs.deleting_at, excluded.deleting_at)`, d.String(), size, now, now)
		marked = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("mark blob %s for deletion: %w", d, err)
	}
	return marked, nil
}

// RemoveBlobRow removes the row of blob d, marked by MarkBlobDeleting, once its bytes are
// gone from the blob store.
func (db *DB) RemoveBlobRow(ctx context.Context, d digest.Digest) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM blobs WHERE digest = ? AND deleting_at IS NOT NULL`, d.String())
		return err
	})
	if err != nil {
		return fmt.Errorf("remove blob %s: %w", d, err)
	}
	return nil
}

// GCState is the garbage collection lease and the record of its runs.
type GCState struct {
	Holder       string
	LeaseUntil   time.Time
	LastStarted  time.Time // zero: never
	LastFinished time.Time // zero: never
	LastDuration time.Duration
	LastError    string
	// Totals of every run that finished (dry runs excluded).
	Runs, BytesReclaimed, BlobsRemoved, ManifestsRemoved, UploadsRemoved, VersionsRemoved int64
}

// GCStats is what one run removed.
type GCStats struct {
	BytesReclaimed, BlobsRemoved, ManifestsRemoved, UploadsRemoved, VersionsRemoved int64
}

// GetGCState returns the lease and the record of runs.
func (db *DB) GetGCState(ctx context.Context) (GCState, error) {
	var s GCState
	var until, started, finished, dur int64
	err := db.r.QueryRowContext(ctx, `SELECT holder, lease_until, last_started_at, last_finished_at, last_duration, last_error,
		runs, bytes_reclaimed, blobs_removed, manifests_removed, uploads_removed, versions_removed FROM gc_state WHERE id = 1`).
		Scan(&s.Holder, &until, &started, &finished, &dur, &s.LastError,
			&s.Runs, &s.BytesReclaimed, &s.BlobsRemoved, &s.ManifestsRemoved, &s.UploadsRemoved, &s.VersionsRemoved)
	if err != nil {
		return GCState{}, fmt.Errorf("garbage collection state: %w", err)
	}
	s.LeaseUntil, s.LastDuration = time.Unix(0, until), time.Duration(dur)
	if started > 0 {
		s.LastStarted = time.Unix(0, started).UTC()
	}
	if finished > 0 {
		s.LastFinished = time.Unix(0, finished).UTC()
	}
	return s, nil
}

// AcquireGCLease takes the lease for holder until ttl from now, when nobody holds it (or
// the holder's lease ran out: it stopped without releasing it). ErrGCRunning when another
// holds it; holder renews its own lease by acquiring it again.
func (db *DB) AcquireGCLease(ctx context.Context, holder string, ttl time.Duration) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		now := db.now()
		res, err := tx.ExecContext(ctx, `UPDATE gc_state SET holder = ?, lease_until = ? WHERE id = 1 AND (holder = ? OR holder = '' OR lease_until < ?)`,
			holder, now.Add(ttl).UnixNano(), holder, now.UnixNano())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var other string
			var until int64
			if err := tx.QueryRowContext(ctx, `SELECT holder, lease_until FROM gc_state WHERE id = 1`).Scan(&other, &until); err != nil {
				return err
			}
			return fmt.Errorf("%w (%s, its lease runs until %s)", ErrGCRunning, other, time.Unix(0, until).UTC().Format(time.RFC3339))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("garbage collection lease: %w", err)
	}
	return nil
}

// ReleaseGCLease ends holder's lease. A run that removed something (not dry) is recorded:
// when it started, how long it took, its error ("" for none) and what it removed, added to
// the totals.
func (db *DB) ReleaseGCLease(ctx context.Context, holder string, started time.Time, record bool, stats GCStats, runErr string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if record {
			now := db.now()
			_, err := tx.ExecContext(ctx, `UPDATE gc_state SET last_started_at = ?, last_finished_at = ?, last_duration = ?, last_error = ?,
				runs = runs + 1, bytes_reclaimed = bytes_reclaimed + ?, blobs_removed = blobs_removed + ?, manifests_removed = manifests_removed + ?,
				uploads_removed = uploads_removed + ?, versions_removed = versions_removed + ? WHERE id = 1`,
				started.UnixNano(), now.UnixNano(), int64(now.Sub(started)), runErr,
				stats.BytesReclaimed, stats.BlobsRemoved, stats.ManifestsRemoved, stats.UploadsRemoved, stats.VersionsRemoved)
			if err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE gc_state SET holder = '', lease_until = 0 WHERE id = 1 AND holder = ?`, holder)
		return err
	})
	if err != nil {
		return fmt.Errorf("garbage collection lease: %w", err)
	}
	return nil
}
