package meta

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// Webhooks: URLs told about the events of a namespace, and the outbox those events are
// queued in. An event is queued in the transaction of the change it reports, with one
// delivery per webhook that wants it, so a change that commits always has its deliveries and
// one that rolls back has none (a transactional outbox). Sending them is the webhook
// package's; this file and deliveries.go are their storage.

// Event types webhooks can be told about.
const (
	// EventChartPublished: a chart version was published (first, or again with the same
	// archive after a delete), over either protocol.
	EventChartPublished = "chart.published"
	// EventChartDeleted: a chart version was deleted (it stays a tombstone).
	EventChartDeleted = "chart.deleted"
	// EventArtifactPushed: a push stored a manifest new to its repository or pointed a tag at
	// one, charts included: a chart push that publishes its version is chart.published and
	// artifact.pushed. Pushing a published chart version again with the same archive
	// changes nothing and is neither.
	EventArtifactPushed = "artifact.pushed"
)

// EventTypes are all event types, in the order events of one change are queued.
var EventTypes = []string{EventChartPublished, EventChartDeleted, EventArtifactPushed}

// Webhook is a URL told about some events of one namespace.
type Webhook struct {
	ID        int64
	Namespace string // "" for the root namespace
	URL       string
	Events    []string // a subset of EventTypes
	// Secret is the key of the deliveries' HMAC signatures.
	Secret string
	// AllowLocal lets deliveries connect to loopback and link-local addresses, which are
	// refused otherwise (they reach the server's own machine, or a cloud's metadata service).
	AllowLocal bool
	Created    time.Time
	// Pending and Failed count the webhook's deliveries in those states (set by Webhooks).
	Pending, Failed int
}

// Event is one change webhooks are told about.
type Event struct {
	// Seq orders events as their changes committed.
	Seq int64 `json:"-"`
	// ID is unique: receivers de-duplicate deliveries by it.
	ID         string    `json:"-"`
	Type       string    `json:"-"`
	Time       time.Time `json:"-"`
	Namespace  string    `json:"-"`
	Repository string    `json:"-"`
	// Actor is the user who made the change ("" when unknown).
	Actor string `json:"actor,omitempty"`
	// Digest, MediaType and ArtifactType describe the manifest.
	Digest       digest.Digest `json:"digest"`
	MediaType    string        `json:"mediaType,omitempty"`
	ArtifactType string        `json:"artifactType,omitempty"`
	// Tags are the tags the push pointed at the manifest (for a chart: its version's).
	Tags []string `json:"tags,omitempty"`
	// Chart is set for a chart version's events.
	Chart *EventChart `json:"chart,omitempty"`
}

// EventChart is the chart version an event is about.
type EventChart struct {
	Name       string        `json:"name"`
	Version    string        `json:"version"`
	Digest     digest.Digest `json:"digest"` // the .tgz archive
	ProvDigest digest.Digest `json:"provDigest,omitempty"`
	AppVersion string        `json:"appVersion,omitempty"`
}

// chartEvent is an event about chart version c.
func chartEvent(typ string, c *ChartVersion, m digest.Digest, mediaType, artifactType, actor string) *Event {
	return &Event{
		Type: typ, Namespace: c.Namespace, Repository: c.Repository, Actor: actor,
		Digest: m, MediaType: mediaType, ArtifactType: artifactType,
		Chart: &EventChart{Name: c.Name, Version: c.Version, Digest: c.ChartDigest, ProvDigest: c.ProvDigest, AppVersion: c.AppVersion},
	}
}

// repositoryNamespace is the namespace of a repository: all but its last component.
func repositoryNamespace(repo string) string {
	if i := strings.LastIndexByte(repo, '/'); i >= 0 {
		return repo[:i]
	}
	return ""
}

// enqueue queues ev, in the caller's transaction, for every webhook of its namespace that
// wants its type; an event no webhook wants is not stored. It reports whether it queued.
func (db *DB) enqueue(ctx context.Context, tx *sql.Tx, ev *Event) (bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, events FROM webhooks WHERE namespace = ? ORDER BY id`, ev.Namespace)
	if err != nil {
		return false, fmt.Errorf("queue %s event: %w", ev.Type, err)
	}
	var hooks []int64
	for rows.Next() {
		var id int64
		var events string
		if err := rows.Scan(&id, &events); err != nil {
			rows.Close()
			return false, err
		}
		if slices.Contains(strings.Fields(events), ev.Type) {
			hooks = append(hooks, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(hooks) == 0 {
		return false, err
	}
	now := db.now()
	ev.ID, ev.Time = newEventID(), now.UTC()
	data, err := json.Marshal(ev)
	if err != nil {
		return false, err
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO webhook_events (event_id, type, namespace, repository, data, created_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, ev.ID, ev.Type, ev.Namespace, ev.Repository, string(data), now.UnixNano()).Scan(&ev.Seq)
	if err != nil {
		return false, fmt.Errorf("queue %s event: %w", ev.Type, err)
	}
	for _, id := range hooks {
		_, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (webhook_id, event_id, next_attempt_at, started_at, created_at)
			VALUES (?, ?, ?, ?, ?)`, id, ev.Seq, now.UnixNano(), now.UnixNano(), now.UnixNano())
		if err != nil {
			return false, fmt.Errorf("queue %s event: %w", ev.Type, err)
		}
	}
	return true, nil
}

// outbox collects what one transaction queues, to wake the sender once it committed.
type outbox struct {
	db     *DB
	queued bool
}

// add queues the events (nil ones skipped) in tx.
func (o *outbox) add(ctx context.Context, tx *sql.Tx, events ...*Event) error {
	for _, ev := range events {
		if ev == nil {
			continue
		}
		ok, err := o.db.enqueue(ctx, tx, ev)
		if err != nil {
			return err
		}
		o.queued = o.queued || ok
	}
	return nil
}

// committed wakes the sender when the transaction queued something.
func (o *outbox) committed() {
	if o.queued {
		select {
		case o.db.queued <- struct{}{}:
		default:
		}
	}
}

// Queued receives a value after a change of this process queued deliveries, so that a sender
// waiting for work starts at once instead of at its next poll. Changes of other processes
// (chartroom webhook redeliver, other replicas) are found by polling.
func (db *DB) Queued() <-chan struct{} { return db.queued }

// newEventID returns a random (version 4) UUID.
func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// AddWebhook stores w (its ID and Created are set) and returns it as stored, with audit (its
// Detail completed with the webhook's id; nil: none) in the same transaction.
func (db *DB) AddWebhook(ctx context.Context, w Webhook, audit *AuditRecord) (*Webhook, error) {
	w.Created = db.now().UTC()
	err := db.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO webhooks (namespace, url, events, secret, allow_local, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
			w.Namespace, w.URL, strings.Join(w.Events, " "), w.Secret, w.AllowLocal, w.Created.UnixNano()).Scan(&w.ID)
		if err != nil || audit == nil {
			return err
		}
		rec := *audit
		rec.Detail = strings.TrimSpace(fmt.Sprintf("webhook %d %s", w.ID, rec.Detail))
		return db.insertAudit(ctx, tx, &rec)
	})
	if err != nil {
		return nil, fmt.Errorf("add webhook: %w", err)
	}
	return &w, nil
}

const webhookColumns = `w.id, w.namespace, w.url, w.events, w.secret, w.allow_local, w.created_at`

func scanWebhook(row interface{ Scan(...any) error }, more ...any) (*Webhook, error) {
	w := &Webhook{}
	var events string
	var created int64
	if err := row.Scan(append([]any{&w.ID, &w.Namespace, &w.URL, &events, &w.Secret, &w.AllowLocal, &created}, more...)...); err != nil {
		return nil, err
	}
	w.Events = strings.Fields(events)
	w.Created = time.Unix(0, created).UTC()
	return w, nil
}

// Webhooks lists the webhooks in ID order, with the counts of their pending and failed
// deliveries.
func (db *DB) Webhooks(ctx context.Context) ([]Webhook, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+webhookColumns+`,
		(SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.state = 'pending'),
		(SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.state = 'failed')
		FROM webhooks w ORDER BY w.id`)
	if errNoWebhookTables(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	defer rows.Close()
	var out []Webhook
	for rows.Next() {
		var pending, failed int
		w, err := scanWebhook(rows, &pending, &failed)
		if err != nil {
			return nil, fmt.Errorf("list webhooks: %w", err)
		}
		w.Pending, w.Failed = pending, failed
		out = append(out, *w)
	}
	return out, rows.Err()
}

// GetWebhook returns webhook id; ErrNotFound when there is none.
func (db *DB) GetWebhook(ctx context.Context, id int64) (*Webhook, error) {
	w, err := scanWebhook(db.r.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks w WHERE w.id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("webhook %d: %w", id, notFound(err))
	}
	return w, nil
}

// DeleteWebhook removes webhook id with its deliveries, and returns how many of them were
// still pending (they are never sent); audit (nil: none) is recorded in the same transaction.
// ErrNotFound when there is no such webhook.
func (db *DB) DeleteWebhook(ctx context.Context, id int64, audit *AuditRecord) (pending int, err error) {
	err = db.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM webhook_deliveries WHERE webhook_id = ? AND state = 'pending'`, id).Scan(&pending); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if err := db.insertAudit(ctx, tx, audit); err != nil {
			return err
		}
		return deleteUnreferencedEvents(ctx, tx)
	})
	if err != nil {
		return 0, fmt.Errorf("delete webhook %d: %w", id, err)
	}
	return pending, nil
}

// deleteUnreferencedEvents removes the events no delivery refers to any more.
func deleteUnreferencedEvents(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM webhook_events WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)`)
	return err
}

// scanEvent reads an event's columns (id, event_id, type, namespace, repository, data, created_at).
func scanEvent(seq int64, id, typ, ns, repo, data string, created int64) (*Event, error) {
	ev := &Event{}
	if err := json.Unmarshal([]byte(data), ev); err != nil {
		return nil, fmt.Errorf("event %s: %w", id, err)
	}
	ev.Seq, ev.ID, ev.Type, ev.Namespace, ev.Repository = seq, id, typ, ns, repo
	ev.Time = time.Unix(0, created).UTC()
	return ev, nil
}

// errNoWebhookTables is how a database of a schema before webhooks answers.
func errNoWebhookTables(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such table") || isPostgresUndefinedTable(err)
}
