package meta

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Token is an API token of a user. Only the hash of its secret is stored.
type Token struct {
	ID         string
	User       string // the user's name
	SecretHash []byte // SHA-256 of the secret
	// Scopes limit what the token may do, each "<namespace pattern>:<actions>"; none: what
	// its user (and its own grants) allow.
	Scopes      []string
	Description string
	Created     time.Time
	Expires     time.Time // zero: never
	Revoked     time.Time // zero: not revoked
	LastUsed    time.Time // zero: never used (recorded in batches, so it may lag)
}

// CreateToken stores a new token of t.User (ErrNotFound: no such user; ErrExists: the id
// is taken). t.Created is set to now.
func (db *DB) CreateToken(ctx context.Context, t Token, audit *AuditRecord) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var uid int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE name = ?`, t.User).Scan(&uid); err != nil {
			return notFound(err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO tokens (id, user_id, secret_hash, scopes, description, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			t.ID, uid, t.SecretHash, strings.Join(t.Scopes, "\n"), t.Description, db.now().UnixNano(), nullTime(t.Expires))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrExists
		}
		return db.insertAudit(ctx, tx, audit)
	})
	if err != nil {
		return fmt.Errorf("create a token of user %s: %w", t.User, err)
	}
	return nil
}

// RevokeToken marks a token revoked now (ErrNotFound: no such token). Revoking a revoked
// token keeps the first time.
func (db *DB) RevokeToken(ctx context.Context, id string, audit *AuditRecord) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`, db.now().UnixNano(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return db.insertAudit(ctx, tx, audit)
	})
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	return nil
}

// GetToken returns a token by id, or ErrNotFound.
func (db *DB) GetToken(ctx context.Context, id string) (*Token, error) {
	ts, err := listTokens(ctx, db.r, `WHERE t.id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("token %s: %w", id, ErrNotFound)
	}
	return &ts[0], nil
}

// ListTokens returns the tokens of user ("" for every user's), newest first.
func (db *DB) ListTokens(ctx context.Context, user string) ([]Token, error) {
	if user == "" {
		return listTokens(ctx, db.r, "")
	}
	return listTokens(ctx, db.r, `WHERE u.name = ?`, user)
}

func listTokens(ctx context.Context, q queryer, where string, args ...any) ([]Token, error) {
	rows, err := q.QueryContext(ctx, `SELECT t.id, u.name, t.secret_hash, t.scopes, t.description, t.created_at, t.expires_at, t.revoked_at, t.last_used_at
		FROM tokens t JOIN users u ON u.id = t.user_id `+where+` ORDER BY t.created_at DESC, t.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var t Token
		var scopes string
		var created int64
		var expires, revoked, used sql.NullInt64
		if err := rows.Scan(&t.ID, &t.User, &t.SecretHash, &scopes, &t.Description, &created, &expires, &revoked, &used); err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		if scopes != "" {
			t.Scopes = strings.Split(scopes, "\n")
		}
		t.Created = time.Unix(0, created).UTC()
		t.Expires, t.Revoked, t.LastUsed = timeOf(expires), timeOf(revoked), timeOf(used)
		out = append(out, t)
	}
	return out, rows.Err()
}

// TouchTokens records when tokens were last used (id → time), in one transaction; a time
// older than the one recorded is ignored, as are tokens that no longer exist.
func (db *DB) TouchTokens(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for id, at := range used {
			if _, err := stmt.ExecContext(ctx, at.UnixNano(), id, at.UnixNano()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record the last use of tokens: %w", err)
	}
	return nil
}

func nullTime(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func timeOf(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}
