package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrExists means a row with that unique name already exists.
var ErrExists = errors.New("already exists")

// User is an account that can sign in.
type User struct {
	ID           int64
	Name         string
	PasswordHash string // bcrypt
	// Role is what schema 1 to 4 stored ("admin" for the bootstrap user); since schema 5
	// what a user may do comes from its grants only.
	Role    string
	Created time.Time
}

// CreateUser adds a user with its grants (Grant.Namespace and Role; the subject is the new
// user) and audit record (nil: none), in one transaction. ErrExists when the name is taken.
func (db *DB) CreateUser(ctx context.Context, u User, grants []Grant, audit *AuditRecord) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO users (name, password_hash, role, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING id`,
			u.Name, u.PasswordHash, u.Role, db.now().UnixNano()).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrExists
		}
		if err != nil {
			return err
		}
		for _, g := range grants {
			if _, err := tx.ExecContext(ctx, `INSERT INTO grants (user_id, namespace, role, created_at) VALUES (?, ?, ?, ?)`,
				id, g.Namespace, g.Role, db.now().UnixNano()); err != nil {
				return err
			}
		}
		return db.insertAudit(ctx, tx, audit)
	})
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.Name, err)
	}
	return nil
}

// GetUser returns the named user, or ErrNotFound.
func (db *DB) GetUser(ctx context.Context, name string) (*User, error) {
	u := &User{}
	var created int64
	err := db.r.QueryRowContext(ctx, `SELECT id, name, password_hash, role, created_at FROM users WHERE name = ?`, name).
		Scan(&u.ID, &u.Name, &u.PasswordHash, &u.Role, &created)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", name, notFound(err))
	}
	u.Created = time.Unix(0, created).UTC()
	return u, nil
}

// ListUsers returns every user, by name.
func (db *DB) ListUsers(ctx context.Context) ([]User, error) {
	return listUsers(ctx, db.r)
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func listUsers(ctx context.Context, q queryer) ([]User, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, name, password_hash, role, created_at FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		var created int64
		if err := rows.Scan(&u.ID, &u.Name, &u.PasswordHash, &u.Role, &created); err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		u.Created = time.Unix(0, created).UTC()
		out = append(out, u)
	}
	return out, rows.Err()
}

// SetPassword replaces a user's password hash (ErrNotFound: no such user).
func (db *DB) SetPassword(ctx context.Context, name, hash string, audit *AuditRecord) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE name = ?`, hash, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return db.insertAudit(ctx, tx, audit)
	})
	if err != nil {
		return fmt.Errorf("set the password of user %s: %w", name, err)
	}
	return nil
}

// DeleteUser removes a user with its tokens and grants (ErrNotFound: no such user).
func (db *DB) DeleteUser(ctx context.Context, name string, audit *AuditRecord) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return db.insertAudit(ctx, tx, audit)
	})
	if err != nil {
		return fmt.Errorf("delete user %s: %w", name, err)
	}
	return nil
}

// CountUsers returns how many users exist.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}
