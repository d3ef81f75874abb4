package meta

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestNamespaceSettings(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	if _, err := db.GetNamespaceSettings(ctx, "team"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("settings of a namespace without any: %v; want ErrNotFound", err)
	}
	for _, file := range []string{"owners:\n- email: a@example.com\n", "repositoryID: x\n"} {
		if err := db.SetNamespaceSettings(ctx, NamespaceSettings{Namespace: "team", ArtifactHubRepo: []byte(file)}); err != nil {
			t.Fatal(err)
		}
		s, err := db.GetNamespaceSettings(ctx, "team")
		if err != nil || string(s.ArtifactHubRepo) != file || s.Updated.IsZero() {
			t.Fatalf("settings = %+v, %v; want the file %q, stamped", s, err, file)
		}
	}
	if _, err := db.GetNamespaceSettings(ctx, "team/sub"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a namespace below inherits settings: %v", err)
	}
	if err := db.SetNamespaceSettings(ctx, NamespaceSettings{Namespace: "team"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetNamespaceSettings(ctx, "team"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("settings that set nothing were kept: %v", err)
	}
}

func TestChartRepositories(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	for _, p := range []PutManifest{chartPush("team/myapp", "1.0.0", "a"), chartPush("team/myapp", "2.0.0", "b")} {
		if _, err := db.PutManifest(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	other := chartPush("team/gone", "1.0.0", "c")
	other.Chart.Name = "gone"
	if _, err := db.PutManifest(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteManifest(ctx, "team/gone", other.Manifest.Digest, false, ""); err != nil {
		t.Fatal(err)
	}
	repos, err := db.ChartRepositories(ctx, "team")
	if err != nil || !reflect.DeepEqual(repos, []string{"team/myapp"}) {
		t.Fatalf("chart repositories = %v, %v; want [team/myapp] (team/gone's only version is deleted)", repos, err)
	}
	for repo, want := range map[string]bool{"team/myapp": true, "team/gone": false, "team/none": false} {
		if got, err := db.HasLiveChart(ctx, repo); err != nil || got != want {
			t.Errorf("HasLiveChart(%s) = %v, %v; want %v", repo, got, err, want)
		}
	}
}

// A database an older release made, opened as it is: reading settings finds none; Migrate
// adds the table, after which settings are stored.
func TestNamespaceSettingsOnAnOlderDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "chartroom.db")
	db, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	downgrade(t, db, 3)
	db.Close()
	old, err := OpenSQLiteExisting(ctx, path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, err := old.GetNamespaceSettings(ctx, "team"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("settings in a database without the table: %v; want ErrNotFound", err)
	}
	if err := old.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := old.SetNamespaceSettings(ctx, NamespaceSettings{Namespace: "team", ArtifactHubRepo: []byte("owners: []\n")}); err != nil {
		t.Fatal(err)
	}
	if s, err := old.GetNamespaceSettings(ctx, "team"); err != nil || string(s.ArtifactHubRepo) != "owners: []\n" {
		t.Fatalf("after Migrate: %+v, %v", s, err)
	}
}

// downgrade takes an open database back to an older schema (3 or 4), as an older release
// left it: the tables of the later migrations dropped, their versions forgotten.
func downgrade(t *testing.T, db *DB, to int) {
	t.Helper()
	ctx := context.Background()
	stmts := []string{
		`DROP TABLE IF EXISTS proxy_versions`, `DROP TABLE IF EXISTS proxies`, `ALTER TABLE chart_versions DROP COLUMN upstream_changed`,
		`ALTER TABLE chart_versions DROP COLUMN images`, `ALTER TABLE chart_versions DROP COLUMN images_error`, `ALTER TABLE chart_versions DROP COLUMN images_version`,
		`DELETE FROM schema_migrations WHERE version >= 10`,
		`DROP TABLE IF EXISTS trust_keys`, `DROP INDEX IF EXISTS chart_versions_quarantined`,
		`ALTER TABLE namespace_settings DROP COLUMN signed_only`, `ALTER TABLE namespace_settings DROP COLUMN semver_discipline`,
		`ALTER TABLE chart_versions DROP COLUMN prov_status`, `ALTER TABLE chart_versions DROP COLUMN prov_signer`, `ALTER TABLE chart_versions DROP COLUMN prov_error`, `ALTER TABLE chart_versions DROP COLUMN cosign_status`, `ALTER TABLE chart_versions DROP COLUMN cosign_signer`, `ALTER TABLE chart_versions DROP COLUMN cosign_error`, `ALTER TABLE chart_versions DROP COLUMN quarantined`, `ALTER TABLE chart_versions DROP COLUMN release_finding`,
		`DROP TABLE gc_state`, `ALTER TABLE blobs DROP COLUMN deleting_at`,
		`ALTER TABLE namespace_settings DROP COLUMN keep_prereleases`, `ALTER TABLE namespace_settings DROP COLUMN delete_prereleases_after`,
		`DELETE FROM schema_migrations WHERE version >= 8`,
		`DROP TABLE IF EXISTS token_keys`,
		`DROP TABLE webhook_deliveries`, `DROP TABLE webhook_events`, `DROP TABLE webhooks`,
		`DELETE FROM schema_migrations WHERE version >= 6`,
		`DROP TABLE audit_log`, `DROP TABLE grants`, `DROP TABLE tokens`, `DROP TABLE auth_state`,
		`DROP TRIGGER auth_users_insert`, `DROP TRIGGER auth_users_update`, `DROP TRIGGER auth_users_delete`,
		`DROP TRIGGER auth_anonymous_insert`, `DROP TRIGGER auth_anonymous_update`, `DROP TRIGGER auth_anonymous_delete`,
		`ALTER TABLE namespace_settings DROP COLUMN anonymous_read`,
		`DELETE FROM settings WHERE key LIKE 'upgrade.0005.%'`,
		`DELETE FROM schema_migrations WHERE version >= 5`,
	}
	if to < 4 {
		stmts = append(stmts, `DROP TABLE namespace_settings`, `DELETE FROM schema_migrations WHERE version >= 4`)
	}
	for _, q := range stmts {
		if _, err := db.w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestNamespaceRetention: retention rules are stored beside the other settings, each kept
// when the other changes, and removed (with the row, when nothing else is set) by a zero
// Retention; NamespaceRetentions lists the namespaces that have some.
func TestNamespaceRetention(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	keep, age := 3, 30*24*time.Hour
	if err := db.SetNamespaceRetention(ctx, "team", Retention{KeepPrereleases: &keep, DeletePrereleasesOlderThan: &age}, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.SetNamespaceSettings(ctx, NamespaceSettings{Namespace: "team", ArtifactHubRepo: []byte("repositoryID: x\n")}); err != nil {
		t.Fatal(err)
	}
	s, err := db.GetNamespaceSettings(ctx, "team")
	if err != nil || s.Retention.KeepPrereleases == nil || *s.Retention.KeepPrereleases != 3 ||
		s.Retention.DeletePrereleasesOlderThan == nil || *s.Retention.DeletePrereleasesOlderThan != age {
		t.Fatalf("settings = %+v, %v", s, err)
	}
	all, err := db.NamespaceRetentions(ctx)
	if err != nil || len(all) != 1 || all["team"].KeepPrereleases == nil {
		t.Fatalf("retentions = %+v, %v", all, err)
	}
	if err := db.SetNamespaceSettings(ctx, NamespaceSettings{Namespace: "team"}); err != nil {
		t.Fatal(err)
	}
	if s, err := db.GetNamespaceSettings(ctx, "team"); err != nil || s.Retention.IsZero() {
		t.Fatalf("retention alone was not kept: %+v, %v", s, err)
	}
	if err := db.SetNamespaceRetention(ctx, "team", Retention{}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetNamespaceSettings(ctx, "team"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("settings that set nothing were kept: %v", err)
	}
}
