-- chartroom metadata, schema 11: proxy namespaces (chartroom proxy add), the upstream listing
-- each refresh stores, and the mark of a pinned version the upstream changed.
-- PostgreSQL form of migrations/sqlite/0011_proxy_namespaces.sql.
-- (Schema 10 is another change's; the migration runner applies each file it has not applied.)

-- A namespace that proxies an upstream: a classic repository (upstream: the URL of the
-- directory of its index.yaml) or an OCI namespace (upstream: oci://HOST/NS). username and
-- password are the upstream's Basic credentials, stored as given (plain text: protect the
-- database as the credentials deserve). refresh_seconds: how often the listing is read again.
-- mirror: true makes every refresh also fetch every listed version. lease_holder/lease_until: the
-- replica refreshing it now. last_refresh (unix ns, NULL never), last_attempt, last_error: the
-- outcome of the last refresh ('' success).
CREATE TABLE proxies (
    namespace       TEXT    NOT NULL PRIMARY KEY,
    upstream        TEXT    NOT NULL,
    username        TEXT    NOT NULL DEFAULT '',
    password        TEXT    NOT NULL DEFAULT '',
    refresh_seconds BIGINT  NOT NULL,
    mirror          BOOLEAN NOT NULL DEFAULT false,
    created_at      BIGINT  NOT NULL,
    last_refresh    BIGINT,
    last_attempt    BIGINT,
    last_error      TEXT    NOT NULL DEFAULT '',
    lease_holder    TEXT    NOT NULL DEFAULT '',
    lease_until     BIGINT  NOT NULL DEFAULT 0
);

-- The upstream's versions as its last successful refresh listed them. digest: the archive's
-- sha256 ('sha256:<hex>') the upstream announces ('' when it announces none). source: where
-- the archive is (a URL for a classic upstream; the repository:tag for an OCI upstream).
-- metadata: Chart.yaml as JSON (the index entry's fields). created: the upstream's date (unix ns).
CREATE TABLE proxy_versions (
    namespace   TEXT    NOT NULL REFERENCES proxies (namespace) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    digest      TEXT    NOT NULL DEFAULT '',
    source      TEXT    NOT NULL,
    metadata    TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (namespace, name, version)
);

-- The upstream's digest of a pinned (fetched) version when the upstream later listed or served
-- other bytes under it ('' when it never did): chartroom keeps serving the pinned bytes.
ALTER TABLE chart_versions ADD COLUMN upstream_changed TEXT NOT NULL DEFAULT '';
