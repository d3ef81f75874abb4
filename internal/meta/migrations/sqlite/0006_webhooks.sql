-- chartroom metadata, schema 6: webhooks (chartroom webhook) and the queue of their deliveries.

-- A URL told about the events of one namespace. The secret signs each delivery (HMAC-SHA256),
-- so it is stored as it is, not hashed. events lists the event types sent, space-separated.
-- allow_local: deliveries may connect to loopback and link-local addresses (refused otherwise).
CREATE TABLE webhooks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace   TEXT    NOT NULL,
    url         TEXT    NOT NULL,
    events      TEXT    NOT NULL,
    secret      TEXT    NOT NULL,
    allow_local INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);
CREATE INDEX webhooks_namespace ON webhooks (namespace);

-- The outbox: one row per event some webhook is told about, written in the transaction of the
-- change it reports (a publish, a push, a delete), so a crash neither loses nor invents one.
-- id orders events as their changes committed; event_id is what receivers de-duplicate by.
-- data holds the event's facts (JSON).
CREATE TABLE webhook_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT    NOT NULL UNIQUE,
    type       TEXT    NOT NULL,
    namespace  TEXT    NOT NULL,
    repository TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

-- One row per event and webhook, written with the event. A webhook's pending deliveries go
-- out one at a time in id order: the lowest pending one (its head) is sent, retried until it
-- succeeds or fails for good, and only then the next. A sender claims a head by setting
-- lease_owner and lease_until; an expired lease may be taken over. started_at begins the
-- current round of attempts (the row's creation, or a redelivery) for the give-up time.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id        INTEGER NOT NULL REFERENCES webhook_events (id),
    state           TEXT    NOT NULL DEFAULT 'pending', -- pending, succeeded, failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    lease_owner     TEXT,
    lease_until     INTEGER,
    started_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    created_at      INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_at) WHERE finished_at IS NOT NULL;
