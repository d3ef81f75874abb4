package meta

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// noTokenKeysTable reports whether err says the table of schema 7 is missing (a database
// of an older schema, opened as it is by an admin command).
func noTokenKeysTable(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such table")
}

// TokenKey is a key that signs registry tokens (schema 7).
type TokenKey struct {
	ID         string
	Algorithm  string // "ES256"
	PrivateKey []byte // PKCS #8 DER
	Created    time.Time
	Retired    time.Time // zero: the key signs (the newest such key)
}

// TokenKeys returns every stored signing key, newest first.
func (db *DB) TokenKeys(ctx context.Context) ([]TokenKey, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, algorithm, private_key, created_at, retired_at FROM token_keys ORDER BY created_at DESC, id`)
	if err != nil {
		if noTokenKeysTable(err) {
			return nil, fmt.Errorf("token signing keys: the database has no table of them yet (schema 7): start chartroom serve of this version once to upgrade it: %w", err)
		}
		return nil, fmt.Errorf("token signing keys: %w", err)
	}
	defer rows.Close()
	var out []TokenKey
	for rows.Next() {
		var k TokenKey
		var created int64
		var retired sql.NullInt64
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &created, &retired); err != nil {
			return nil, fmt.Errorf("token signing keys: %w", err)
		}
		k.Created, k.Retired = time.Unix(0, created).UTC(), timeOf(retired)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("token signing keys: %w", err)
	}
	return out, nil
}

// AddTokenKey stores k (its Created set to now) as the signing key. With rotate, the keys
// that signed until now are retired now, and keys retired before forgetBefore are removed;
// without, k is stored only when no key signs yet (the first start; concurrent replicas
// store one key between them), and added reports whether it was. audit is recorded with a
// key stored.
func (db *DB) AddTokenKey(ctx context.Context, k TokenKey, rotate bool, forgetBefore time.Time, audit *AuditRecord) (added bool, err error) {
	err = db.tx(ctx, func(tx *sql.Tx) error {
		now := db.now().UnixNano()
		if rotate {
			if _, err := tx.ExecContext(ctx, `UPDATE token_keys SET retired_at = ? WHERE retired_at IS NULL`, now); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM token_keys WHERE retired_at IS NOT NULL AND retired_at < ?`, forgetBefore.UnixNano()); err != nil {
				return err
			}
		} else {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM token_keys WHERE retired_at IS NULL`).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO token_keys (id, algorithm, private_key, created_at) VALUES (?, ?, ?, ?)`,
			k.ID, k.Algorithm, k.PrivateKey, now); err != nil {
			return err
		}
		added = true
		return db.insertAudit(ctx, tx, audit)
	})
	if err != nil {
		if noTokenKeysTable(err) {
			return false, fmt.Errorf("store a token signing key: the database has no table of them yet (schema 7): start chartroom serve of this version once to upgrade it: %w", err)
		}
		return false, fmt.Errorf("store a token signing key: %w", err)
	}
	return added, nil
}
