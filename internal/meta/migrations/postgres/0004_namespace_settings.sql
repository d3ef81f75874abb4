-- chartroom metadata, schema 4: settings of a namespace (chartroom namespace set).
-- PostgreSQL form of migrations/sqlite/0004_namespace_settings.sql (ported as the meta package doc says).

-- One row per namespace with settings. artifacthub_repo is the namespace's Artifact Hub
-- repository metadata file (artifacthub-repo.yml) as served, NULL when none is set. The server
-- reads the row when it serves the file or the artifacthub.io tag, so a change made while it
-- runs applies to the next request.
CREATE TABLE namespace_settings (
    namespace        TEXT    PRIMARY KEY,
    artifacthub_repo BYTEA,
    updated_at       BIGINT NOT NULL
);
