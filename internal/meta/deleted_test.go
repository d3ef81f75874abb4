package meta

import (
	"context"
	"testing"
	"time"
)

// The tombstones of a chart are read back, latest deletion first, with when each was deleted;
// live versions, other charts' tombstones and versions brought back are not among them.
func TestDeletedChartVersions(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	db.now = func() time.Time { return clock }
	push := func(repo, version, content string) PutManifest {
		p := chartPush(repo, version, content)
		p.Chart.Name = repo[len("team/"):]
		p.Chart.PushedBy = "alice"
		p.Chart.AppVersion = "app-" + version
		if _, err := db.PutManifest(ctx, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	v1 := push("team/myapp", "1.0.0", "a")
	v2 := push("team/myapp", "1.1.0", "b")
	push("team/myapp", "1.2.0", "c")
	other := push("team/other", "1.0.0", "d")
	del := func(p PutManifest, at time.Time) {
		clock = at
		if err := db.DeleteManifest(ctx, p.Manifest.Repository, p.Manifest.Digest, false, "bob"); err != nil {
			t.Fatal(err)
		}
	}
	first, second := clock.Add(time.Hour), clock.Add(2*time.Hour)
	del(v1, first)
	del(v2, second)
	del(other, second)

	got, err := db.DeletedChartVersions(ctx, "team", "myapp", false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Version != "1.1.0" || got[1].Version != "1.0.0" {
		t.Fatalf("tombstones: %+v, want 1.1.0 then 1.0.0", got)
	}
	d := got[1]
	if !d.Deleted.Equal(first) || !d.Created.Before(first) || d.Name != "myapp" || d.AppVersion != "app-1.0.0" ||
		d.ChartDigest != v1.Chart.ChartDigest || d.ChartSize != 1 || d.PushedBy != "alice" || d.Quarantined {
		t.Errorf("tombstone of 1.0.0: %+v", d)
	}
	if !got[0].Deleted.Equal(second) {
		t.Errorf("1.1.0 deleted at %s, want %s", got[0].Deleted, second)
	}
	if got, err := db.DeletedChartVersions(ctx, "team", "myapp", false, 1); err != nil || len(got) != 1 || got[0].Version != "1.1.0" {
		t.Errorf("limit 1: %+v %v", got, err)
	}
	if got, err := db.DeletedChartVersions(ctx, "team", "", false, 0); err != nil || len(got) != 3 || got[0].Name != "myapp" || got[1].Name != "other" || got[2].Version != "1.0.0" {
		t.Errorf("every chart of the namespace: %+v %v", got, err)
	}
	if got, err := db.DeletedChartVersions(ctx, "other-ns", "myapp", true, 0); err != nil || len(got) != 0 {
		t.Errorf("another namespace: %+v %v", got, err)
	}

	// The same bytes published again: live, no longer a tombstone.
	if _, err := db.PutManifest(ctx, v1); err != nil {
		t.Fatal(err)
	}
	if got, err := db.DeletedChartVersions(ctx, "team", "myapp", true, 0); err != nil || len(got) != 1 || got[0].Version != "1.1.0" {
		t.Errorf("after 1.0.0 came back: %+v %v", got, err)
	}
}
