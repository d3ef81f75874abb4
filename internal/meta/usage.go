package meta

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
)

// NamespaceUsage is what a namespace holds: the repositories under it (a repository
// team/charts/app is in namespace team/charts), their live chart versions, their manifests
// (kept in the database) and the blobs linked to them (kept in the blob store).
type NamespaceUsage struct {
	Namespace    string // "" for the root namespace
	Repositories int
	Versions     int   // live chart versions (not deleted; quarantined ones included)
	Manifests    int   // manifests of every kind (charts, signatures, images)
	ManifestSize int64 // their bytes
	// Blobs and BlobSize count each blob linked to one of the namespace's repositories once,
	// however many of its repositories link it.
	Blobs    int
	BlobSize int64
}

// StorageUsage returns the usage of every namespace that has a repository, sorted by
// namespace, and the registry's total, in which a blob linked in several namespaces counts
// once (so the total's blob bytes are what the store holds for them, and may be less than
// the namespaces' sum). It reads in one snapshot; its cost grows with the number of blob
// links (one pass over them in digest order, memory by namespace).
func (db *DB) StorageUsage(ctx context.Context) ([]NamespaceUsage, NamespaceUsage, error) {
	var total NamespaceUsage
	tx, err := db.readTx(ctx)
	if err != nil {
		return nil, total, fmt.Errorf("storage usage: %w", err)
	}
	defer tx.Rollback()

	nsOf := map[int64]string{} // repository id → namespace
	by := map[string]*NamespaceUsage{}
	use := func(ns string) *NamespaceUsage {
		u := by[ns]
		if u == nil {
			u = &NamespaceUsage{Namespace: ns}
			by[ns] = u
		}
		return u
	}
	err = each(ctx, tx, `SELECT id, name FROM repositories`, func(rows *sql.Rows) error {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return err
		}
		ns := ""
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			ns = name[:i]
		}
		nsOf[id] = ns
		use(ns).Repositories++
		total.Repositories++
		return nil
	})
	if err != nil {
		return nil, total, fmt.Errorf("storage usage: repositories: %w", err)
	}
	err = each(ctx, tx, `SELECT namespace, COUNT(*) FROM chart_versions WHERE deleted_at IS NULL GROUP BY namespace`, func(rows *sql.Rows) error {
		var ns string
		var n int
		if err := rows.Scan(&ns, &n); err != nil {
			return err
		}
		use(ns).Versions += n
		total.Versions += n
		return nil
	})
	if err != nil {
		return nil, total, fmt.Errorf("storage usage: chart versions: %w", err)
	}
	err = each(ctx, tx, `SELECT repository_id, COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM manifests GROUP BY repository_id`, func(rows *sql.Rows) error {
		var id, size int64
		var n int
		if err := rows.Scan(&id, &n, &size); err != nil {
			return err
		}
		u := use(nsOf[id])
		u.Manifests += n
		u.ManifestSize += size
		total.Manifests += n
		total.ManifestSize += size
		return nil
	})
	if err != nil {
		return nil, total, fmt.Errorf("storage usage: manifests: %w", err)
	}
	// Blob links in digest order: all the links of one blob come together, so the namespaces
	// it is linked in are known when the next blob starts, and it counts once in each.
	var cur string
	var curSize int64
	seen := map[string]bool{} // namespaces the current blob was counted in
	err = each(ctx, tx, `SELECT rb.digest, b.size, rb.repository_id FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest ORDER BY rb.digest`, func(rows *sql.Rows) error {
		var d string
		var size, id int64
		if err := rows.Scan(&d, &size, &id); err != nil {
			return err
		}
		if d != cur {
			cur, curSize = d, size
			clear(seen)
			total.Blobs++
			total.BlobSize += size
		}
		ns := nsOf[id]
		if !seen[ns] {
			seen[ns] = true
			u := use(ns)
			u.Blobs++
			u.BlobSize += curSize
		}
		return nil
	})
	if err != nil {
		return nil, total, fmt.Errorf("storage usage: blobs: %w", err)
	}
	out := make([]NamespaceUsage, 0, len(by))
	for _, u := range by {
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace < out[j].Namespace })
	return out, total, nil
}

// each runs query in tx and calls fn for each row.
func each(ctx context.Context, tx *sql.Tx, query string, fn func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
