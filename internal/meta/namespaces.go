package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// NamespaceSettings are the settings of one namespace (chartroom namespace set).
type NamespaceSettings struct {
	Namespace string // "" for the root namespace
	// ArtifactHubRepo is the namespace's Artifact Hub repository metadata file
	// (artifacthub-repo.yml) as it is served; nil when none is set.
	ArtifactHubRepo []byte
	// AnonymousRead, when set, says whether requests without credentials may read the
	// namespace, whatever serve --anonymous-read says; nil follows it.
	AnonymousRead *bool
	// Retention applies to the namespace's prerelease chart versions (garbage collection
	// deletes what it says).
	Retention Retention
	Updated   time.Time
}

// Retention is a namespace's rules for its prerelease chart versions (a SemVer version
// with a pre-release part, such as 1.2.0-rc.1), applied by garbage collection. A version
// is deleted when either rule says so.
type Retention struct {
	// KeepPrereleases keeps the newest (last published) N prereleases of each chart and
	// deletes the older ones; nil: no such rule.
	KeepPrereleases *int
	// DeletePrereleasesOlderThan deletes prereleases published longer ago; nil: no such rule.
	DeletePrereleasesOlderThan *time.Duration
}

// IsZero reports whether r has no rule.
func (r Retention) IsZero() bool {
	return r.KeepPrereleases == nil && r.DeletePrereleasesOlderThan == nil
}

// GetNamespaceSettings returns the settings of namespace ns; ErrNotFound when it has none
// (also in a database of a schema before namespace settings, opened as it is).
func (db *DB) GetNamespaceSettings(ctx context.Context, ns string) (*NamespaceSettings, error) {
	s := &NamespaceSettings{Namespace: ns}
	var updated int64
	var anon sql.NullBool
	var keep, after sql.NullInt64
	err := db.r.QueryRowContext(ctx, `SELECT artifacthub_repo, anonymous_read, keep_prereleases, delete_prereleases_after, updated_at FROM namespace_settings WHERE namespace = ?`, ns).
		Scan(&s.ArtifactHubRepo, &anon, &keep, &after, &updated)
	if err != nil && strings.Contains(err.Error(), "no such column") { // schema 5 to 7, opened as it is
		err = db.r.QueryRowContext(ctx, `SELECT artifacthub_repo, anonymous_read, updated_at FROM namespace_settings WHERE namespace = ?`, ns).
			Scan(&s.ArtifactHubRepo, &anon, &updated)
	}
	if err != nil && strings.Contains(err.Error(), "no such column") { // schema 4, opened as it is
		err = db.r.QueryRowContext(ctx, `SELECT artifacthub_repo, updated_at FROM namespace_settings WHERE namespace = ?`, ns).
			Scan(&s.ArtifactHubRepo, &updated)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows), err != nil && strings.Contains(err.Error(), "no such table"), isPostgresUndefinedTable(err):
		return nil, ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("settings of namespace %q: %w", ns, err)
	}
	if anon.Valid {
		s.AnonymousRead = &anon.Bool
	}
	s.Retention = retention(keep, after)
	s.Updated = time.Unix(0, updated).UTC()
	return s, nil
}

// SetNamespaceSettings stores s.ArtifactHubRepo as the Artifact Hub metadata of s.Namespace
// (nil removes it), keeping its other settings, and stamps the settings with the time
// (s.Updated and s.AnonymousRead are ignored: see SetNamespaceAnonymousRead); settings that
// set nothing are removed.
func (db *DB) SetNamespaceSettings(ctx context.Context, s NamespaceSettings) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO namespace_settings (namespace, artifacthub_repo, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (namespace) DO UPDATE SET artifacthub_repo = excluded.artifacthub_repo, updated_at = excluded.updated_at`,
			s.Namespace, s.ArtifactHubRepo, db.now().UnixNano())
		if err != nil {
			return err
		}
		return removeEmptySettings(ctx, tx, s.Namespace)
	})
	if err != nil {
		return fmt.Errorf("set the settings of namespace %q: %w", s.Namespace, err)
	}
	return nil
}

// SetNamespaceAnonymousRead sets whether requests without credentials may read namespace ns
// (nil: as serve --anonymous-read says), keeping its other settings.
func (db *DB) SetNamespaceAnonymousRead(ctx context.Context, ns string, anonymous *bool, audit *AuditRecord) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var v sql.NullBool
		if anonymous != nil {
			v = sql.NullBool{Bool: *anonymous, Valid: true}
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO namespace_settings (namespace, anonymous_read, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (namespace) DO UPDATE SET anonymous_read = excluded.anonymous_read, updated_at = excluded.updated_at`,
			ns, v, db.now().UnixNano())
		if err != nil {
			return err
		}
		if err := removeEmptySettings(ctx, tx, ns); err != nil {
			return err
		}
		return db.insertAudit(ctx, tx, audit)
	})
	if err != nil {
		return fmt.Errorf("set the anonymous read of namespace %q: %w", ns, err)
	}
	return nil
}

// removeEmptySettings removes namespace ns's settings row when it sets nothing.
func removeEmptySettings(ctx context.Context, tx *sql.Tx, ns string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM namespace_settings WHERE namespace = ? AND artifacthub_repo IS NULL AND anonymous_read IS NULL
		AND keep_prereleases IS NULL AND delete_prereleases_after IS NULL
		AND signed_only IS NULL AND semver_discipline IS NULL`, ns)
	return err
}

func retention(keep, after sql.NullInt64) Retention {
	var r Retention
	if keep.Valid {
		n := int(keep.Int64)
		r.KeepPrereleases = &n
	}
	if after.Valid {
		d := time.Duration(after.Int64)
		r.DeletePrereleasesOlderThan = &d
	}
	return r
}

// SetNamespaceRetention sets the retention rules of namespace ns (a zero Retention removes
// them), keeping its other settings, with the audit record of the change.
func (db *DB) SetNamespaceRetention(ctx context.Context, ns string, r Retention, audit *AuditRecord) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var keep, after sql.NullInt64
		if r.KeepPrereleases != nil {
			keep = sql.NullInt64{Int64: int64(*r.KeepPrereleases), Valid: true}
		}
		if r.DeletePrereleasesOlderThan != nil {
			after = sql.NullInt64{Int64: int64(*r.DeletePrereleasesOlderThan), Valid: true}
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO namespace_settings (namespace, keep_prereleases, delete_prereleases_after, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (namespace) DO UPDATE SET keep_prereleases = excluded.keep_prereleases,
				delete_prereleases_after = excluded.delete_prereleases_after, updated_at = excluded.updated_at`,
			ns, keep, after, db.now().UnixNano())
		if err != nil {
			return err
		}
		if err := removeEmptySettings(ctx, tx, ns); err != nil {
			return err
		}
		return db.insertAudit(ctx, tx, audit)
	})
	if err != nil {
		return fmt.Errorf("set the retention of namespace %q: %w", ns, err)
	}
	return nil
}

// NamespaceRetentions returns the retention rules of every namespace that has some, by
// namespace.
func (db *DB) NamespaceRetentions(ctx context.Context) (map[string]Retention, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT namespace, keep_prereleases, delete_prereleases_after FROM namespace_settings
		WHERE keep_prereleases IS NOT NULL OR delete_prereleases_after IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("retention rules: %w", err)
	}
	defer rows.Close()
	out := map[string]Retention{}
	for rows.Next() {
		var ns string
		var keep, after sql.NullInt64
		if err := rows.Scan(&ns, &keep, &after); err != nil {
			return nil, err
		}
		out[ns] = retention(keep, after)
	}
	return out, rows.Err()
}

// PrereleaseCandidate is a live chart version retention may delete.
type PrereleaseCandidate struct {
	Repository     string
	Name, Version  string
	ManifestDigest digest.Digest
	Created        time.Time
}

// LiveChartVersions lists the live chart versions of namespace ns, by chart name, newest
// published first.
func (db *DB) LiveChartVersions(ctx context.Context, ns string) ([]PrereleaseCandidate, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT r.name, c.name, c.version, c.manifest_digest, c.created_at FROM chart_versions c
		JOIN repositories r ON r.id = c.repository_id WHERE c.namespace = ? AND c.deleted_at IS NULL
		ORDER BY c.name, c.created_at DESC, c.version DESC`, ns)
	if err != nil {
		return nil, fmt.Errorf("chart versions of %q: %w", ns, err)
	}
	defer rows.Close()
	var out []PrereleaseCandidate
	for rows.Next() {
		var c PrereleaseCandidate
		var created int64
		if err := rows.Scan(&c.Repository, &c.Name, &c.Version, &c.ManifestDigest, &created); err != nil {
			return nil, err
		}
		c.Created = time.Unix(0, created).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// ChartRepositories lists, in name order, the repositories of namespace ns that hold at least
// one live (not deleted) chart version.
func (db *DB) ChartRepositories(ctx context.Context, ns string) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `
		SELECT DISTINCT r.name FROM chart_versions c JOIN repositories r ON r.id = c.repository_id
		WHERE c.namespace = ? AND c.deleted_at IS NULL ORDER BY r.name`, ns)
	if err != nil {
		return nil, fmt.Errorf("chart repositories of %q: %w", ns, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, rows.Err()
}

// HasLiveChart reports whether repo holds at least one live (not deleted) chart version.
func (db *DB) HasLiveChart(ctx context.Context, repo string) (bool, error) {
	var ok bool
	err := db.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM chart_versions c JOIN repositories r ON r.id = c.repository_id
		WHERE r.name = ? AND c.deleted_at IS NULL)`, repo).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("charts of %s: %w", repo, err)
	}
	return ok, nil
}

// Migrate applies the migrations a database opened as it is (OpenSQLiteExisting, for
// writing) lacks, as OpenSQLite does: an administration command that changes a data
// directory's database (chartroom namespace set) works on one an older release created.
func (db *DB) Migrate(ctx context.Context) error {
	return db.migrate(ctx)
}
