-- chartroom metadata, schema 1. Times are Unix nanoseconds (UTC).

CREATE TABLE repositories (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- Every blob the store holds, once, by digest.
CREATE TABLE blobs (
    digest     TEXT    PRIMARY KEY,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

-- Which repositories may read a blob (uploaded or mounted there).
CREATE TABLE repository_blobs (
    repository_id INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest        TEXT    NOT NULL REFERENCES blobs (digest),
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX repository_blobs_digest ON repository_blobs (digest);

-- Manifests are small (≤ 4 MiB) and stored inline: a push is one transaction.
CREATE TABLE manifests (
    repository_id     INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest            TEXT    NOT NULL,
    media_type        TEXT    NOT NULL,
    artifact_type     TEXT    NOT NULL DEFAULT '',
    config_media_type TEXT    NOT NULL DEFAULT '',
    subject           TEXT,
    annotations       TEXT,
    size              INTEGER NOT NULL,
    content           BLOB    NOT NULL,
    created_at        INTEGER NOT NULL,
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX manifests_subject ON manifests (repository_id, subject) WHERE subject IS NOT NULL;

-- What a manifest points at: config and layer blobs, child manifests of an index.
CREATE TABLE manifest_references (
    repository_id   INTEGER NOT NULL,
    manifest_digest TEXT    NOT NULL,
    child_digest    TEXT    NOT NULL,
    PRIMARY KEY (repository_id, manifest_digest, child_digest),
    FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_references_child ON manifest_references (repository_id, child_digest);

CREATE TABLE tags (
    repository_id   INTEGER NOT NULL,
    name            TEXT    NOT NULL,
    manifest_digest TEXT    NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (repository_id, name),
    FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
);

-- One row per published chart version. The primary key is the immutability rule: a version is
-- published once. A deleted version keeps its row (deleted_at set) as a tombstone, so the
-- number can never come back with different content.
CREATE TABLE chart_versions (
    repository_id   INTEGER NOT NULL REFERENCES repositories (id),
    namespace       TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    version         TEXT    NOT NULL,
    manifest_digest TEXT    NOT NULL,
    chart_digest    TEXT    NOT NULL,
    chart_size      INTEGER NOT NULL,
    prov_digest     TEXT    NOT NULL DEFAULT '',
    app_version     TEXT    NOT NULL DEFAULT '',
    description     TEXT    NOT NULL DEFAULT '',
    metadata        TEXT    NOT NULL,
    -- The version's index.yaml entry, rendered once at publish (see internal/repoindex).
    index_yaml      BLOB    NOT NULL DEFAULT '',
    index_json      BLOB    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    pushed_by       TEXT    NOT NULL DEFAULT '',
    deleted_at      INTEGER,
    -- The namespace generation of this row's last publish or delete: an index built at
    -- generation G is brought up to date by the rows whose changed_gen > G.
    changed_gen     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (repository_id, version)
);
CREATE INDEX chart_versions_namespace ON chart_versions (namespace, name);
CREATE INDEX chart_versions_changes ON chart_versions (namespace, changed_gen);

-- A counter per namespace, raised by every change to its charts: the index's cache key and ETag.
CREATE TABLE namespaces (
    name       TEXT    PRIMARY KEY,
    generation INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

-- Installation-wide values shared by all replicas (e.g. the upload-signing secret).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
