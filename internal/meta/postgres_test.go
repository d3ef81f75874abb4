package meta

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/chartroom/chartroom/internal/meta/pgtest"
)

func TestRebind(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`SELECT a FROM t WHERE b = ? AND c = ?`, `SELECT a FROM t WHERE b = $1 AND c = $2`},
		{`SELECT '?', "q?" FROM t WHERE b = ?`, `SELECT '?', "q?" FROM t WHERE b = $1`},
		{`SELECT 'it''s ?' WHERE x = ?`, `SELECT 'it''s ?' WHERE x = $1`},
		{"-- what?\nSELECT ? /* why? */, ?", "-- what?\nSELECT $1 /* why? */, $2"},
		{`SELECT 1`, `SELECT 1`},
		{`SELECT 'open ?`, `SELECT 'open ?`},
	} {
		if got := rebind(tc.in); got != tc.want {
			t.Errorf("rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Both dialects have the same migrations, and a database migrated by either has the same
// tables and columns: a migration ported to one only fails here.
func TestMigrationsMatch(t *testing.T) {
	names := func(dir string) []string {
		entries, err := fs.ReadDir(migrations, dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	if s, p := names(sqliteDialect.migrations), names(postgres.migrations); !reflect.DeepEqual(s, p) {
		t.Fatalf("migrations differ:\nsqlite   %v\npostgres %v", s, p)
	}
	ctx := context.Background()
	lite, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "chartroom.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	pg, err := OpenPostgres(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	columns := func(db *DB, query string) []string {
		rows, err := db.r.QueryContext(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var table, column string
			if err := rows.Scan(&table, &column); err != nil {
				t.Fatal(err)
			}
			out = append(out, table+"."+column)
		}
		sort.Strings(out)
		return out
	}
	s := columns(lite, `SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'`)
	p := columns(pg, `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'`)
	if !reflect.DeepEqual(s, p) {
		t.Fatalf("columns differ:\nsqlite   %v\npostgres %v", s, p)
	}
}

// Two processes on one PostgreSQL database (two handles here, each its own pool): concurrent
// publishes of one version with different content over both give exactly one winner, and a
// write that bypasses chartroom's write lock still meets the primary key.
func TestPostgresReplicasShareTheRules(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	var replicas [2]*DB
	for i := range replicas {
		db, err := OpenPostgres(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		replicas[i] = db
	}
	const n = 21
	warm(t, replicas[:], n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = replicas[i%2].PutManifest(ctx, chartPush("team/myapp", "1.0.0", fmt.Sprintf("content %d", i)))
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
	for i, db := range replicas {
		versions, state, err := db.ChartVersions(ctx, "team", "myapp", false)
		if err != nil || len(versions) != 1 || state.Generation != 1 {
			t.Fatalf("replica %d: versions %v state %+v err %v", i, versions, state, err)
		}
	}
	_, err := replicas[1].w.ExecContext(ctx, `INSERT INTO chart_versions (repository_id, namespace, name, version, manifest_digest, chart_digest, chart_size, metadata, created_at)
		SELECT repository_id, namespace, name, version, 'sha256:other', 'sha256:other', 1, '{}', 0 FROM chart_versions`)
	if err == nil || !strings.Contains(err.Error(), "23505") {
		t.Fatalf("a second row for a published version: %v; want the primary key's unique violation (23505)", err)
	}
}

// The tag rules read, then write, in one transaction: concurrent pushes of different manifests
// under one new tag over two replicas all succeed (the tag names one of them), and under
// immutable tags exactly one does. Without writes serialized across replicas, both would find
// no tag and the second insert would fail.
func TestPostgresReplicasRaceForATag(t *testing.T) {
	ctx := context.Background()
	for _, immutable := range []bool{false, true} {
		t.Run(fmt.Sprintf("immutable=%v", immutable), func(t *testing.T) {
			url := pgtest.NewDatabase(t)
			var replicas [2]*DB
			for i := range replicas {
				db, err := OpenPostgres(ctx, url)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				replicas[i] = db
			}
			const n = 16
			warm(t, replicas[:], n)
			for round := 0; round < 5; round++ {
				tag := fmt.Sprintf("t%d", round)
				var wg sync.WaitGroup
				errs := make([]error, n)
				for i := 0; i < n; i++ {
					wg.Add(1)
					go func(i int) {
						defer wg.Done()
						p := imagePush("team/app", fmt.Sprintf("image %d", i), tag)
						p.ImmutableTags = immutable
						_, errs[i] = replicas[i%2].PutManifest(ctx, p)
					}(i)
				}
				wg.Wait()
				ok := 0
				for i, err := range errs {
					var conflict *TagConflictError
					switch {
					case err == nil:
						ok++
					case immutable && errors.As(err, &conflict):
					default:
						t.Errorf("tag %s, push %d: %v", tag, i, err)
					}
				}
				if want := map[bool]int{false: n, true: 1}[immutable]; ok != want {
					t.Fatalf("tag %s: %d pushes succeeded, want %d", tag, ok, want)
				}
			}
		})
	}
}

// warm opens n connections in each replica's pool, so that the writes a test starts at once
// run at once rather than one by one as connections are made.
func warm(t *testing.T, replicas []*DB, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for _, db := range replicas {
		for i := 0; i < min(n, DefaultPostgresMaxConns); i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := db.r.ExecContext(context.Background(), `SELECT pg_sleep(0.2)`); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
}
