package registry

import (
	"context"
	"fmt"
	"testing"

	"github.com/chartroom/chartroom/internal/chart/charttest"
)

// Deleted versions are listed by chart, newest version first in semver order (10.0.0 before
// 9.0.0), with when they were deleted; live versions are not.
func TestDeletedChartVersions(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t, Options{})
	for _, c := range [][2]string{{"myapp", "9.0.0"}, {"myapp", "10.0.0"}, {"myapp", "11.0.0"}, {"zeta", "0.1.0"}} {
		if _, err := r.publishBytes(ctx, charttest.Archive(t, c[0], c[1], ""), PublishChartRequest{Namespace: "team", Actor: "alice"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range [][2]string{{"zeta", "0.1.0"}, {"myapp", "9.0.0"}, {"myapp", "10.0.0"}} {
		if err := r.DeleteChartVersion(ctx, "team", c[0], c[1], "bob"); err != nil {
			t.Fatal(err)
		}
	}
	got, err := r.DeletedChartVersions(ctx, "team", "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range got {
		names = append(names, d.Repository+" "+d.Version)
		if d.Deleted.IsZero() || d.Deleted.Before(d.Created) || d.PushedBy != "alice" || d.ChartDigest == "" {
			t.Errorf("%s %s: %+v", d.Name, d.Version, d)
		}
	}
	if want := "[team/myapp 10.0.0 team/myapp 9.0.0 team/zeta 0.1.0]"; fmt.Sprint(names) != want {
		t.Fatalf("deleted versions %s, want %s", fmt.Sprint(names), want)
	}
	if one, err := r.DeletedChartVersions(ctx, "team", "zeta"); err != nil || len(one) != 1 || one[0].Version != "0.1.0" {
		t.Fatalf("zeta: %+v %v", one, err)
	}
}

// The versions of every chart of a namespace (name "", what the web UI's lists read) keep
// each chart, also when charts share version numbers, by chart name, each newest first.
func TestChartVersionsOfANamespaceKeepsChartsSharingAVersion(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t, Options{})
	for _, c := range [][2]string{{"web", "1.0.0"}, {"api", "1.0.0"}, {"api", "1.10.0"}, {"api", "1.9.0"}, {"web", "2.0.0"}} {
		if _, err := r.publishBytes(ctx, charttest.Archive(t, c[0], c[1], ""), PublishChartRequest{Namespace: "team"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := r.ChartVersions(ctx, "team", "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range got {
		names = append(names, v.Name+" "+v.Version)
		if v.Repository != "team/"+v.Name {
			t.Errorf("%s %s: repository %s", v.Name, v.Version, v.Repository)
		}
	}
	if want := "[api 1.10.0 api 1.9.0 api 1.0.0 web 2.0.0 web 1.0.0]"; fmt.Sprint(names) != want {
		t.Fatalf("versions %s, want %s", fmt.Sprint(names), want)
	}
}
