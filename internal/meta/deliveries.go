package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The queue of webhook deliveries: claimed by a sender with a lease, finished with the outcome
// of each attempt, listed for people (chartroom webhook deliveries).

// Delivery states.
const (
	// DeliveryPending: not sent yet, or to be retried at NextAttempt.
	DeliveryPending = "pending"
	// DeliverySucceeded: the webhook answered 2xx; never sent again (unless redelivered).
	DeliverySucceeded = "succeeded"
	// DeliveryFailed: failed for good (attempts or time used up); the webhook's next delivery
	// went ahead.
	DeliveryFailed = "failed"
)

// ErrLeaseLost means a sender finished a delivery it no longer holds: its lease expired and
// another sender took it over, or the webhook was deleted meanwhile.
var ErrLeaseLost = errors.New("the delivery is no longer claimed by this sender")

// ErrDeliveryPending means a redelivery was asked of a delivery still queued.
var ErrDeliveryPending = errors.New("the delivery is still pending")

// Delivery is one event queued for one webhook.
type Delivery struct {
	ID        int64
	WebhookID int64
	Event     Event
	State     string // DeliveryPending, DeliverySucceeded or DeliveryFailed
	Attempts  int
	// NextAttempt is when a pending delivery is due.
	NextAttempt time.Time
	// LastAttempt is when the last attempt ended (zero before the first).
	LastAttempt time.Time
	// LastStatus is the HTTP status of the last attempt (0 when none came back).
	LastStatus int
	// LastError says why the last attempt failed ("" after a success).
	LastError string
	// Started begins the current round of attempts: queued, or redelivered.
	Started time.Time
	// Finished is when it succeeded or failed for good (zero while pending).
	Finished time.Time
	// LeaseOwner names the sender holding a pending delivery until LeaseUntil ("" when none).
	LeaseOwner string
	LeaseUntil time.Time
}

// Claim is a delivery a sender claimed, with the webhook to send it to.
type Claim struct {
	Delivery
	Webhook Webhook
}

const deliveryColumns = `d.id, d.webhook_id, d.state, d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_status, d.last_error,
	d.started_at, d.finished_at, d.lease_owner, d.lease_until,
	e.id, e.event_id, e.type, e.namespace, e.repository, e.data, e.created_at`

func scanDelivery(row interface{ Scan(...any) error }, more ...any) (*Delivery, error) {
	d := &Delivery{}
	var next, started, eventCreated int64
	var last, finished, leaseUntil sql.NullInt64
	var owner sql.NullString
	var seq int64
	var eventID, typ, ns, repo, data string
	err := row.Scan(append([]any{&d.ID, &d.WebhookID, &d.State, &d.Attempts, &next, &last, &d.LastStatus, &d.LastError,
		&started, &finished, &owner, &leaseUntil,
		&seq, &eventID, &typ, &ns, &repo, &data, &eventCreated}, more...)...)
	if err != nil {
		return nil, err
	}
	ev, err := scanEvent(seq, eventID, typ, ns, repo, data, eventCreated)
	if err != nil {
		return nil, err
	}
	d.Event = *ev
	d.NextAttempt = time.Unix(0, next).UTC()
	d.Started = time.Unix(0, started).UTC()
	if last.Valid {
		d.LastAttempt = time.Unix(0, last.Int64).UTC()
	}
	if finished.Valid {
		d.Finished = time.Unix(0, finished.Int64).UTC()
	}
	if owner.Valid && leaseUntil.Valid {
		d.LeaseOwner, d.LeaseUntil = owner.String, time.Unix(0, leaseUntil.Int64).UTC()
	}
	return d, nil
}

// ClaimDeliveries claims, for sender owner until now + lease, the deliveries due now that may
// go out, at most n: of each webhook the lowest pending delivery (its head), when no delivery
// of that webhook is claimed already, so that each webhook receives its events one at a time
// and in the order they were queued. Each claim is a conditional update of the row, which
// also decides between senders (replicas) claiming at once: a claimed head is skipped until
// its lease expires. Most overdue first.
func (db *DB) ClaimDeliveries(ctx context.Context, owner string, lease time.Duration, n int) ([]Claim, error) {
	if n <= 0 {
		return nil, nil
	}
	now := db.now().UnixNano()
	// Most polls find nothing: answer them from the read pool, without taking the writer.
	var due bool
	err := db.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_deliveries
		WHERE state = 'pending' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?))`, now, now).Scan(&due)
	if err != nil || !due {
		if errNoWebhookTables(err) {
			err = nil
		}
		return nil, wrapErr("claim webhook deliveries", err)
	}
	var claimed []int64
	err = db.tx(ctx, func(tx *sql.Tx) error {
		claimed = claimed[:0]
		rows, err := tx.QueryContext(ctx, `
			WITH heads AS (
				SELECT webhook_id, min(id) AS id, max(CASE WHEN coalesce(lease_until, 0) > ? THEN 1 ELSE 0 END) AS busy
				FROM webhook_deliveries WHERE state = 'pending' GROUP BY webhook_id)
			SELECT d.id FROM heads h JOIN webhook_deliveries d ON d.id = h.id
			WHERE h.busy = 0 AND d.next_attempt_at <= ?
			ORDER BY d.next_attempt_at, d.id LIMIT ?`, now, now, n)
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET lease_owner = ?, lease_until = ?
				WHERE id = ? AND state = 'pending' AND (lease_until IS NULL OR lease_until <= ?)`,
				owner, now+int64(lease), id, now)
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k == 1 {
				claimed = append(claimed, id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	out := make([]Claim, 0, len(claimed))
	for _, id := range claimed {
		row := db.r.QueryRowContext(ctx, `SELECT `+deliveryColumns+`, `+webhookColumns+`
			FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id JOIN webhooks w ON w.id = d.webhook_id
			WHERE d.id = ?`, id)
		var c Claim
		var hookID int64
		var ns, url, events, secret string
		var allowLocal bool
		var created int64
		d, err := scanDelivery(row, &hookID, &ns, &url, &events, &secret, &allowLocal, &created)
		if errors.Is(err, sql.ErrNoRows) {
			continue // the webhook was deleted since
		}
		if err != nil {
			return out, fmt.Errorf("claim webhook delivery %d: %w", id, err)
		}
		c.Delivery = *d
		c.Webhook = Webhook{ID: hookID, Namespace: ns, URL: url, Events: strings.Fields(events), Secret: secret, AllowLocal: allowLocal, Created: time.Unix(0, created).UTC()}
		out = append(out, c)
	}
	return out, nil
}

// DeliveryOutcome is the result of one attempt to send a delivery.
type DeliveryOutcome struct {
	// Succeeded: the webhook answered 2xx.
	Succeeded bool
	// Status is the HTTP status answered (0 when none came back).
	Status int
	// Error says why the attempt failed.
	Error string
	// RetryAt is when to try a failed attempt again; zero means the delivery failed for good.
	RetryAt time.Time
}

// FinishAttempt records the outcome of an attempt of delivery id, which sender owner claimed,
// and releases the claim. ErrLeaseLost when owner no longer holds it.
func (db *DB) FinishAttempt(ctx context.Context, id int64, owner string, o DeliveryOutcome) error {
	now := db.now().UnixNano()
	state, next := DeliveryPending, o.RetryAt.UnixNano()
	var finished sql.NullInt64
	switch {
	case o.Succeeded:
		state, next, finished = DeliverySucceeded, now, sql.NullInt64{Int64: now, Valid: true}
	case o.RetryAt.IsZero():
		state, next, finished = DeliveryFailed, now, sql.NullInt64{Int64: now, Valid: true}
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, next_attempt_at = ?,
				last_attempt_at = ?, last_status = ?, last_error = ?, finished_at = ?, lease_owner = NULL, lease_until = NULL
			WHERE id = ? AND state = 'pending' AND lease_owner = ?`,
			state, next, now, o.Status, o.Error, finished, id, owner)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrLeaseLost
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record webhook delivery %d: %w", id, err)
	}
	return nil
}

// ReleaseClaims releases every claim on pending deliveries, so they are sent at once instead
// of after their leases expire. Only a sender that knows no other one runs may call it: chartroom
// serve at its start, holding the data directory's lock.
func (db *DB) ReleaseClaims(ctx context.Context) (int, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL`)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("release webhook delivery claims: %w", err)
	}
	return int(n), nil
}

// DeliveryFilter selects deliveries to list.
type DeliveryFilter struct {
	// WebhookID keeps one webhook's deliveries; 0 keeps all.
	WebhookID int64
	// Failing keeps deliveries whose last attempt failed: failed for good, or pending a retry.
	Failing bool
	// Limit bounds how many are listed, newest first; ≤ 0 lists all.
	Limit int
}

// Deliveries lists deliveries, newest first.
func (db *DB) Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error) {
	query := `SELECT ` + deliveryColumns + ` FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id WHERE 1 = 1`
	var args []any
	if f.WebhookID != 0 {
		query += ` AND d.webhook_id = ?`
		args = append(args, f.WebhookID)
	}
	if f.Failing {
		query += ` AND (d.state = 'failed' OR d.state = 'pending' AND d.attempts > 0)`
	}
	query += ` ORDER BY d.id DESC`
	if f.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := db.r.QueryContext(ctx, query, args...)
	if errNoWebhookTables(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list webhook deliveries: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("list webhook deliveries: %w", err)
		}
		out = append(out, *d)
	}
	return out, rows.Err()
}

// Redeliver queues a finished delivery (succeeded or failed) again: it is due at once, with
// a fresh round of attempts, ahead of the webhook's later pending deliveries (it is older).
// ErrNotFound when there is none; ErrDeliveryPending when it is still queued.
func (db *DB) Redeliver(ctx context.Context, id int64) (*Delivery, error) {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var state string
		if err := tx.QueryRowContext(ctx, `SELECT state FROM webhook_deliveries WHERE id = ?`, id).Scan(&state); err != nil {
			return notFound(err)
		}
		if state == DeliveryPending {
			return ErrDeliveryPending
		}
		now := db.now().UnixNano()
		_, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, started_at = ?,
			finished_at = NULL, last_status = 0, last_error = '', lease_owner = NULL, lease_until = NULL WHERE id = ?`, now, now, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("redeliver webhook delivery %d: %w", id, err)
	}
	d, err := scanDelivery(db.w.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id WHERE d.id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("redeliver webhook delivery %d: %w", id, notFound(err))
	}
	return d, nil
}

// PruneDeliveries removes the deliveries finished (succeeded or failed) before before, and the
// events no delivery refers to any more; it returns how many deliveries it removed.
func (db *DB) PruneDeliveries(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE finished_at IS NOT NULL AND finished_at < ?`, before.UnixNano())
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		return deleteUnreferencedEvents(ctx, tx)
	})
	if err != nil {
		return 0, fmt.Errorf("prune webhook deliveries: %w", err)
	}
	return int(n), nil
}

// wrapErr wraps a non-nil err with what failed.
func wrapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
