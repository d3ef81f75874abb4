package meta

import (
	"context"
	"fmt"
	"time"
)

// Namespaces returns every namespace that ever had a chart version, with its change counter,
// sorted by name: what the web UI lists (a namespace whose versions were all deleted is
// listed too, with its generation; its charts are then none).
func (db *DB) Namespaces(ctx context.Context) ([]Namespace, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT name, generation, updated_at FROM namespaces ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("namespaces: %w", err)
	}
	defer rows.Close()
	var out []Namespace
	for rows.Next() {
		var n Namespace
		var updated int64
		if err := rows.Scan(&n.Name, &n.Generation, &updated); err != nil {
			return nil, fmt.Errorf("namespaces: %w", err)
		}
		n.Updated = time.Unix(0, updated).UTC()
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("namespaces: %w", err)
	}
	return out, nil
}
