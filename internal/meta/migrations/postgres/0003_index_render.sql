-- chartroom metadata, schema 3: which renderer wrote a chart version's index entries.
-- PostgreSQL form of migrations/sqlite/0003_index_render.sql (ported as the meta package doc says).

-- Index entries are rendered once, at publish, and stored. render_version says by which
-- renderer (the registry's index render version): entries of an older one are rendered again,
-- from the stored chart archive, when the registry starts. Rows from before this column were
-- written by renderers that kept raw control characters or took fields from a hand-made OCI
-- config: version 0.
ALTER TABLE chart_versions ADD COLUMN render_version BIGINT NOT NULL DEFAULT 0;
