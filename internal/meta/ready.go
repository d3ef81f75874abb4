package meta

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
)

// probeKey is the settings row CheckWritable rewrites.
const probeKey = "ready.probe"

// CheckWritable proves that the database takes writes now: it commits one small settings
// row (the time of the check). It is cheap enough to back a readiness check.
func (db *DB) CheckWritable(ctx context.Context) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
			probeKey, strconv.FormatInt(db.now().UnixNano(), 10))
		return err
	})
	if err != nil {
		return fmt.Errorf("database is not writable: %w", err)
	}
	return nil
}
