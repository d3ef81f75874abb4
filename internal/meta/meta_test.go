package meta

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/meta/pgtest"
)

// openTest opens a fresh database of the backend the tests run on (pgtest.Selected).
func openTest(t *testing.T) *DB {
	t.Helper()
	return testDatabase(t)(t)
}

// testDatabase makes a fresh database of the backend the tests run on and returns a function
// that opens it (each call a new handle on the same database, migrating it as a start does),
// closed when the test ends.
func testDatabase(t *testing.T) func(*testing.T) *DB {
	t.Helper()
	open := testOpener(t)
	return func(t *testing.T) *DB {
		t.Helper()
		db, err := open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
}

// testOpener makes a fresh database of the backend the tests run on and returns its Open.
func testOpener(t *testing.T) func(context.Context) (*DB, error) {
	t.Helper()
	if pgtest.Selected() {
		url := pgtest.NewDatabase(t)
		return func(ctx context.Context) (*DB, error) { return OpenPostgres(ctx, url) }
	}
	path := filepath.Join(t.TempDir(), "chartroom.db")
	return func(ctx context.Context) (*DB, error) { return OpenSQLite(ctx, path) }
}

func chartPush(repo, version string, content string) PutManifest {
	body := []byte(fmt.Sprintf(`{"schemaVersion":2,"v":%q,"c":%q}`, version, content))
	return PutManifest{
		Manifest: Manifest{Repository: repo, Digest: digest.FromBytes(body), MediaType: "application/vnd.oci.image.manifest.v1+json", Content: body},
		Tags:     []string{chart.OCITag(version)},
		Chart: &ChartVersion{
			Namespace: "team", Name: "myapp", Version: version,
			ChartDigest: digest.FromString(content), ChartSize: int64(len(content)), Metadata: []byte(`{}`),
		},
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	open := testDatabase(t)
	db := open(t)
	if _, err := db.PutManifest(ctx, chartPush("team/myapp", "1.0.0", "a")); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = open(t) // migrations must not run twice
	if _, err := db.GetChartVersion(ctx, "team", "myapp", "1.0.0"); err != nil {
		t.Fatal(err)
	}
}

func TestChartVersionImmutability(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		first   PutManifest
		second  PutManifest
		wantErr bool
		wantTag digest.Digest // where tag 1.0.0 points after the second push
	}{
		{"identical push", chartPush("team/myapp", "1.0.0", "a"), chartPush("team/myapp", "1.0.0", "a"), false, chartPush("team/myapp", "1.0.0", "a").Manifest.Digest},
		{"different content", chartPush("team/myapp", "1.0.0", "a"), chartPush("team/myapp", "1.0.0", "b"), true, chartPush("team/myapp", "1.0.0", "a").Manifest.Digest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t)
			if _, err := db.PutManifest(ctx, tc.first); err != nil {
				t.Fatal(err)
			}
			_, err := db.PutManifest(ctx, tc.second)
			var conflict *ChartConflictError
			if got := errors.As(err, &conflict); got != tc.wantErr {
				t.Fatalf("second push: err = %v, want conflict %v", err, tc.wantErr)
			}
			m, err := db.GetManifest(ctx, "team/myapp", "1.0.0", true, false)
			if err != nil || m.Digest != tc.wantTag {
				t.Fatalf("tag: %v %v, want %s", m, err, tc.wantTag)
			}
		})
	}

	t.Run("same content under another manifest keeps the first tag", func(t *testing.T) {
		db := openTest(t)
		first := chartPush("team/myapp", "1.0.0", "a")
		second := chartPush("team/myapp", "1.0.0", "a")
		second.Manifest.Content = append([]byte(nil), second.Manifest.Content...)
		second.Manifest.Content = append(second.Manifest.Content[:len(second.Manifest.Content)-1], []byte(`,"created":"later"}`)...)
		second.Manifest.Digest = digest.FromBytes(second.Manifest.Content)
		if _, err := db.PutManifest(ctx, first); err != nil {
			t.Fatal(err)
		}
		stored, err := db.PutManifest(ctx, second)
		if err != nil {
			t.Fatalf("re-push of identical content: %v", err)
		}
		if stored.ManifestDigest != first.Manifest.Digest {
			t.Fatalf("stored version points to %s, want the first manifest %s", stored.ManifestDigest, first.Manifest.Digest)
		}
		if _, err := db.GetManifest(ctx, "team/myapp", second.Manifest.Digest.String(), false, false); err != nil {
			t.Fatalf("second manifest by digest: %v", err)
		}
	})

	t.Run("tombstone allows only the same content back", func(t *testing.T) {
		db := openTest(t)
		a := chartPush("team/myapp", "1.0.0", "a")
		if _, err := db.PutManifest(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteManifest(ctx, "team/myapp", a.Manifest.Digest, false, ""); err != nil {
			t.Fatal(err)
		}
		versions, _, err := db.ChartVersions(ctx, "team", "", false)
		if err != nil || len(versions) != 0 {
			t.Fatalf("after delete: %v %v", versions, err)
		}
		var conflict *ChartConflictError
		if _, err := db.PutManifest(ctx, chartPush("team/myapp", "1.0.0", "b")); !errors.As(err, &conflict) || !conflict.Existing.Deleted {
			t.Fatalf("different content after delete: %v", err)
		}
		if _, err := db.PutManifest(ctx, a); err != nil {
			t.Fatalf("same content after delete: %v", err)
		}
		versions, _, _ = db.ChartVersions(ctx, "team", "", false)
		if len(versions) != 1 {
			t.Fatalf("restored: %v", versions)
		}
	})
}

func TestConcurrentPublishHasOneWinner(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = db.PutManifest(ctx, chartPush("team/myapp", "1.0.0", fmt.Sprintf("content %d", i)))
		}(i)
	}
	wg.Wait()
	winners := 0
	for i, err := range errs {
		var conflict *ChartConflictError
		switch {
		case err == nil:
			winners++
		case errors.As(err, &conflict):
		default:
			t.Errorf("push %d: unexpected error %v", i, err)
		}
	}
	if winners != 1 {
		t.Fatalf("%d winners, want exactly 1", winners)
	}
	versions, state, err := db.ChartVersions(ctx, "team", "myapp", false)
	if err != nil || len(versions) != 1 || state.Generation != 1 {
		t.Fatalf("versions %v state %+v err %v", versions, state, err)
	}
}

func TestTagsAndCatalogPagination(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	body := []byte(`{"schemaVersion":2}`)
	m := Manifest{Repository: "a/b", Digest: digest.FromBytes(body), MediaType: "application/vnd.oci.image.manifest.v1+json", Content: body}
	if _, err := db.PutManifest(ctx, PutManifest{Manifest: m, Tags: []string{"c", "a", "b", "Z"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n    int
		last string
		want string
	}{{0, "", "[Z a b c]"}, {2, "", "[Z a]"}, {2, "a", "[b c]"}, {5, "c", "[]"}} {
		got, err := db.Tags(ctx, "a/b", tc.n, tc.last, false)
		if err != nil || fmt.Sprint(got) != tc.want && !(tc.want == "[]" && len(got) == 0) {
			t.Errorf("Tags(n=%d,last=%q) = %v %v, want %s", tc.n, tc.last, got, err, tc.want)
		}
	}
	if _, err := db.Tags(ctx, "no/such", 0, "", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("tags of unknown repository: %v", err)
	}
	var missing *MissingError
	if _, err := db.PutManifest(ctx, PutManifest{Manifest: m, Blobs: []digest.Digest{digest.FromString("x")}}); !errors.As(err, &missing) {
		t.Errorf("missing blob: %v", err)
	}
}

func TestIndexEntriesSinceFollowsChanges(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	var pushes []PutManifest
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		p := chartPush("team/myapp", v, v)
		p.Chart.IndexYAML, p.Chart.IndexJSON = []byte("yaml "+v), []byte("json "+v)
		pushes = append(pushes, p)
		if _, err := db.PutManifest(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	all, state, err := db.IndexEntries(ctx, "team", IndexJSON, 0)
	if err != nil || len(all) != 3 || state.Generation != 3 || string(all[0].Entry[:4]) != "json" {
		t.Fatalf("full read: %+v %+v %v", all, state, err)
	}
	if err := db.DeleteManifest(ctx, "team/myapp", pushes[0].Manifest.Digest, false, ""); err != nil {
		t.Fatal(err)
	}
	p := chartPush("team/myapp", "2.0.0", "2.0.0")
	if _, err := db.PutManifest(ctx, p); err != nil {
		t.Fatal(err)
	}
	changes, state, err := db.IndexEntries(ctx, "team", IndexYAML, 3)
	if err != nil || state.Generation != 5 {
		t.Fatalf("changes: %v %+v", err, state)
	}
	got := map[string]bool{}
	for _, c := range changes {
		got[c.Version] = c.Deleted
	}
	if len(changes) != 2 || got["1.0.0"] != true || got["2.0.0"] != false {
		t.Fatalf("changes since 3: %+v", changes)
	}
	if changes, _, _ := db.IndexEntries(ctx, "team", IndexYAML, 5); len(changes) != 0 {
		t.Fatalf("changes since the current generation: %+v", changes)
	}
}

// A database migrated by a newer chartroom is refused, not used by a binary that does not
// know what the newer migrations changed.
func TestOpenRefusesANewerSchema(t *testing.T) {
	ctx := context.Background()
	open := testOpener(t)
	db, err := open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = open(ctx)
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "9999") || !strings.Contains(err.Error(), "backup") {
		t.Fatalf("OpenSQLite of a newer schema = %v; want ErrSchemaTooNew naming the version and what to do", err)
	}
}
