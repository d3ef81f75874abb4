package meta

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Grant gives a user or a token a role on namespaces.
type Grant struct {
	User    string // the user's name; "" for a token's grant
	TokenID string // the token's id; "" for a user's grant
	// Namespace is a namespace ("" the root one), "<namespace>/*" or "*" (see auth).
	Namespace string
	Role      string
	Created   time.Time
}

// subject names a grant's holder in messages.
func (g Grant) subject() string {
	if g.TokenID != "" {
		return "token " + g.TokenID
	}
	return "user " + g.User
}

// SetGrant gives g's subject role g.Role on g.Namespace, replacing the role it had there
// (ErrNotFound: no such user or token).
func (db *DB) SetGrant(ctx context.Context, g Grant, audit *AuditRecord) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var err error
		now := db.now().UnixNano()
		if g.TokenID != "" {
			var id string
			if err := tx.QueryRowContext(ctx, `SELECT id FROM tokens WHERE id = ?`, g.TokenID).Scan(&id); err != nil {
				return notFound(err)
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO grants (token_id, namespace, role, created_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (token_id, namespace) WHERE token_id IS NOT NULL DO UPDATE SET role = excluded.role, created_at = excluded.created_at`,
				id, g.Namespace, g.Role, now)
		} else {
			var uid int64
			if err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE name = ?`, g.User).Scan(&uid); err != nil {
				return notFound(err)
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO grants (user_id, namespace, role, created_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (user_id, namespace) WHERE user_id IS NOT NULL DO UPDATE SET role = excluded.role, created_at = excluded.created_at`,
				uid, g.Namespace, g.Role, now)
		}
		if err != nil {
			return err
		}
		return db.insertAudit(ctx, tx, audit)
	})
	if err != nil {
		return fmt.Errorf("grant %s %s on %q: %w", g.subject(), g.Role, g.Namespace, err)
	}
	return nil
}

// DeleteGrant removes the role g's subject has on g.Namespace (g.Role is ignored);
// ErrNotFound when it has none there.
func (db *DB) DeleteGrant(ctx context.Context, g Grant, audit *AuditRecord) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var res sql.Result
		var err error
		if g.TokenID != "" {
			res, err = tx.ExecContext(ctx, `DELETE FROM grants WHERE token_id = ? AND namespace = ?`, g.TokenID, g.Namespace)
		} else {
			res, err = tx.ExecContext(ctx, `DELETE FROM grants WHERE namespace = ? AND user_id = (SELECT id FROM users WHERE name = ?)`, g.Namespace, g.User)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return db.insertAudit(ctx, tx, audit)
	})
	if err != nil {
		return fmt.Errorf("revoke the role of %s on %q: %w", g.subject(), g.Namespace, err)
	}
	return nil
}

// ListGrants returns every grant, users' (by name) then tokens' (by id), each by namespace.
func (db *DB) ListGrants(ctx context.Context) ([]Grant, error) {
	return listGrants(ctx, db.r)
}

func listGrants(ctx context.Context, q queryer) ([]Grant, error) {
	rows, err := q.QueryContext(ctx, `SELECT coalesce(u.name, ''), coalesce(g.token_id, ''), g.namespace, g.role, g.created_at
		FROM grants g LEFT JOIN users u ON u.id = g.user_id
		ORDER BY g.token_id IS NOT NULL, u.name, g.token_id, g.namespace`)
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	defer rows.Close()
	var out []Grant
	for rows.Next() {
		var g Grant
		var created int64
		if err := rows.Scan(&g.User, &g.TokenID, &g.Namespace, &g.Role, &created); err != nil {
			return nil, fmt.Errorf("list grants: %w", err)
		}
		g.Created = time.Unix(0, created).UTC()
		out = append(out, g)
	}
	return out, rows.Err()
}
