package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/chart"
)

// ChartVersion is one published version of a chart: the row behind index.yaml entries and
// the immutability rule.
type ChartVersion struct {
	Repository     string // e.g. team/charts/myapp
	Namespace      string // e.g. team/charts ("" for the root namespace)
	Name           string
	Version        string
	ManifestDigest digest.Digest
	ChartDigest    digest.Digest // the .tgz archive
	ChartSize      int64
	ProvDigest     digest.Digest // "" without provenance
	AppVersion     string
	Description    string
	Metadata       []byte // Chart.yaml as JSON (helm's OCI config)
	IndexYAML      []byte // the index entry, rendered at publish (internal/repoindex)
	IndexJSON      []byte // (read back by ChartVersions and GetChartVersion only)
	// RenderVersion is the version of the renderer that wrote IndexYAML and IndexJSON.
	RenderVersion int
	Created       time.Time
	PushedBy      string
	Deleted       bool
	// Prov and Cosign are the status of the version's .prov and cosign signatures.
	Prov, Cosign SignatureStatus
	// Quarantined: the namespace is signed-only and the version has no valid signature by a
	// trusted key; readers do not see it. Set by the database at publish, whatever is given.
	Quarantined bool
	// ReleaseFinding is what a warn semver discipline found wrong with the version's bump.
	ReleaseFinding string
	// Images are the container images the version deploys, written at publish (read back
	// by GetChartImages only).
	Images ChartImages
	// UpstreamChanged is, in a proxy namespace, the digest the upstream later listed or served
	// under this pinned version ("" when it never changed).
	UpstreamChanged digest.Digest
}

// ChartConflictError means the chart version is already published (or tombstoned) with
// different content.
type ChartConflictError struct {
	Existing ChartVersion
}

func (e *ChartConflictError) Error() string {
	state := "is already published"
	if e.Existing.Deleted {
		state = "was published and deleted"
	}
	return fmt.Sprintf("%s %s %s with chart digest %s", e.Existing.Name, e.Existing.Version, state, e.Existing.ChartDigest)
}

const chartColumns = `r.name, c.namespace, c.name, c.version, c.manifest_digest, c.chart_digest, c.chart_size, c.prov_digest,
	c.app_version, c.description, c.metadata, c.created_at, c.pushed_by, c.deleted_at,
	c.prov_status, c.prov_signer, c.prov_error, c.cosign_status, c.cosign_signer, c.cosign_error, c.quarantined, c.release_finding, c.upstream_changed`

// chartEntryColumns are chartColumns and the version's JSON index entry (scanChartEntry).
const chartEntryColumns = chartColumns + `, c.index_json`

// scanChartEntry reads a row of chartEntryColumns.
func scanChartEntry(row interface{ Scan(...any) error }) (*ChartVersion, error) {
	var entry []byte
	c, err := scanChart(row, &entry)
	if c != nil {
		c.IndexJSON = entry
	}
	return c, err
}

// scanChart reads a row of chartColumns, then the more columns into more.
func scanChart(row interface{ Scan(...any) error }, more ...any) (*ChartVersion, error) {
	c := &ChartVersion{}
	var created int64
	var deleted sql.NullInt64
	var metadata string
	err := row.Scan(append([]any{&c.Repository, &c.Namespace, &c.Name, &c.Version, &c.ManifestDigest, &c.ChartDigest, &c.ChartSize, &c.ProvDigest,
		&c.AppVersion, &c.Description, &metadata, &created, &c.PushedBy, &deleted,
		&c.Prov.Status, &c.Prov.Signer, &c.Prov.Error, &c.Cosign.Status, &c.Cosign.Signer, &c.Cosign.Error, &c.Quarantined, &c.ReleaseFinding, &c.UpstreamChanged}, more...)...)
	if err != nil {
		return nil, err
	}
	c.Metadata = []byte(metadata)
	c.Created = time.Unix(0, created).UTC()
	c.Deleted = deleted.Valid
	return c, nil
}

// publishChart inserts c unless its version exists. The primary key decides the race: of two
// transactions publishing the same version, exactly one inserts. It returns the version as
// stored, and whether this call published it (inserted it, or brought a tombstone back).
func (db *DB) publishChart(ctx context.Context, tx *sql.Tx, repoID int64, c *ChartVersion) (*ChartVersion, bool, error) {
	now := db.now()
	if c.Created.IsZero() {
		c.Created = now
	}
	res, err := tx.ExecContext(ctx, `
		INSERT INTO chart_versions (repository_id, namespace, name, version, manifest_digest, chart_digest, chart_size, prov_digest,
			app_version, description, metadata, index_yaml, index_json, render_version, created_at, pushed_by,
			prov_status, prov_signer, prov_error, release_finding, images, images_error, images_version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repository_id, version) DO NOTHING`,
		repoID, c.Namespace, c.Name, c.Version, c.ManifestDigest.String(), c.ChartDigest.String(), c.ChartSize, c.ProvDigest.String(),
		c.AppVersion, c.Description, string(c.Metadata), nonNil(c.IndexYAML), nonNil(c.IndexJSON), c.RenderVersion, c.Created.UnixNano(), c.PushedBy,
		c.Prov.Status, c.Prov.Signer, c.Prov.Error, c.ReleaseFinding, string(c.Images.JSON), c.Images.Error, c.Images.Version)
	if err != nil {
		return nil, false, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		if c.Quarantined, err = db.quarantineNew(ctx, tx, repoID, c.Namespace, c.Version); err != nil {
			return nil, false, err
		}
		return c, true, db.markChanged(ctx, tx, repoID, c.Namespace, c.Version)
	}
	existing, err := scanChart(tx.QueryRowContext(ctx, `SELECT `+chartColumns+` FROM chart_versions c
		JOIN repositories r ON r.id = c.repository_id WHERE c.repository_id = ? AND c.version = ?`, repoID, c.Version))
	if err != nil {
		return nil, false, err
	}
	if existing.ChartDigest != c.ChartDigest {
		return nil, false, &ChartConflictError{Existing: *existing}
	}
	if !existing.Deleted {
		return existing, false, nil
	}
	// The same bytes come back after a delete: the tombstone allows exactly this. What is
	// read of them is taken again, as this publish read it.
	_, err = tx.ExecContext(ctx, `
		UPDATE chart_versions SET manifest_digest = ?, prov_digest = ?, app_version = ?, description = ?, metadata = ?,
			index_yaml = ?, index_json = ?, render_version = ?, created_at = ?, pushed_by = ?, deleted_at = NULL,
			prov_status = ?, prov_signer = ?, prov_error = ?, cosign_status = '', cosign_signer = '', cosign_error = '', release_finding = ?,
			images = ?, images_error = ?, images_version = ?
		WHERE repository_id = ? AND version = ?`,
		c.ManifestDigest.String(), c.ProvDigest.String(), c.AppVersion, c.Description, string(c.Metadata),
		nonNil(c.IndexYAML), nonNil(c.IndexJSON), c.RenderVersion, c.Created.UnixNano(), c.PushedBy,
		c.Prov.Status, c.Prov.Signer, c.Prov.Error, c.ReleaseFinding, string(c.Images.JSON), c.Images.Error, c.Images.Version, repoID, c.Version)
	if err != nil {
		return nil, false, err
	}
	if c.Quarantined, err = db.quarantineNew(ctx, tx, repoID, c.Namespace, c.Version); err != nil {
		return nil, false, err
	}
	return c, true, db.markChanged(ctx, tx, repoID, c.Namespace, c.Version)
}

// AttachChartProvenance records a provenance file added to a live chart version published
// without one. m is the version's manifest old plus the provenance layer prov (whose blob the
// repository must hold); in one transaction it is stored, the version and its tag move from
// old to m, old stays reachable by digest, and the artifact.pushed event of m is queued
// (actor is who attaches). The archive, and so the index entry, do not change. ErrNotFound
// when the version is not live, already has a provenance file, or no longer has manifest old.
func (db *DB) AttachChartProvenance(ctx context.Context, m Manifest, references []digest.Digest, version string, old, prov digest.Digest, status SignatureStatus, actor string) error {
	ob := &outbox{db: db}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		ob.queued = false
		var repoID int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM repositories WHERE name = ?`, m.Repository).Scan(&repoID)
		if err != nil {
			return notFound(err)
		}
		if err := db.checkPresent(ctx, tx, repoID, []digest.Digest{prov}, nil); err != nil {
			return err
		}
		now := db.now().UnixNano()
		if _, err := db.insertManifest(ctx, tx, repoID, m, references, now); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE chart_versions SET manifest_digest = ?, prov_digest = ?, prov_status = ?, prov_signer = ?, prov_error = ?
			WHERE repository_id = ? AND version = ? AND manifest_digest = ? AND prov_digest = '' AND deleted_at IS NULL`,
			m.Digest.String(), prov.String(), status.Status, status.Signer, status.Error, repoID, version, old.String())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		c, err := scanChart(tx.QueryRowContext(ctx, `SELECT `+chartColumns+` FROM chart_versions c
			JOIN repositories r ON r.id = c.repository_id WHERE c.repository_id = ? AND c.version = ?`, repoID, version))
		if err != nil {
			return err
		}
		if q, err := db.quarantineNew(ctx, tx, repoID, c.Namespace, version); err != nil {
			return err
		} else if q != c.Quarantined {
			if err := db.markChanged(ctx, tx, repoID, c.Namespace, version); err != nil {
				return err
			}
		}
		tag := chart.OCITag(version)
		_, err = tx.ExecContext(ctx, `UPDATE tags SET manifest_digest = ?, updated_at = ? WHERE repository_id = ? AND name = ? AND manifest_digest = ?`,
			m.Digest.String(), now, repoID, tag, old.String())
		if err != nil {
			return err
		}
		return ob.add(ctx, tx, pushedEvent(m, []string{tag}, actor, c))
	})
	if err != nil {
		return fmt.Errorf("attach provenance to %s %s: %w", m.Repository, version, err)
	}
	ob.committed()
	return nil
}

// tombstone marks the chart version published by manifest m (and, when a tag is given,
// tagged by it) as deleted, and queues its chart.deleted event.
func (db *DB) tombstone(ctx context.Context, tx *sql.Tx, ob *outbox, m Manifest, actor string, tag ...string) error {
	query := `UPDATE chart_versions SET deleted_at = ?
		WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND manifest_digest = ? AND deleted_at IS NULL`
	args := []any{db.now().UnixNano(), m.Repository, m.Digest.String()}
	if len(tag) > 0 {
		query += ` AND version = ?`
		args = append(args, chart.VersionOfOCITag(tag[0]))
	}
	query += ` RETURNING repository_id, namespace, name, version, chart_digest, prov_digest, app_version`
	var repoID int64
	c := ChartVersion{Repository: m.Repository}
	err := tx.QueryRowContext(ctx, query, args...).Scan(&repoID, &c.Namespace, &c.Name, &c.Version, &c.ChartDigest, &c.ProvDigest, &c.AppVersion)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := db.markChanged(ctx, tx, repoID, c.Namespace, c.Version); err != nil {
		return err
	}
	ev := chartEvent(EventChartDeleted, &c, m.Digest, m.MediaType, m.ArtifactType, actor)
	ev.Tags = []string{chart.OCITag(c.Version)}
	return ob.add(ctx, tx, ev)
}

// markChanged raises the namespace's generation and stamps the chart version with it, so
// that indexes built earlier can catch up with this one change.
func (db *DB) markChanged(ctx context.Context, tx *sql.Tx, repoID int64, ns, version string) error {
	var gen int64
	err := tx.QueryRowContext(ctx, `
		INSERT INTO namespaces (name, generation, updated_at) VALUES (?, 1, ?)
		ON CONFLICT (name) DO UPDATE SET generation = namespaces.generation + 1, updated_at = excluded.updated_at
		RETURNING generation`,
		ns, db.now().UnixNano()).Scan(&gen)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE chart_versions SET changed_gen = ? WHERE repository_id = ? AND version = ?`, gen, repoID, version)
	return err
}

// Namespace is a namespace's change counter: it rises with every publish and delete.
type Namespace struct {
	Name       string
	Generation int64
	Updated    time.Time
}

// NamespaceState returns the namespace's change counter (generation 0 when it never had a chart).
func (db *DB) NamespaceState(ctx context.Context, ns string) (Namespace, error) {
	return db.namespaceState(ctx, db.r, ns)
}

// namespaceState reads a namespace's change counter through q (the read pool, or a read
// transaction whose snapshot the caller's other reads share).
func (db *DB) namespaceState(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, ns string) (Namespace, error) {
	n := Namespace{Name: ns}
	var updated int64
	err := q.QueryRowContext(ctx, `SELECT generation, updated_at FROM namespaces WHERE name = ?`, ns).Scan(&n.Generation, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return n, nil
	}
	if err != nil {
		return n, fmt.Errorf("namespace %q: %w", ns, err)
	}
	n.Updated = time.Unix(0, updated).UTC()
	return n, nil
}

// ChartVersions returns the live (not deleted) chart versions of a namespace, optionally of
// one chart, with their JSON index entries and the namespace state they were read at;
// quarantined versions only withQuarantined.
func (db *DB) ChartVersions(ctx context.Context, ns, name string, withQuarantined bool) ([]ChartVersion, Namespace, error) {
	tx, err := db.readTx(ctx)
	if err != nil {
		return nil, Namespace{}, fmt.Errorf("chart versions of %q: %w", ns, err)
	}
	defer tx.Rollback()
	state, err := db.namespaceState(ctx, tx, ns)
	if err != nil {
		return nil, state, err
	}
	query := `SELECT ` + chartEntryColumns + ` FROM chart_versions c JOIN repositories r ON r.id = c.repository_id
		WHERE c.namespace = ? AND c.deleted_at IS NULL`
	args := []any{ns}
	if !withQuarantined {
		query += ` AND NOT c.quarantined`
	}
	if name != "" {
		query += ` AND c.name = ?`
		args = append(args, name)
	}
	rows, err := tx.QueryContext(ctx, query+` ORDER BY c.name`, args...)
	if err != nil {
		return nil, state, fmt.Errorf("chart versions of %q: %w", ns, err)
	}
	defer rows.Close()
	var out []ChartVersion
	for rows.Next() {
		c, err := scanChartEntry(rows)
		if err != nil {
			return nil, state, fmt.Errorf("chart versions of %q: %w", ns, err)
		}
		out = append(out, *c)
	}
	return out, state, rows.Err()
}

// GetChartVersion returns one chart version with its JSON index entry, tombstones included
// (Deleted set). ErrNotFound when it was never published.
func (db *DB) GetChartVersion(ctx context.Context, ns, name, version string) (*ChartVersion, error) {
	// By the primary key (repository, version): the (namespace, name) index would scan every
	// version of the chart, and this runs on every upload and download.
	repo := name
	if ns != "" {
		repo = ns + "/" + name
	}
	c, err := scanChartEntry(db.r.QueryRowContext(ctx, `SELECT `+chartEntryColumns+` FROM chart_versions c
		JOIN repositories r ON r.id = c.repository_id WHERE r.name = ? AND c.version = ?`, repo, version))
	if err != nil {
		return nil, fmt.Errorf("chart %s %s: %w", name, version, notFound(err))
	}
	return c, nil
}

// IndexFormat selects which rendered form of index entries a read returns.
type IndexFormat int

// Index entry forms (see internal/repoindex).
const (
	IndexYAML IndexFormat = iota
	IndexJSON
)

// IndexEntry is what an index needs of one chart version.
type IndexEntry struct {
	Name, Version string
	ChartDigest   digest.Digest
	ProvDigest    digest.Digest
	// Entry is the rendered index entry in the form asked for.
	Entry []byte
	// Deleted is set only in a read of changes (since > 0): the version is no longer live.
	Deleted bool
}

// IndexEntries reads a namespace's index entries in one consistent snapshot, with the
// namespace state they belong to. With since = 0 it returns every live version; with since > 0
// only the versions published or deleted after generation since (deleted ones flagged), which
// is what an index built at generation since needs to catch up: the cost follows the change,
// not the namespace.
func (db *DB) IndexEntries(ctx context.Context, ns string, format IndexFormat, since int64) ([]IndexEntry, Namespace, error) {
	tx, err := db.readTx(ctx)
	if err != nil {
		return nil, Namespace{}, fmt.Errorf("index of %q: %w", ns, err)
	}
	defer tx.Rollback()
	state, err := db.namespaceState(ctx, tx, ns)
	if err != nil {
		return nil, state, err
	}
	column := "index_yaml"
	if format == IndexJSON {
		column = "index_json"
	}
	// A quarantined version (signed-only namespace, no valid signature) is not in the index:
	// in a read of changes it is as good as deleted.
	query := `SELECT name, version, chart_digest, prov_digest, ` + column + `, deleted_at IS NOT NULL OR quarantined FROM chart_versions WHERE namespace = ?`
	args := []any{ns}
	if since > 0 {
		query += ` AND changed_gen > ?`
		args = append(args, since)
	} else {
		query += ` AND deleted_at IS NULL AND NOT quarantined`
	}
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, state, fmt.Errorf("index of %q: %w", ns, err)
	}
	defer rows.Close()
	var out []IndexEntry
	for rows.Next() {
		var e IndexEntry
		if err := rows.Scan(&e.Name, &e.Version, &e.ChartDigest, &e.ProvDigest, &e.Entry, &e.Deleted); err != nil {
			return nil, state, fmt.Errorf("index of %q: %w", ns, err)
		}
		out = append(out, e)
	}
	return out, state, rows.Err()
}

// IndexEntriesRenderedBefore returns the live chart versions whose index entries an older
// renderer than version wrote, with their stored metadata, oldest first.
func (db *DB) IndexEntriesRenderedBefore(ctx context.Context, version int) ([]ChartVersion, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+chartColumns+` FROM chart_versions c JOIN repositories r ON r.id = c.repository_id
		WHERE c.render_version < ? AND c.deleted_at IS NULL ORDER BY c.created_at`, version)
	if err != nil {
		return nil, fmt.Errorf("chart versions rendered before version %d: %w", version, err)
	}
	defer rows.Close()
	var out []ChartVersion
	for rows.Next() {
		c, err := scanChart(rows)
		if err != nil {
			return nil, fmt.Errorf("chart versions rendered before version %d: %w", version, err)
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

// RewriteIndexEntries stores what a renderer of version RenderVersion made of chart versions
// (each c's Repository and Version name the row; its Metadata, AppVersion, Description,
// IndexYAML, IndexJSON and RenderVersion are written), in one transaction. Each rewritten
// version counts as a change of its namespace, so that cached indexes and ETags follow.
// Versions deleted meanwhile are left alone.
func (db *DB) RewriteIndexEntries(ctx context.Context, cs []ChartVersion) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		for _, c := range cs {
			var repoID int64
			var ns string
			err := tx.QueryRowContext(ctx, `
				UPDATE chart_versions SET metadata = ?, app_version = ?, description = ?, index_yaml = ?, index_json = ?, render_version = ?
				WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND version = ? AND deleted_at IS NULL
				RETURNING repository_id, namespace`,
				string(c.Metadata), c.AppVersion, c.Description, nonNil(c.IndexYAML), nonNil(c.IndexJSON), c.RenderVersion,
				c.Repository, c.Version).Scan(&repoID, &ns)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			if err := db.markChanged(ctx, tx, repoID, ns, c.Version); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rewrite index entries: %w", err)
	}
	return nil
}

// nonNil stores a missing byte slice as empty rather than NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
