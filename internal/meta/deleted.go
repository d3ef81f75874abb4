package meta

import (
	"context"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
)

// DeletedChartVersion is the tombstone of a deleted chart version: the row a delete keeps
// (deleted_at set, see tombstone) so that the version can only come back with the same bytes.
type DeletedChartVersion struct {
	Name, Version, AppVersion string
	ChartDigest               digest.Digest
	ChartSize                 int64
	Created                   time.Time // when it was published
	PushedBy                  string
	Deleted                   time.Time // when it was deleted
	Quarantined               bool
}

// DeletedChartVersions returns the tombstones of chart name in namespace ns (every chart of
// it when name is ""), the latest deleted first, at most limit of them (0: all); quarantined
// ones only withQuarantined.
func (db *DB) DeletedChartVersions(ctx context.Context, ns, name string, withQuarantined bool, limit int) ([]DeletedChartVersion, error) {
	query := `SELECT name, version, app_version, chart_digest, chart_size, created_at, pushed_by, deleted_at, quarantined
		FROM chart_versions WHERE namespace = ? AND deleted_at IS NOT NULL`
	args := []any{ns}
	if name != "" {
		query += ` AND name = ?`
		args = append(args, name)
	}
	if !withQuarantined {
		query += ` AND NOT quarantined`
	}
	n := int64(noLimit)
	if limit > 0 {
		n = int64(limit)
	}
	rows, err := db.r.QueryContext(ctx, query+` ORDER BY deleted_at DESC, name, version LIMIT ?`, append(args, n)...)
	if err != nil {
		return nil, fmt.Errorf("deleted versions of %s in %q: %w", name, ns, err)
	}
	defer rows.Close()
	var out []DeletedChartVersion
	for rows.Next() {
		var d DeletedChartVersion
		var created, deleted int64
		if err := rows.Scan(&d.Name, &d.Version, &d.AppVersion, &d.ChartDigest, &d.ChartSize, &created, &d.PushedBy, &deleted, &d.Quarantined); err != nil {
			return nil, fmt.Errorf("deleted versions of %s in %q: %w", name, ns, err)
		}
		d.Created, d.Deleted = time.Unix(0, created).UTC(), time.Unix(0, deleted).UTC()
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("deleted versions of %s in %q: %w", name, ns, err)
	}
	return out, nil
}
