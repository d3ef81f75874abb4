package registry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/registry/registrytest"
	"github.com/chartroom/chartroom/internal/release"
)

// diffArchive is version of chart diffy, with values and a note that makes its bytes unique
// to the test (reports are cached per pair of archives, process-wide).
func diffArchive(t *testing.T, version, values, note string) []byte {
	return charttest.Files(t, "diffy", map[string]string{
		"Chart.yaml":        "apiVersion: v2\nname: diffy\nversion: " + version + "\ndescription: " + note + "\n",
		"values.yaml":       values,
		"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  a: {{ .Values.a | quote }}\n",
	})
}

// DiffChartVersions reports what release.Check reports, from the stored archives; one pair
// is analysed once (the second answer is the cached report).
func TestDiffChartVersions(t *testing.T) {
	e := registrytest.New(t, registry.Options{})
	ctx := context.Background()
	for _, a := range [][]byte{
		diffArchive(t, "1.0.0", "a: x\nb: y\n", t.Name()),
		diffArchive(t, "1.1.0", "a: z\n", t.Name()),
	} {
		if _, err := e.Publish(t, a, registry.PublishChartRequest{Namespace: "team"}); err != nil {
			t.Fatal(err)
		}
	}
	d, err := e.Registry.DiffChartVersions(ctx, "team", "diffy", "1.0.0", "1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if d.From.Version != "1.0.0" || d.To.Version != "1.1.0" || d.Report.Required != release.Major || d.Report.Bump != release.Minor || d.Report.Suggested != "2.0.0" {
		t.Fatalf("report %+v", d.Report)
	}
	again, err := e.Registry.DiffChartVersions(ctx, "team", "diffy", "1.0.0", "1.1.0")
	if err != nil || again.Report != d.Report {
		t.Fatalf("the same pair again: %v, another report", err)
	}
	if _, err := e.Registry.DiffChartVersions(ctx, "team", "diffy", "1.0.0", "3.0.0"); !errors.Is(err, registry.ErrChartUnknown) {
		t.Fatalf("an unknown version: %v", err)
	}
}

// The analysis is bounded by the release check timeout: past it, ErrTooLarge says so.
func TestDiffChartVersionsTimeout(t *testing.T) {
	e := registrytest.New(t, registry.Options{ReleaseCheckTimeout: time.Nanosecond})
	for _, a := range [][]byte{
		diffArchive(t, "1.0.0", "a: x\n", t.Name()),
		diffArchive(t, "1.0.1", "a: y\n", t.Name()),
	} {
		if _, err := e.Publish(t, a, registry.PublishChartRequest{Namespace: "team"}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.Registry.DiffChartVersions(context.Background(), "team", "diffy", "1.0.0", "1.0.1")
	if !errors.Is(err, registry.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}
