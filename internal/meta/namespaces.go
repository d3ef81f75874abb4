package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
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
	Updated       time.Time
}

// GetNamespaceSettings returns the settings of namespace ns; ErrNotFound when it has none
// (also in a database of a schema before namespace settings, opened as it is).
func (db *DB) GetNamespaceSettings(ctx context.Context, ns string) (*NamespaceSettings, error) {
	s := &NamespaceSettings{Namespace: ns}
	var updated int64
	var anon sql.NullBool
	err := db.r.QueryRowContext(ctx, `SELECT artifacthub_repo, anonymous_read, updated_at FROM namespace_settings WHERE namespace = ?`, ns).
		Scan(&s.ArtifactHubRepo, &anon, &updated)
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
		AND signed_only IS NULL AND semver_discipline IS NULL`, ns)
	return err
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
