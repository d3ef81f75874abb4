-- chartroom metadata, schema 2: tags that must never name other content again.
-- PostgreSQL form of migrations/sqlite/0002_tag_records.sql (ported as the meta package doc says).

-- Every tag set in a repository with immutable tags (serve --immutable-tags), with the content
-- it first named. The row outlives the tag and the manifest: after either is deleted the tag
-- may name that same content again, never other content. The primary key decides races: of
-- two pushes of different content under a new tag, exactly one records it.
-- chart_digest is the chart archive's digest when the tagged manifest publishes a chart
-- version ('' otherwise): a chart's content is its archive, so the same archive published
-- again after a delete (in a new manifest) is the same content.
CREATE TABLE tag_records (
    repository_id   BIGINT NOT NULL REFERENCES repositories (id),
    name            TEXT    NOT NULL,
    manifest_digest TEXT    NOT NULL,
    chart_digest    TEXT    NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (repository_id, name)
);

-- Which chart version a manifest publishes: asked on every tag write.
CREATE INDEX chart_versions_manifest ON chart_versions (repository_id, manifest_digest);
