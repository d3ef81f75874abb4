package registry

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/repoindex"
)

// An index brought up to date from an earlier one equals one read from scratch, and the
// earlier one is left as it was.
func TestIndexCatchesUp(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t, Options{})
	publish := func(name, version string) {
		t.Helper()
		if _, err := r.publishBytes(ctx, charttest.Archive(t, name, version, ""), PublishChartRequest{Namespace: "team"}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(idx *Index) []string {
		var out []string
		for _, e := range idx.Entries {
			out = append(out, e.Name+" "+e.Version)
		}
		return out
	}
	publish("myapp", "1.0.0")
	publish("myapp", "1.2.0")
	publish("zeta", "0.1.0")
	prevs := map[IndexFormat]*Index{}
	for _, format := range []IndexFormat{IndexYAML, IndexJSON} {
		prev, err := r.Index(ctx, "team", format, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"myapp 1.2.0", "myapp 1.0.0", "zeta 0.1.0"}; !reflect.DeepEqual(names(prev), want) {
			t.Fatalf("index %v, want %v", names(prev), want)
		}
		prevs[format] = prev
	}
	publish("myapp", "1.10.0")
	publish("alpha", "2.0.0-rc.1")
	if err := r.DeleteChartVersion(ctx, "team", "myapp", "1.0.0", ""); err != nil {
		t.Fatal(err)
	}
	for format, prev := range prevs {
		before := names(prev)
		caught, err := r.Index(ctx, "team", format, prev)
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := r.Index(ctx, "team", format, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"alpha 2.0.0-rc.1", "myapp 1.10.0", "myapp 1.2.0", "zeta 0.1.0"}; !reflect.DeepEqual(names(fresh), want) {
			t.Fatalf("index %v, want %v", names(fresh), want)
		}
		if !reflect.DeepEqual(entriesOf(caught), entriesOf(fresh)) || caught.IndexState != fresh.IndexState || caught.Generation != prev.Generation+3 {
			t.Fatalf("caught up %v at %+v, read afresh %v at %+v", names(caught), caught.IndexState, names(fresh), fresh.IndexState)
		}
		if !reflect.DeepEqual(names(prev), before) {
			t.Fatalf("catching up changed the earlier index: %v", names(prev))
		}
	}
}

// entriesOf is what an index says, without the parsed versions repoindex.Sort keeps.
func entriesOf(idx *Index) []repoindex.Entry {
	out := make([]repoindex.Entry, len(idx.Entries))
	for i, e := range idx.Entries {
		out[i] = repoindex.Entry{Name: e.Name, Version: e.Version, YAML: e.YAML, JSON: e.JSON}
	}
	return out
}

// ChartVersions lists newest first; the latest version is the highest stable one, else the
// highest pre-release; a chart without versions has none.
func TestLatestChartVersion(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t, Options{})
	for _, v := range []string{"1.0.0", "2.0.0-rc.1", "1.10.0", "1.2.0"} {
		if _, err := r.publishBytes(ctx, charttest.Archive(t, "myapp", v, ""), PublishChartRequest{Namespace: "team"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.publishBytes(ctx, charttest.Archive(t, "pre", "0.1.0-alpha", ""), PublishChartRequest{Namespace: "team"}); err != nil {
		t.Fatal(err)
	}
	versions, err := r.ChartVersions(ctx, "team", "myapp")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range versions {
		got = append(got, v.Version)
		if len(v.Entry) == 0 {
			t.Errorf("%s has no index entry", v.Version)
		}
	}
	if want := []string{"2.0.0-rc.1", "1.10.0", "1.2.0", "1.0.0"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("versions %v, want %v", got, want)
	}
	for name, want := range map[string]string{"myapp": "1.10.0", "pre": "0.1.0-alpha"} {
		if c, err := r.LatestChartVersion(ctx, "team", name); err != nil || c.Version != want {
			t.Errorf("latest %s: %v %v, want %s", name, c, err, want)
		}
	}
	if _, err := r.LatestChartVersion(ctx, "team", "nope"); !errors.Is(err, ErrChartUnknown) {
		t.Fatalf("latest of no chart: %v", err)
	}
}
