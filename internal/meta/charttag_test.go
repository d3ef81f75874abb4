package meta

import (
	"context"
	"testing"

	"github.com/chartroom/chartroom/internal/chart"
)

// Deleting a chart version's tag deletes the version, also when the version has build
// metadata, whose '+' the tag spells '_' (chart.OCITag): the database finds the version the
// tag names, and only that one.
func TestDeleteTagOfVersionWithBuildMetadata(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	for _, v := range []string{"1.0.0+build.7", "1.0.0+build.8", "1.0.0"} {
		if _, err := db.PutManifest(ctx, chartPush("team/myapp", v, "content of "+v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.DeleteTag(ctx, "team/myapp", chart.OCITag("1.0.0+build.7"), false, ""); err != nil {
		t.Fatal(err)
	}
	for v, deleted := range map[string]bool{"1.0.0+build.7": true, "1.0.0+build.8": false, "1.0.0": false} {
		c, err := db.GetChartVersion(ctx, "team", "myapp", v)
		if err != nil {
			t.Fatal(err)
		}
		if c.Deleted != deleted {
			t.Errorf("%s: deleted = %v, want %v", v, c.Deleted, deleted)
		}
	}
}
