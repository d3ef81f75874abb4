package registry

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chartroom/chartroom/internal/chart/charttest"
)

// A chart pushed over OCI is dated by its manifest's org.opencontainers.image.created
// annotation (what helm push writes, and what chartroom import sets to the source's date),
// so the index says when the version was made; an annotation that is not an RFC 3339 time,
// is in the future, or before Helm charts existed (a reproducible build's placeholder
// modification time), dates it at its arrival, as does every upload over the classic API.
func TestChartCreatedFromManifestAnnotation(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t, Options{})
	before := time.Now().UTC().Add(-time.Second)
	future := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	cases := []struct {
		version, annotation string
		want                time.Time // zero: arrival time
	}{
		{"1.0.0", "2019-03-04T05:06:07Z", time.Date(2019, 3, 4, 5, 6, 7, 0, time.UTC)},
		{"1.1.0", "2021-01-02T03:04:05+02:00", time.Date(2021, 1, 2, 1, 4, 5, 0, time.UTC)},
		{"1.2.0", "yesterday", time.Time{}},
		{"1.3.0", future, time.Time{}},
		{"1.4.0", "1970-01-01T00:00:01Z", time.Time{}},
		{"1.4.1", "1980-01-01T00:00:00Z", time.Time{}},
		{"1.4.2", "2015-01-01T00:00:00Z", time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"1.5.0", "", time.Time{}},
	}
	for _, c := range cases {
		archive := charttest.Archive(t, "dated", c.version, "")
		body := r.chartManifestFor(t, "team/dated", helmConfig(t, archive), archive, c.annotation)
		if err := r.push("team/dated", c.version, body); err != nil {
			t.Fatalf("%s: %v", c.version, err)
		}
		v, err := r.ChartVersion(ctx, "team", "dated", c.version)
		if err != nil {
			t.Fatal(err)
		}
		if !c.want.IsZero() {
			if !v.Created.Equal(c.want) {
				t.Errorf("%s with created %q: Created %v, want %v", c.version, c.annotation, v.Created, c.want)
			}
		} else if v.Created.Before(before) || v.Created.After(time.Now().Add(time.Second)) {
			t.Errorf("%s with created %q: Created %v, want the arrival time", c.version, c.annotation, v.Created)
		}
	}
	// The index says the same.
	idx, err := r.Index(ctx, "team", IndexYAML, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range idx.Entries {
		if e.Version == "1.0.0" {
			found = true
			if !strings.Contains(string(e.YAML), "created: \"2019-03-04T05:06:07Z\"") {
				t.Errorf("index entry of 1.0.0:\n%s", e.YAML)
			}
		}
	}
	if !found {
		t.Error("the index lists no 1.0.0")
	}
	// Over the upload API there is no annotation: the arrival time.
	v, err := r.publishBytes(ctx, charttest.Archive(t, "dated", "2.0.0", ""), PublishChartRequest{Namespace: "team"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Created.Before(before) {
		t.Errorf("uploaded version dated %v, want its arrival", v.Created)
	}
}
