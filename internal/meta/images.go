package meta

import (
	"context"
	"database/sql"
	"fmt"
)

// ChartImages is what a chart version records of the container images it deploys
// (migration 0010). The registry decides what they are and how they are encoded; meta
// stores them.
type ChartImages struct {
	// JSON is the images as the registry encoded them; empty while not extracted.
	JSON []byte
	// Error says why rendered images are missing ("" when nothing is).
	Error string
	// Version is the version of the extraction that wrote them; 0 when none did (a version
	// published before migration 0010).
	Version int
}

// GetChartImages returns the images recorded for a chart version of repository, deleted or
// not; ErrNotFound when it was never published.
func (db *DB) GetChartImages(ctx context.Context, repository, version string) (ChartImages, error) {
	var ci ChartImages
	var js string
	err := db.r.QueryRowContext(ctx, `SELECT c.images, c.images_error, c.images_version FROM chart_versions c
		JOIN repositories r ON r.id = c.repository_id WHERE r.name = ? AND c.version = ?`, repository, version).
		Scan(&js, &ci.Error, &ci.Version)
	if err != nil {
		return ci, fmt.Errorf("images of %s %s: %w", repository, version, notFound(err))
	}
	if js != "" {
		ci.JSON = []byte(js)
	}
	return ci, nil
}

// SetChartImages records the images an extraction of version ci.Version found for a chart
// version published before it, unless one of the same or a later version recorded them
// meanwhile (two servers extracting at once both leave the same row). It returns whether it
// wrote; ErrNotFound when the version was never published.
func (db *DB) SetChartImages(ctx context.Context, repository, version string, ci ChartImages) (bool, error) {
	var wrote bool
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var repoID int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM repositories WHERE name = ?`, repository).Scan(&repoID)
		if err != nil {
			return notFound(err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE chart_versions SET images = ?, images_error = ?, images_version = ?
			WHERE repository_id = ? AND version = ? AND images_version < ?`,
			string(ci.JSON), ci.Error, ci.Version, repoID, version, ci.Version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			wrote = true
			return nil
		}
		var one int
		return notFound(tx.QueryRowContext(ctx, `SELECT 1 FROM chart_versions WHERE repository_id = ? AND version = ?`, repoID, version).Scan(&one))
	})
	if err != nil {
		return false, fmt.Errorf("record the images of %s %s: %w", repository, version, err)
	}
	return wrote, nil
}
