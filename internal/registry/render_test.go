package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/meta/pgtest"
)

// Index entries an older release stored — a raw control character in the YAML entry, fields
// of a hand-made OCI config that the archive does not have — are rendered again from the
// stored archive when the registry starts, once; the namespace's index follows (a new
// generation), and a chart whose archive is gone keeps its stored metadata, rendered again.
func TestOlderIndexEntriesRenderedAgainAtStart(t *testing.T) {
	if pgtest.Selected() {
		t.Skip("older releases' rows exist in SQLite databases only: PostgreSQL support began after render version 1")
	}
	ctx := context.Background()
	dir := t.TempDir()
	r := openRegistry(t, dir, nil, Options{})
	archive := charttest.Archive(t, "myapp", "1.0.0", "", "home: https://example.com/bell")
	c, err := r.publishBytes(ctx, archive, PublishChartRequest{Namespace: "team"})
	if err != nil {
		t.Fatal(err)
	}
	gone := charttest.Archive(t, "gone", "1.0.0", "")
	g, err := r.publishBytes(ctx, gone, PublishChartRequest{Namespace: "team"})
	if err != nil {
		t.Fatal(err)
	}
	want, err := r.Index(ctx, "team", IndexYAML, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantEntry := string(want.Entries[1].YAML) // myapp, after gone

	// What an older release left: render version 0, the metadata of a hand-made config
	// (an extra field), entries rendered from it with the control character raw.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "chartroom.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	old := `{"apiVersion":"v2","name":"myapp","version":"1.0.0","home":"https://example.com/` + "\a" + `bell","x-hand-made":"from the config"}`
	oldYAML := "  - apiVersion: v2\n    home: https://example.com/\abell\n    name: myapp\n    version: 1.0.0\n    x-hand-made: from the config\n"
	for _, v := range []struct{ name, metadata, yaml string }{{"myapp", old, oldYAML}, {"gone", `{"apiVersion":"v2","name":"gone","version":"1.0.0","description":"kept"}`, "  - raw\n"}} {
		if _, err := db.Exec(`UPDATE chart_versions SET render_version = 0, metadata = ?, index_yaml = ?, index_json = ? WHERE name = ?`,
			v.metadata, v.yaml, `{"raw":"`+"\a"+`"`, v.name); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := r.IndexState(ctx, "team")
	if err := r.blobs.Delete(ctx, g.ChartDigest); err != nil {
		t.Fatal(err)
	}

	r = openRegistry(t, dir, nil, Options{})
	after, err := r.IndexState(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	if after.Generation <= before.Generation {
		t.Fatalf("re-rendering left the namespace at generation %d (was %d): cached indexes would not follow", after.Generation, before.Generation)
	}
	got, err := r.Index(ctx, "team", IndexYAML, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e := string(got.Entries[1].YAML); e != wantEntry || strings.ContainsRune(e, '\a') {
		t.Fatalf("entry after the start:\n%q\nwant\n%q", e, wantEntry)
	}
	v, err := r.ChartVersion(ctx, "team", "myapp", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(v.Entry), "hand-made") || !json.Valid(append(v.Entry, '}')) || v.ChartDigest != c.ChartDigest {
		t.Fatalf("JSON entry after the start: %s", v.Entry)
	}
	// The chart whose archive is gone: its stored metadata, rendered by this release.
	if e := string(got.Entries[0].YAML); !strings.Contains(e, "description: kept") || strings.Contains(e, "raw") {
		t.Fatalf("entry of the chart without its archive: %q", e)
	}

	// Once: a second start rewrites nothing.
	r = openRegistry(t, dir, nil, Options{})
	if again, _ := r.IndexState(ctx, "team"); again != after {
		t.Fatalf("a second start changed the namespace again: %+v, then %+v", after, again)
	}
}
