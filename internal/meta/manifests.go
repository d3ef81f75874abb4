package meta

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// Manifest is a stored manifest and what the registry derived from it.
type Manifest struct {
	Repository      string
	Digest          digest.Digest
	MediaType       string
	ArtifactType    string // artifactType, or the config media type of an image manifest
	ConfigMediaType string
	Subject         digest.Digest // "" when the manifest has no subject
	Annotations     map[string]string
	Size            int64
	Content         []byte // nil when fetched without content
	Created         time.Time
}

// PutManifest is one manifest push: the manifest, the tags to point at it, what it must find
// in the repository, and the chart version it publishes, if it is a chart.
type PutManifest struct {
	Manifest Manifest
	Tags     []string
	// Blobs and Manifests the repository must already hold (config/layers, index children).
	Blobs     []digest.Digest
	Manifests []digest.Digest
	// References are recorded for garbage collection whether or not they are required.
	References []digest.Digest
	// Chart is set when the manifest is a Helm chart.
	Chart *ChartVersion
	// ImmutableTags refuses to move an existing tag to another manifest.
	ImmutableTags bool
}

// MissingError lists what a manifest references that the repository does not hold.
type MissingError struct {
	Blobs     []digest.Digest
	Manifests []digest.Digest
}

func (e *MissingError) Error() string {
	var parts []string
	if len(e.Blobs) > 0 {
		parts = append(parts, "blobs "+joinDigests(e.Blobs))
	}
	if len(e.Manifests) > 0 {
		parts = append(parts, "manifests "+joinDigests(e.Manifests))
	}
	return "the repository does not hold " + strings.Join(parts, " and ")
}

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

func joinDigests(ds []digest.Digest) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.String()
	}
	return strings.Join(s, ", ")
}

// PutManifest stores a manifest, its tags and its chart version in one transaction.
// It returns the chart version as stored: for a re-push of identical chart content, the
// version published first (its tag keeps pointing at the first manifest).
// Errors: *MissingError, *ChartConflictError, *TagConflictError.
func (db *DB) PutManifest(ctx context.Context, p PutManifest) (*ChartVersion, error) {
	m := p.Manifest
	var stored *ChartVersion
	err := db.tx(ctx, func(tx *sql.Tx) error {
		stored = nil
		repoID, err := db.ensureRepository(ctx, tx, m.Repository)
		if err != nil {
			return err
		}
		if err := db.checkPresent(ctx, tx, repoID, p.Blobs, p.Manifests); err != nil {
			return err
		}
		now := db.now().UnixNano()
		if err := db.insertManifest(ctx, tx, repoID, m, p.References, now); err != nil {
			return err
		}
		tags := p.Tags
		if p.Chart != nil {
			c := *p.Chart
			for _, tag := range tags {
				if tag != ChartTag(c.Version) {
					return chartTagOnly(tag, m.Digest, c.Version)
				}
			}
			c.ManifestDigest = m.Digest
			published, err := db.publishChart(ctx, tx, repoID, &c)
			if err != nil {
				return err
			}
			stored = published
			if published.ManifestDigest != m.Digest {
				// Identical content pushed again under another manifest: the version's tag stays.
				tags = without(tags, ChartTag(c.Version))
			}
		}
		for _, tag := range tags {
			if err := db.setTag(ctx, tx, repoID, tag, m.Digest, p.ImmutableTags, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("put manifest %s@%s: %w", m.Repository, m.Digest, err)
	}
	return stored, nil
}

// insertManifest stores m (unless repoID holds it already) and what it references.
func (db *DB) insertManifest(ctx context.Context, tx *sql.Tx, repoID int64, m Manifest, references []digest.Digest, now int64) error {
	annotations, err := marshalAnnotations(m.Annotations)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, db.q(`
		INSERT INTO manifests (repository_id, digest, media_type, artifact_type, config_media_type, subject, annotations, size, content, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repository_id, digest) DO NOTHING`),
		repoID, m.Digest.String(), m.MediaType, m.ArtifactType, m.ConfigMediaType, nullString(m.Subject.String()),
		annotations, len(m.Content), m.Content, now)
	if err != nil {
		return err
	}
	for _, ref := range references {
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO manifest_references (repository_id, manifest_digest, child_digest) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`),
			repoID, m.Digest.String(), ref.String()); err != nil {
			return err
		}
	}
	return nil
}

// ChartTag is the OCI tag of a chart version: SemVer build metadata's "+" is not allowed in
// tags, so helm writes it as "_".
func ChartTag(version string) string { return strings.ReplaceAll(version, "+", "_") }

func without(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

func (db *DB) checkPresent(ctx context.Context, tx *sql.Tx, repoID int64, blobs, manifests []digest.Digest) error {
	missing := &MissingError{}
	for _, d := range blobs {
		var n int
		if err := tx.QueryRowContext(ctx, db.q(`SELECT count(*) FROM repository_blobs WHERE repository_id = ? AND digest = ?`), repoID, d.String()).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			missing.Blobs = append(missing.Blobs, d)
		}
	}
	for _, d := range manifests {
		var n int
		if err := tx.QueryRowContext(ctx, db.q(`SELECT count(*) FROM manifests WHERE repository_id = ? AND digest = ?`), repoID, d.String()).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			missing.Manifests = append(missing.Manifests, d)
		}
	}
	if len(missing.Blobs) > 0 || len(missing.Manifests) > 0 {
		return missing
	}
	return nil
}

// chartRow is what the tag rules read of a chart version.
type chartRow struct {
	version, manifest, chart string
	deleted                  bool
}

// chartRowBy reads the chart version of repoID whose column (version or manifest_digest) is
// value; ok is false when there is none.
func (db *DB) chartRowBy(ctx context.Context, tx *sql.Tx, repoID int64, column, value string) (c chartRow, ok bool, err error) {
	err = tx.QueryRowContext(ctx, db.q(`SELECT version, manifest_digest, chart_digest, deleted_at IS NOT NULL FROM chart_versions
		WHERE repository_id = ? AND `+column+` = ?`), repoID, value).Scan(&c.version, &c.manifest, &c.chart, &c.deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	return c, err == nil, err
}

// chartTagOnly refuses tag on manifest d, which publishes chart version.
func chartTagOnly(tag string, d digest.Digest, version string) error {
	return &TagConflictError{Tag: tag, Existing: d, Reason: fmt.Sprintf(
		"manifest %s is chart version %s, whose only tag is %s: a chart manifest carries its version's tag and no other, so it cannot be tagged %s",
		d, version, ChartTag(version), tag)}
}

// ChartVersionOfTag is the chart version whose tag is tag (the inverse of ChartTag: SemVer
// has no "_", so a tag names at most one version).
func ChartVersionOfTag(tag string) string { return strings.ReplaceAll(tag, "_", "+") }

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
// Otherwise the tag moves.
func (db *DB) setTag(ctx context.Context, tx *sql.Tx, repoID int64, tag string, d digest.Digest, immutable bool, now int64) error {
	owner, owned, err := db.chartRowBy(ctx, tx, repoID, "version", ChartVersionOfTag(tag))
	if err != nil {
		return err
	}
	if owned && owner.manifest != d.String() {
		reason := fmt.Sprintf("tag %s is chart version %s, published as manifest %s; a published version never changes: publish a new version, or push other content under another tag",
			tag, owner.version, owner.manifest)
		if owner.deleted {
			reason = fmt.Sprintf("tag %s is reserved: chart version %s was published (manifest %s, chart digest %s) and deleted, and a deleted version's tag can only name that same chart again; push other content under another tag",
				tag, owner.version, owner.manifest, owner.chart)
		}
		return &TagConflictError{Tag: tag, Existing: digest.Digest(owner.manifest), Reason: reason}
	}
	target, isChart, err := db.chartRowBy(ctx, tx, repoID, "manifest_digest", d.String())
	if err != nil {
		return err
	}
	if isChart && ChartTag(target.version) != tag {
		return chartTagOnly(tag, d, target.version)
	}

	var existing string
	err = tx.QueryRowContext(ctx, db.q(`SELECT manifest_digest FROM tags WHERE repository_id = ? AND name = ?`), repoID, tag).Scan(&existing)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if existing != "" && existing != d.String() {
		// A tag naming a live chart version's manifest never moves (tags set before chart
		// manifests were limited to their version's tag).
		held, live, err := db.chartRowBy(ctx, tx, repoID, "manifest_digest", existing)
		if err != nil {
			return err
		}
		if live && !held.deleted {
			return &TagConflictError{Tag: tag, Existing: digest.Digest(existing), Reason: fmt.Sprintf(
				"tag %s names chart version %s (manifest %s); a published version never changes: push under another tag", tag, held.version, existing)}
		}
	}
	if immutable {
		if err := db.recordTag(ctx, tx, repoID, tag, d, target.chart, existing, now); err != nil {
			return err
		}
	}
	switch {
	case existing == "":
		_, err = tx.ExecContext(ctx, db.q(`INSERT INTO tags (repository_id, name, manifest_digest, updated_at) VALUES (?, ?, ?, ?)`), repoID, tag, d.String(), now)
	case existing != d.String():
		_, err = tx.ExecContext(ctx, db.q(`UPDATE tags SET manifest_digest = ?, updated_at = ? WHERE repository_id = ? AND name = ?`), d.String(), now, repoID, tag)
	}
	return err
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
	_, err := tx.ExecContext(ctx, db.q(`INSERT INTO tag_records (repository_id, name, manifest_digest, chart_digest, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (repository_id, name) DO NOTHING`), repoID, tag, first, firstChart, now)
	if err != nil {
		return err
	}
	var recorded, recordedChart string
	err = tx.QueryRowContext(ctx, db.q(`SELECT manifest_digest, chart_digest FROM tag_records WHERE repository_id = ? AND name = ?`),
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
	_, err := tx.ExecContext(ctx, db.q(`
		INSERT INTO tag_records (repository_id, name, manifest_digest, chart_digest, created_at)
		SELECT t.repository_id, t.name, t.manifest_digest,
			coalesce((SELECT c.chart_digest FROM chart_versions c WHERE c.repository_id = t.repository_id AND c.manifest_digest = t.manifest_digest), ''), ?
		FROM tags t WHERE t.repository_id = (SELECT id FROM repositories WHERE name = ?) AND t.`+where+`
		ON CONFLICT (repository_id, name) DO NOTHING`), db.now().UnixNano(), repo, value)
	return err
}

const manifestColumns = `m.digest, m.media_type, m.artifact_type, m.config_media_type, m.subject, m.annotations, m.size, m.created_at`

// GetManifest returns the manifest that reference (a digest, or a tag when byTag) names in
// repo, with its content when withContent. ErrNotFound when there is none.
func (db *DB) GetManifest(ctx context.Context, repo, reference string, byTag, withContent bool) (*Manifest, error) {
	cols := manifestColumns
	if withContent {
		cols += ", m.content"
	}
	var query string
	if byTag {
		query = `SELECT ` + cols + ` FROM tags t
			JOIN repositories r ON r.id = t.repository_id
			JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest
			WHERE r.name = ? AND t.name = ?`
	} else {
		query = `SELECT ` + cols + ` FROM manifests m
			JOIN repositories r ON r.id = m.repository_id
			WHERE r.name = ? AND m.digest = ?`
	}
	m := &Manifest{Repository: repo}
	dest := []any{}
	var subject, annotations sql.NullString
	var created int64
	dest = append(dest, &m.Digest, &m.MediaType, &m.ArtifactType, &m.ConfigMediaType, &subject, &annotations, &m.Size, &created)
	if withContent {
		dest = append(dest, &m.Content)
	}
	if err := db.r.QueryRowContext(ctx, db.q(query), repo, reference).Scan(dest...); err != nil {
		return nil, fmt.Errorf("manifest %s:%s: %w", repo, reference, notFound(err))
	}
	m.Subject = digest.Digest(subject.String)
	m.Created = time.Unix(0, created).UTC()
	if annotations.Valid {
		if err := json.Unmarshal([]byte(annotations.String), &m.Annotations); err != nil {
			return nil, fmt.Errorf("manifest %s:%s: annotations: %w", repo, reference, err)
		}
	}
	return m, nil
}

// DeleteManifest deletes the manifest d from repo with the tags pointing at it. A chart
// version published by it becomes a tombstone. With immutableTags (the repository's tags are
// immutable) its tags stay recorded: they can name d again, nothing else. ErrNotFound when
// repo has no such manifest.
func (db *DB) DeleteManifest(ctx context.Context, repo string, d digest.Digest, immutableTags bool) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if immutableTags {
			if err := db.recordTags(ctx, tx, repo, "manifest_digest = ?", d.String()); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, db.q(`DELETE FROM manifests WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND digest = ?`), repo, d.String())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return db.tombstone(ctx, tx, repo, d)
	})
	if err != nil {
		return fmt.Errorf("delete manifest %s@%s: %w", repo, d, err)
	}
	return nil
}

// DeleteTag removes a tag. When the tag is a chart version's, that version becomes a
// tombstone (its manifest stays reachable by digest). With immutableTags the tag stays
// recorded: it can name the same content again, nothing else. ErrNotFound when there is no
// such tag.
func (db *DB) DeleteTag(ctx context.Context, repo, tag string, immutableTags bool) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if immutableTags {
			if err := db.recordTags(ctx, tx, repo, "name = ?", tag); err != nil {
				return err
			}
		}
		var d string
		err := tx.QueryRowContext(ctx, db.q(`
			DELETE FROM tags WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND name = ?
			RETURNING manifest_digest`), repo, tag).Scan(&d)
		if err != nil {
			return notFound(err)
		}
		return db.tombstone(ctx, tx, repo, digest.Digest(d), tag)
	})
	if err != nil {
		return fmt.Errorf("delete tag %s:%s: %w", repo, tag, err)
	}
	return nil
}

// Tags lists repo's tags in lexical order after last, at most n (n ≤ 0: all).
// ErrNotFound when the repository does not exist.
func (db *DB) Tags(ctx context.Context, repo string, n int, last string) ([]string, error) {
	exists, err := db.RepositoryExists(ctx, repo)
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, fmt.Errorf("tags of %s: %w", repo, ErrNotFound)
	}
	tags, err := db.names(ctx, `SELECT name FROM tags WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND name > ? ORDER BY name LIMIT ?`, n, last, repo)
	if err != nil {
		return nil, fmt.Errorf("tags of %s: %w", repo, err)
	}
	return tags, nil
}

// Referrers lists the manifests in repo whose subject is d, optionally only those of one
// artifact type, oldest first.
func (db *DB) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]Manifest, error) {
	query := `SELECT ` + manifestColumns + ` FROM manifests m
		JOIN repositories r ON r.id = m.repository_id
		WHERE r.name = ? AND m.subject = ?`
	args := []any{repo, d.String()}
	if artifactType != "" {
		query += ` AND m.artifact_type = ?`
		args = append(args, artifactType)
	}
	query += ` ORDER BY m.created_at, m.digest`
	rows, err := db.r.QueryContext(ctx, db.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("referrers of %s@%s: %w", repo, d, err)
	}
	defer rows.Close()
	var out []Manifest
	for rows.Next() {
		m := Manifest{Repository: repo}
		var subject, annotations sql.NullString
		var created int64
		if err := rows.Scan(&m.Digest, &m.MediaType, &m.ArtifactType, &m.ConfigMediaType, &subject, &annotations, &m.Size, &created); err != nil {
			return nil, err
		}
		m.Subject = digest.Digest(subject.String)
		m.Created = time.Unix(0, created).UTC()
		if annotations.Valid {
			if err := json.Unmarshal([]byte(annotations.String), &m.Annotations); err != nil {
				return nil, err
			}
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func marshalAnnotations(a map[string]string) (sql.NullString, error) {
	if len(a) == 0 {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(a)
	return sql.NullString{String: string(b), Valid: true}, err
}

func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}
