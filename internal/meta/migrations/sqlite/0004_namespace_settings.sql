-- chartroom metadata, schema 4: settings of a namespace (chartroom namespace set).

-- One row per namespace with settings. artifacthub_repo is the namespace's Artifact Hub
-- repository metadata file (artifacthub-repo.yml) as served, NULL when none is set. The server
-- reads the row when it serves the file or the artifacthub.io tag, so a change made while it
-- runs applies to the next request.
CREATE TABLE namespace_settings (
    namespace        TEXT    PRIMARY KEY,
    artifacthub_repo BLOB,
    updated_at       INTEGER NOT NULL
);
