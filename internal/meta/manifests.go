package meta

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/chart"
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
	// Quarantined: the manifest publishes a chart version its signed-only namespace
	// quarantines (set by GetManifest).
	Quarantined bool
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
	// Actor is who pushes, for the events webhooks are told (Chart.PushedBy when "").
	Actor string
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

func joinDigests(ds []digest.Digest) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.String()
	}
	return strings.Join(s, ", ")
}

// PutManifest stores a manifest, its tags and its chart version in one transaction, and
// queues in it the events the push makes for the webhooks that want them (see
// EventArtifactPushed and EventChartPublished).
// It returns the chart version as stored: for a re-push of identical chart content, the
// version published first (its tag keeps pointing at the first manifest).
// Errors: *MissingError, *ChartConflictError, *TagConflictError.
func (db *DB) PutManifest(ctx context.Context, p PutManifest) (*ChartVersion, error) {
	m := p.Manifest
	actor := p.Actor
	if actor == "" && p.Chart != nil {
		actor = p.Chart.PushedBy
	}
	var stored *ChartVersion
	ob := &outbox{db: db}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		stored, ob.queued = nil, false
		repoID, err := db.ensureRepository(ctx, tx, m.Repository)
		if err != nil {
			return err
		}
		if err := db.checkPresent(ctx, tx, repoID, p.Blobs, p.Manifests); err != nil {
			return err
		}
		now := db.now().UnixNano()
		inserted, err := db.insertManifest(ctx, tx, repoID, m, p.References, now)
		if err != nil {
			return err
		}
		tags := p.Tags
		var published *ChartVersion // the chart version this push publishes, if it does
		if p.Chart != nil {
			c := *p.Chart
			for _, tag := range tags {
				if tag != chart.OCITag(c.Version) {
					return chartTagOnly(tag, m.Digest, c.Version)
				}
			}
			c.ManifestDigest, c.Repository = m.Digest, m.Repository
			s, isNew, err := db.publishChart(ctx, tx, repoID, &c)
			if err != nil {
				return err
			}
			stored = s
			if isNew {
				published = s
			}
			if s.ManifestDigest != m.Digest {
				// Identical content pushed again under another manifest: the version's tag stays.
				tags = without(tags, chart.OCITag(c.Version))
			}
		}
		moved := false
		for _, tag := range tags {
			changed, err := db.setTag(ctx, tx, repoID, tag, m.Digest, p.ImmutableTags, now)
			if err != nil {
				return err
			}
			moved = moved || changed
		}
		switch {
		case published != nil:
			return ob.add(ctx, tx,
				chartEvent(EventChartPublished, published, m.Digest, m.MediaType, m.ArtifactType, actor),
				pushedEvent(m, tags, actor, published))
		case p.Chart == nil && (inserted || moved):
			return ob.add(ctx, tx, pushedEvent(m, tags, actor, nil))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("put manifest %s@%s: %w", m.Repository, m.Digest, err)
	}
	ob.committed()
	return stored, nil
}

// pushedEvent is the artifact.pushed event of manifest m pushed with tags, publishing chart
// version c (nil for other artifacts).
func pushedEvent(m Manifest, tags []string, actor string, c *ChartVersion) *Event {
	var ev *Event
	if c != nil {
		ev = chartEvent(EventArtifactPushed, c, m.Digest, m.MediaType, m.ArtifactType, actor)
	} else {
		ev = &Event{Type: EventArtifactPushed, Namespace: repositoryNamespace(m.Repository), Repository: m.Repository,
			Actor: actor, Digest: m.Digest, MediaType: m.MediaType, ArtifactType: m.ArtifactType}
	}
	ev.Tags = append([]string(nil), tags...)
	return ev
}

// insertManifest stores m (unless repoID holds it already) and what it references; it
// reports whether m was new to the repository.
func (db *DB) insertManifest(ctx context.Context, tx *sql.Tx, repoID int64, m Manifest, references []digest.Digest, now int64) (bool, error) {
	annotations, err := marshalAnnotations(m.Annotations)
	if err != nil {
		return false, err
	}
	res, err := tx.ExecContext(ctx, `
		INSERT INTO manifests (repository_id, digest, media_type, artifact_type, config_media_type, subject, annotations, size, content, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repository_id, digest) DO NOTHING`,
		repoID, m.Digest.String(), m.MediaType, m.ArtifactType, m.ConfigMediaType, nullString(m.Subject.String()),
		annotations, len(m.Content), m.Content, now)
	if err != nil {
		return false, err
	}
	inserted, _ := res.RowsAffected()
	for _, ref := range references {
		if _, err := tx.ExecContext(ctx, `INSERT INTO manifest_references (repository_id, manifest_digest, child_digest) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			repoID, m.Digest.String(), ref.String()); err != nil {
			return false, err
		}
	}
	return inserted == 1, nil
}

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
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM repository_blobs WHERE repository_id = ? AND digest = ?`, repoID, d.String()).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			missing.Blobs = append(missing.Blobs, d)
		}
	}
	for _, d := range manifests {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM manifests WHERE repository_id = ? AND digest = ?`, repoID, d.String()).Scan(&n); err != nil {
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

const manifestColumns = `m.digest, m.media_type, m.artifact_type, m.config_media_type, m.subject, m.annotations, m.size, m.created_at`

// GetManifest returns the manifest that reference (a digest, or a tag when byTag) names in
// repo, with its content when withContent. ErrNotFound when there is none.
func (db *DB) GetManifest(ctx context.Context, repo, reference string, byTag, withContent bool) (*Manifest, error) {
	cols := manifestColumns + `, EXISTS (SELECT 1 FROM chart_versions c WHERE c.repository_id = m.repository_id
		AND c.manifest_digest = m.digest AND c.quarantined)`
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
	dest = append(dest, &m.Digest, &m.MediaType, &m.ArtifactType, &m.ConfigMediaType, &subject, &annotations, &m.Size, &created, &m.Quarantined)
	if withContent {
		dest = append(dest, &m.Content)
	}
	if err := db.r.QueryRowContext(ctx, query, repo, reference).Scan(dest...); err != nil {
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
// version published by it becomes a tombstone, and its chart.deleted event is queued (actor
// is who deletes). With immutableTags (the repository's tags are immutable) its tags stay
// recorded: they can name d again, nothing else. ErrNotFound when repo has no such manifest.
func (db *DB) DeleteManifest(ctx context.Context, repo string, d digest.Digest, immutableTags bool, actor string) error {
	return db.DeleteManifestAudited(ctx, repo, d, immutableTags, actor, nil)
}

// DeleteManifestAudited is DeleteManifest with an audit record written in its transaction
// (nil: none), for deletions no request makes (retention).
func (db *DB) DeleteManifestAudited(ctx context.Context, repo string, d digest.Digest, immutableTags bool, actor string, audit *AuditRecord) error {
	ob := &outbox{db: db}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		ob.queued = false
		if immutableTags {
			if err := db.recordTags(ctx, tx, repo, "manifest_digest = ?", d.String()); err != nil {
				return err
			}
		}
		var m Manifest
		err := tx.QueryRowContext(ctx, `DELETE FROM manifests WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND digest = ?
			RETURNING media_type, artifact_type`, repo, d.String()).Scan(&m.MediaType, &m.ArtifactType)
		if err != nil {
			return notFound(err)
		}
		m.Repository, m.Digest = repo, d
		if err := db.tombstone(ctx, tx, ob, m, actor); err != nil {
			return err
		}
		return db.insertAudit(ctx, tx, audit)
	})
	if err != nil {
		return fmt.Errorf("delete manifest %s@%s: %w", repo, d, err)
	}
	ob.committed()
	return nil
}

// DeleteTag removes a tag. When the tag is a chart version's, that version becomes a
// tombstone (its manifest stays reachable by digest) and its chart.deleted event is queued
// (actor is who deletes). With immutableTags the tag stays recorded: it can name the same
// content again, nothing else. ErrNotFound when there is no such tag.
func (db *DB) DeleteTag(ctx context.Context, repo, tag string, immutableTags bool, actor string) error {
	ob := &outbox{db: db}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		ob.queued = false
		if immutableTags {
			if err := db.recordTags(ctx, tx, repo, "name = ?", tag); err != nil {
				return err
			}
		}
		var d string
		err := tx.QueryRowContext(ctx, `
			DELETE FROM tags WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND name = ?
			RETURNING manifest_digest`, repo, tag).Scan(&d)
		if err != nil {
			return notFound(err)
		}
		m := Manifest{Repository: repo, Digest: digest.Digest(d)}
		err = tx.QueryRowContext(ctx, `SELECT media_type, artifact_type FROM manifests
			WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND digest = ?`, repo, d).Scan(&m.MediaType, &m.ArtifactType)
		if err != nil {
			return err
		}
		return db.tombstone(ctx, tx, ob, m, actor, tag)
	})
	if err != nil {
		return fmt.Errorf("delete tag %s:%s: %w", repo, tag, err)
	}
	ob.committed()
	return nil
}

// Tags lists repo's tags in lexical order after last, at most n (n ≤ 0: all), but with
// hideQuarantined those of quarantined chart versions. ErrNotFound when the repository does
// not exist.
func (db *DB) Tags(ctx context.Context, repo string, n int, last string, hideQuarantined bool) ([]string, error) {
	exists, err := db.RepositoryExists(ctx, repo)
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, fmt.Errorf("tags of %s: %w", repo, ErrNotFound)
	}
	query := `SELECT name FROM tags t WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND name > ? ORDER BY name LIMIT ?`
	if hideQuarantined {
		query = `SELECT name FROM tags t WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND name > ?
			AND NOT EXISTS (SELECT 1 FROM chart_versions c WHERE c.repository_id = t.repository_id AND c.manifest_digest = t.manifest_digest AND c.quarantined)
			ORDER BY name LIMIT ?`
	}
	tags, err := db.names(ctx, query, n, last, repo)
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
	rows, err := db.r.QueryContext(ctx, query, args...)
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
