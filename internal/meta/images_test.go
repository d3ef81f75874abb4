package meta

import (
	"context"
	"errors"
	"testing"
)

// TestChartImages: the images given at publish are stored with the version; an extraction
// recorded later fills in a version without them (images_version 0, as migration 0010
// leaves older versions) but never overwrites one of the same or a later version.
func TestChartImages(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	withImages := chartPush("team/myapp", "1.0.0", "a")
	withImages.Chart.Images = ChartImages{JSON: []byte(`[{"image":"nginx:1.27"}]`), Error: "", Version: 2}
	if _, err := db.PutManifest(ctx, withImages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutManifest(ctx, chartPush("team/myapp", "1.1.0", "b")); err != nil {
		t.Fatal(err)
	}

	got, err := db.GetChartImages(ctx, "team/myapp", "1.0.0")
	if err != nil || string(got.JSON) != `[{"image":"nginx:1.27"}]` || got.Version != 2 {
		t.Fatalf("stored at publish: %+v %s, %v", got, got.JSON, err)
	}
	if wrote, err := db.SetChartImages(ctx, "team/myapp", "1.0.0", ChartImages{JSON: []byte(`[]`), Version: 2}); err != nil || wrote {
		t.Fatalf("an extraction of the same version overwrote the stored one: %v, %v", wrote, err)
	}
	if got, _ := db.GetChartImages(ctx, "team/myapp", "1.0.0"); string(got.JSON) != `[{"image":"nginx:1.27"}]` {
		t.Fatalf("after a refused overwrite: %s", got.JSON)
	}

	if got, err := db.GetChartImages(ctx, "team/myapp", "1.1.0"); err != nil || got.JSON != nil || got.Version != 0 {
		t.Fatalf("a version published without images: %+v, %v", got, err)
	}
	ci := ChartImages{JSON: []byte(`[]`), Error: "the chart does not render", Version: 1}
	if wrote, err := db.SetChartImages(ctx, "team/myapp", "1.1.0", ci); err != nil || !wrote {
		t.Fatalf("fill in: %v, %v", wrote, err)
	}
	if got, err := db.GetChartImages(ctx, "team/myapp", "1.1.0"); err != nil || string(got.JSON) != `[]` || got.Error != ci.Error || got.Version != 1 {
		t.Fatalf("filled in: %+v, %v", got, err)
	}

	for _, v := range []struct{ repo, version string }{{"team/myapp", "9.9.9"}, {"team/nope", "1.0.0"}} {
		if _, err := db.SetChartImages(ctx, v.repo, v.version, ci); !errors.Is(err, ErrNotFound) {
			t.Errorf("set %s %s: %v, want ErrNotFound", v.repo, v.version, err)
		}
		if _, err := db.GetChartImages(ctx, v.repo, v.version); !errors.Is(err, ErrNotFound) {
			t.Errorf("get %s %s: %v, want ErrNotFound", v.repo, v.version, err)
		}
	}
}
