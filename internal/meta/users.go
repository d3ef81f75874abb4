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
	Role         string
	Created      time.Time
}

// CreateUser adds a user. ErrExists when the name is taken.
func (db *DB) CreateUser(ctx context.Context, u User) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO users (name, password_hash, role, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
			u.Name, u.PasswordHash, u.Role, db.now().UnixNano())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrExists
		}
		return nil
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

// CountUsers returns how many users exist.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}
