package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/chart"
)

// The rules of tags: what a tag may name, checked where it is written.

// TagConflictError means a tag may not point at the manifest asked for: it names a chart
// version (published or deleted) whose manifest is another, the manifest is a chart version
// that carries only its version's tag, or the repository's tags are immutable and the tag
// named other content. Existing is the manifest the tag names or named.
type TagConflictError struct {
	Tag      string
	Existing digest.Digest
	// Reason says which rule refused the tag and what to do; "" for the plain case.
	Reason string
}

func (e *TagConflictError) Error() string {
	if e.Reason != "" {
		return e.Reason
	}
	return fmt.Sprintf("tag %s already points to %s and is immutable; push under a new tag", e.Tag, e.Existing)
}

// chartRow is what the tag rules read of a chart version.
type chartRow struct {
	version, manifest, chart string
	deleted                  bool
}

// chartRowBy reads the chart version of repoID whose column (version or manifest_digest) is
// value; ok is false when there is none.
func (db *DB) chartRowBy(ctx context.Context, tx *sql.Tx, repoID int64, column, value string) (c chartRow, ok bool, err error) {
	err = tx.QueryRowContext(ctx, `SELECT version, manifest_digest, chart_digest, deleted_at IS NOT NULL FROM chart_versions
		WHERE repository_id = ? AND `+column+` = ?`, repoID, value).Scan(&c.version, &c.manifest, &c.chart, &c.deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	return c, err == nil, err
}

// chartTagOnly refuses tag on manifest d, which publishes chart version.
func chartTagOnly(tag string, d digest.Digest, version string) error {
	return &TagConflictError{Tag: tag, Existing: d, Reason: fmt.Sprintf(
		"manifest %s is chart version %s, whose only tag is %s: a chart manifest carries its version's tag and no other, so it cannot be tagged %s",
		d, version, chart.OCITag(version), tag)}
}

// setTag points tag at d, in the caller's transaction, under the rules that keep tags honest:
//   - a chart version's tag names that version's manifest only, also after the version was
//     deleted: the tombstone reserves it (publishing the same archive again moves the version,
//     and so its tag, to the new manifest before the tag is set);
//   - a chart version's manifest carries no tag but its version's;
//   - a tag naming a live chart version's manifest never moves;
//   - in a repository with immutable tags, a tag names the content it first named forever:
//     tag_records keeps that content after the tag or the manifest is deleted, and its
//     primary key decides between concurrent pushes.
//
// Otherwise the tag moves. It reports whether the tag changed (was set or moved).
func (db *DB) setTag(ctx context.Context, tx *sql.Tx, repoID int64, tag string, d digest.Digest, immutable bool, now int64) (bool, error) {
	owner, owned, err := db.chartRowBy(ctx, tx, repoID, "version", chart.VersionOfOCITag(tag))
	if err != nil {
		return false, err
	}
	if owned && owner.manifest != d.String() {
		reason := fmt.Sprintf("tag %s is chart version %s, published as manifest %s; a published version never changes: publish a new version, or push other content under another tag",
			tag, owner.version, owner.manifest)
		if owner.deleted {
			reason = fmt.Sprintf("tag %s is reserved: chart version %s was published (manifest %s, chart digest %s) and deleted, and a deleted version's tag can only name that same chart again; push other content under another tag",
				tag, owner.version, owner.manifest, owner.chart)
		}
		return false, &TagConflictError{Tag: tag, Existing: digest.Digest(owner.manifest), Reason: reason}
	}
	target, isChart, err := db.chartRowBy(ctx, tx, repoID, "manifest_digest", d.String())
	if err != nil {
		return false, err
	}
	if isChart && chart.OCITag(target.version) != tag {
		return false, chartTagOnly(tag, d, target.version)
	}

	var existing string
	err = tx.QueryRowContext(ctx, `SELECT manifest_digest FROM tags WHERE repository_id = ? AND name = ?`, repoID, tag).Scan(&existing)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	if existing != "" && existing != d.String() {
		// A tag naming a live chart version's manifest never moves (tags set before chart
		// manifests were limited to their version's tag).
		held, live, err := db.chartRowBy(ctx, tx, repoID, "manifest_digest", existing)
		if err != nil {
			return false, err
		}
		if live && !held.deleted {
			return false, &TagConflictError{Tag: tag, Existing: digest.Digest(existing), Reason: fmt.Sprintf(
				"tag %s names chart version %s (manifest %s); a published version never changes: push under another tag", tag, held.version, existing)}
		}
	}
	if immutable {
		if err := db.recordTag(ctx, tx, repoID, tag, d, target.chart, existing, now); err != nil {
			return false, err
		}
	}
	switch {
	case existing == "":
		_, err = tx.ExecContext(ctx, `INSERT INTO tags (repository_id, name, manifest_digest, updated_at) VALUES (?, ?, ?, ?)`, repoID, tag, d.String(), now)
	case existing != d.String():
		_, err = tx.ExecContext(ctx, `UPDATE tags SET manifest_digest = ?, updated_at = ? WHERE repository_id = ? AND name = ?`, d.String(), now, repoID, tag)
	default:
		return false, nil
	}
	return err == nil, err
}

// recordTag is setTag's rule for repositories with immutable tags: the first content a tag
// names is recorded once (the manifest it names already when the tag is older than its
// record, else d, which publishes chart archive chart or, when chart is "", no chart), and d
// must be that content: the same manifest, or a manifest publishing the same chart archive.
// The INSERT … ON CONFLICT DO NOTHING and the read after it make the primary key, not this
// code, pick the winner of concurrent pushes.
func (db *DB) recordTag(ctx context.Context, tx *sql.Tx, repoID int64, tag string, d digest.Digest, chart, existing string, now int64) error {
	first, firstChart := d.String(), chart
	if existing != "" && existing != d.String() {
		held, ok, err := db.chartRowBy(ctx, tx, repoID, "manifest_digest", existing)
		if err != nil {
			return err
		}
		first, firstChart = existing, ""
		if ok {
			firstChart = held.chart
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO tag_records (repository_id, name, manifest_digest, chart_digest, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (repository_id, name) DO NOTHING`, repoID, tag, first, firstChart, now)
	if err != nil {
		return err
	}
	var recorded, recordedChart string
	err = tx.QueryRowContext(ctx, `SELECT manifest_digest, chart_digest FROM tag_records WHERE repository_id = ? AND name = ?`,
		repoID, tag).Scan(&recorded, &recordedChart)
	if err != nil {
		return err
	}
	if recorded == d.String() || recordedChart != "" && recordedChart == chart {
		return nil
	}
	what := "manifest " + recorded
	if recordedChart != "" {
		what += " (chart digest " + recordedChart + ")"
	}
	return &TagConflictError{Tag: tag, Existing: digest.Digest(recorded), Reason: fmt.Sprintf(
		"tag %s is immutable in this repository (serve --immutable-tags) and named %s: it can only ever name that content again, even after a delete; push under a new tag",
		tag, what)}
}

// recordTags records, in a repository with immutable tags, what the tags about to be deleted
// name (where = "name = ?" for one tag, "manifest_digest = ?" for a manifest's tags), so that
// a delete never frees a tag for other content; tags set since the record existed already
// have theirs.
func (db *DB) recordTags(ctx context.Context, tx *sql.Tx, repo, where, value string) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO tag_records (repository_id, name, manifest_digest, chart_digest, created_at)
		SELECT t.repository_id, t.name, t.manifest_digest,
			coalesce((SELECT c.chart_digest FROM chart_versions c WHERE c.repository_id = t.repository_id AND c.manifest_digest = t.manifest_digest), ''), CAST(? AS BIGINT)
		FROM tags t WHERE t.repository_id = (SELECT id FROM repositories WHERE name = ?) AND t.`+where+`
		ON CONFLICT (repository_id, name) DO NOTHING`, db.now().UnixNano(), repo, value)
	return err
}
