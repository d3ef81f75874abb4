package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// AuthState is everything that decides who may do what, read in one snapshot: users,
// tokens, grants and the namespaces' anonymous read settings, at one generation.
type AuthState struct {
	// Generation is raised by every change to any of the rest (database triggers, whatever
	// makes the change): a cache of the state is current while it is unchanged.
	Generation int64
	Users      []User
	Tokens     []Token
	Grants     []Grant
	// AnonymousRead holds the namespaces whose anonymous read is set, to what.
	AnonymousRead map[string]bool
}

// AuthGeneration returns the generation of the authorization state (see AuthState).
func (db *DB) AuthGeneration(ctx context.Context) (int64, error) {
	var g int64
	if err := db.r.QueryRowContext(ctx, `SELECT generation FROM auth_state WHERE id = 1`).Scan(&g); err != nil {
		return 0, fmt.Errorf("authorization state: %w", err)
	}
	return g, nil
}

// LoadAuthState reads the whole authorization state in one snapshot.
func (db *DB) LoadAuthState(ctx context.Context) (*AuthState, error) {
	tx, err := db.readTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("authorization state: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	st := &AuthState{AnonymousRead: map[string]bool{}}
	if err := tx.QueryRowContext(ctx, `SELECT generation FROM auth_state WHERE id = 1`).Scan(&st.Generation); err != nil {
		return nil, fmt.Errorf("authorization state: %w", err)
	}
	if st.Users, err = listUsers(ctx, tx); err != nil {
		return nil, err
	}
	if st.Tokens, err = listTokens(ctx, tx, ""); err != nil {
		return nil, err
	}
	if st.Grants, err = listGrants(ctx, tx); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT namespace, anonymous_read FROM namespace_settings WHERE anonymous_read IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("authorization state: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ns string
		var on bool
		if err := rows.Scan(&ns, &on); err != nil {
			return nil, fmt.Errorf("authorization state: %w", err)
		}
		st.AnonymousRead[ns] = on
	}
	return st, rows.Err()
}

// TakeSetting returns the value stored under key and removes it: for notes a migration
// leaves for the next start to report once. ok is false when there is none.
func (db *DB) TakeSetting(ctx context.Context, key string) (value string, ok bool, err error) {
	err = db.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&value)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		ok = true
		_, err = tx.ExecContext(ctx, `DELETE FROM settings WHERE key = ?`, key)
		return err
	})
	if err != nil {
		return "", false, fmt.Errorf("setting %s: %w", key, err)
	}
	return value, ok, nil
}
