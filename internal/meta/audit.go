package meta

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// AuditRecord is one entry of the audit log: who did (or was refused) what, when, from
// where, on what. It never holds a secret.
type AuditRecord struct {
	ID      int64
	At      time.Time
	Actor   string // the user ("" anonymous; "cli:<os user>" for the admin commands)
	TokenID string // the token the user signed in with, "" for a password
	Address string // the client's IP address ("local" for the admin commands)
	// Action is what was done: a route name (oci.manifest.put, repo.api.charts.upload, …) or
	// an admin command (user.add, token.create, grant, …).
	Action     string
	Repository string // repository or namespace acted on, "" for none
	Version    string // chart version or tag, "" for none
	Digest     string // manifest or archive digest, "" for none
	// Outcome is "ok", or why it failed or was refused: unauthorized, denied, hidden (a read
	// answered as if the repository did not exist), throttled, version_exists, ….
	Outcome string
	Detail  string // more, e.g. the role granted, a token's scopes
	Count   int    // alike records merged into this one (denials that came together); ≥ 1
}

// insertAudit adds rec in tx; nil adds nothing.
func (db *DB) insertAudit(ctx context.Context, tx *sql.Tx, rec *AuditRecord) error {
	if rec == nil {
		return nil
	}
	r := *rec
	if r.At.IsZero() {
		r.At = db.now()
	}
	r.Count = max(r.Count, 1)
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (at, actor, token_id, address, action, repository, version, digest, outcome, detail, count)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.At.UnixNano(), r.Actor, r.TokenID, r.Address, r.Action, r.Repository, r.Version, r.Digest, r.Outcome, r.Detail, r.Count)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

// AppendAudit adds records to the audit log in one transaction.
func (db *DB) AppendAudit(ctx context.Context, recs []AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		for i := range recs {
			if err := db.insertAudit(ctx, tx, &recs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// AuditQuery selects audit records. The zero value selects the latest DefaultAuditLimit.
type AuditQuery struct {
	Since, Until time.Time // zero: unbounded
	// Repository is a repository or namespace, exactly, or "<prefix>/*" for everything under
	// prefix; "" for all.
	Repository string
	Actor      string // "" for all
	Action     string // exactly (user.add, oci.manifest.put, …); "" for all
	Outcome    string // exactly (ok, denied, version_exists, …); "" for all
	// Denied selects only refused requests (outcomes unauthorized, denied, hidden, throttled).
	Denied bool
	// BeforeID pages back: only records older than this one (0: from the newest).
	BeforeID int64
	Limit    int // 0: DefaultAuditLimit
}

// DefaultAuditLimit is how many records an AuditQuery without Limit returns.
const DefaultAuditLimit = 100

// DeniedOutcomes are the outcomes of refused requests.
var DeniedOutcomes = []string{"unauthorized", "denied", "hidden", "throttled"}

// Audit returns the records q selects, newest first.
func (db *DB) Audit(ctx context.Context, q AuditQuery) ([]AuditRecord, error) {
	var where []string
	var args []any
	if !q.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		where, args = append(where, "at < ?"), append(args, q.Until.UnixNano())
	}
	if prefix, ok := strings.CutSuffix(q.Repository, "/*"); ok {
		where, args = append(where, "(repository = ? OR substr(repository, 1, ?) = ?)"), append(args, prefix, len(prefix)+1, prefix+"/")
	} else if q.Repository == "*" {
		// everything
	} else if q.Repository != "" {
		where, args = append(where, "repository = ?"), append(args, q.Repository)
	}
	if q.Actor != "" {
		where, args = append(where, "actor = ?"), append(args, q.Actor)
	}
	if q.Action != "" {
		where, args = append(where, "action = ?"), append(args, q.Action)
	}
	if q.Outcome != "" {
		where, args = append(where, "outcome = ?"), append(args, q.Outcome)
	}
	if q.Denied {
		where = append(where, "outcome IN ('"+strings.Join(DeniedOutcomes, "', '")+"')")
	}
	if q.BeforeID > 0 {
		where, args = append(where, "id < ?"), append(args, q.BeforeID)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultAuditLimit
	}
	query := `SELECT id, at, actor, token_id, address, action, repository, version, digest, outcome, detail, count FROM audit_log`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id DESC LIMIT ?"
	rows, err := db.r.QueryContext(ctx, query, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("read the audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditRecord
	for rows.Next() {
		var r AuditRecord
		var at int64
		if err := rows.Scan(&r.ID, &at, &r.Actor, &r.TokenID, &r.Address, &r.Action, &r.Repository, &r.Version, &r.Digest, &r.Outcome, &r.Detail, &r.Count); err != nil {
			return nil, fmt.Errorf("read the audit log: %w", err)
		}
		r.At = time.Unix(0, at).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// PruneAudit removes the audit records older than before and returns how many it removed,
// in transactions of at most pruneBatch rows, so that writers never wait long for it.
func (db *DB) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := db.tx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < ? ORDER BY id LIMIT ?)`,
				before.UnixNano(), pruneBatch)
			if err != nil {
				return err
			}
			n, _ = res.RowsAffected()
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("prune the audit log: %w", err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

const pruneBatch = 10000
