-- chartroom metadata, schema 8: garbage collection and retention (chartroom gc, serve --gc-interval).
-- PostgreSQL form of migrations/sqlite/0008_gc.sql (ported as the meta package doc says).

-- A blob garbage collection is deleting from the blob store: set (Unix nanoseconds) in the
-- transaction that found nothing linking the blob, cleared with the row once the bytes are
-- gone. While it is set no repository may link the blob (LinkBlob refuses: upload it again),
-- so a push racing the collection never ends linked to bytes that are being deleted.
ALTER TABLE blobs ADD COLUMN deleting_at BIGINT;

-- Retention of a namespace's prerelease chart versions, applied by garbage collection:
-- keep the newest keep_prereleases of each chart, delete those published more than
-- delete_prereleases_after nanoseconds ago. NULL: no such rule.
ALTER TABLE namespace_settings ADD COLUMN keep_prereleases BIGINT;
ALTER TABLE namespace_settings ADD COLUMN delete_prereleases_after BIGINT;

-- One row: the lease that lets one garbage collection run at a time across every process
-- sharing the database (holder, until when), the last run and the totals of all runs.
CREATE TABLE gc_state (
    id                 INTEGER PRIMARY KEY CHECK (id = 1),
    holder             TEXT    NOT NULL DEFAULT '',
    lease_until        BIGINT  NOT NULL DEFAULT 0,
    last_started_at    BIGINT  NOT NULL DEFAULT 0,
    last_finished_at   BIGINT  NOT NULL DEFAULT 0,
    last_duration      BIGINT  NOT NULL DEFAULT 0,
    last_error         TEXT    NOT NULL DEFAULT '',
    runs               BIGINT  NOT NULL DEFAULT 0,
    bytes_reclaimed    BIGINT  NOT NULL DEFAULT 0,
    blobs_removed      BIGINT  NOT NULL DEFAULT 0,
    manifests_removed  BIGINT  NOT NULL DEFAULT 0,
    uploads_removed    BIGINT  NOT NULL DEFAULT 0,
    versions_removed   BIGINT  NOT NULL DEFAULT 0
);
INSERT INTO gc_state (id) VALUES (1);
