package meta

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// DefaultPostgresMaxConns is the connection pool size of a PostgreSQL database opened without
// pool_max_conns in its URL.
const DefaultPostgresMaxConns = 10

// writeLockKey is the key of the PostgreSQL advisory lock every write transaction takes first
// (pg_advisory_xact_lock): "chartrm" in ASCII.
const writeLockKey = 0x63686172_74726d

// IsPostgresURL reports whether s names a PostgreSQL database (postgres:// or postgresql://).
func IsPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// RedactURL returns a database URL with its password replaced, for logs and errors.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(a database URL that does not parse)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// OpenPostgres connects to the PostgreSQL database named by a postgres:// URL (libpq's URL
// form, as pgx reads it; the query parameter pool_max_conns sets the pool size, default
// DefaultPostgresMaxConns) and applies any migrations not yet applied. Several processes may
// open the same database at once: migrations and writes are serialized by the database.
func OpenPostgres(ctx context.Context, databaseURL string) (*DB, error) {
	shown := RedactURL(databaseURL)
	u, err := url.Parse(databaseURL)
	if err != nil || !IsPostgresURL(databaseURL) {
		return nil, fmt.Errorf("database %s: not a PostgreSQL URL: expected postgres://USER:PASSWORD@HOST:PORT/DATABASE", shown)
	}
	maxConns := DefaultPostgresMaxConns
	q := u.Query()
	if v := q.Get("pool_max_conns"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 {
			return nil, fmt.Errorf("database %s: pool_max_conns=%q: expected a whole number ≥ 2", shown, v)
		}
		maxConns = n
	}
	q.Del("pool_max_conns")
	u.RawQuery = q.Encode()
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", shown, err)
	}
	pool := sql.OpenDB(rebindConnector{stdlib.GetConnector(*cfg)})
	pool.SetMaxOpenConns(maxConns)
	pool.SetMaxIdleConns(maxConns)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	db := &DB{w: pool, r: pool, now: time.Now, dialect: postgres, queued: make(chan struct{}, 1)}
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database %s: %w (is the server running, and are the host, port, user, password and database name right?)", shown, err)
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", shown, err)
	}
	return db, nil
}

// rebindConnector makes connections that take chartroom's SQL as written: '?' placeholders
// (SQLite's) become PostgreSQL's $1, $2, … (see rebind). Everything else is pgx's stdlib.
type rebindConnector struct{ driver.Connector }

func (c rebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := conn.(*stdlib.Conn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("pgx returned a %T connection", conn)
	}
	return &rebindConn{sc}, nil
}

// rebindConn is a pgx connection whose statements are rebound; its other methods (BeginTx,
// Ping, ResetSession, CheckNamedValue, …) are pgx's.
type rebindConn struct{ *stdlib.Conn }

func (c *rebindConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(rebind(query))
}

func (c *rebindConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(query))
}

func (c *rebindConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(query), args)
}

func (c *rebindConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(query), args)
}

// rebind numbers a statement's '?' placeholders as PostgreSQL's $1, $2, …, leaving alone what
// is inside string literals, quoted identifiers and comments.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		ch := query[i]
		switch {
		case ch == '\'' || ch == '"':
			end := strings.IndexByte(query[i+1:], ch)
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+2])
			i += end + 1
		case ch == '-' && strings.HasPrefix(query[i:], "--"):
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+1])
			i += end
		case ch == '/' && strings.HasPrefix(query[i:], "/*"):
			end := strings.Index(query[i+2:], "*/")
			if end < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+end+4])
			i += end + 3
		case ch == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

// isPostgresUndefinedTable reports whether err is PostgreSQL's "relation does not exist".
func isPostgresUndefinedTable(err error) bool {
	var pe interface{ SQLState() string }
	return errors.As(err, &pe) && pe.SQLState() == "42P01"
}
