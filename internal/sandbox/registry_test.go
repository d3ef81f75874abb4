package sandbox_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/registry/registrytest"
)

// TestRegistryRendersInAChild: a registry whose renders run in children publishes a chart
// whose template allocates gigabytes with the memory error as its imagesError (warn: and a
// finding that it was not checked), and refuses it, and one that loops for hours, under the
// semver discipline's enforce with ErrTooLarge saying why, within its timeout; a normal
// version is still checked and published.
func TestRegistryRendersInAChild(t *testing.T) {
	r, _ := renderer(t, 256<<20)
	e := registrytest.New(t, registry.Options{Render: r, ReleaseCheckTimeout: 3 * time.Second})
	ctx := context.Background()
	const ns = "team"
	version := func(v, tmpl string) []byte {
		return charttest.Files(t, "app", map[string]string{
			"Chart.yaml":         "apiVersion: v2\nname: app\nversion: " + v + "\n",
			"values.yaml":        "image: nginx:1.27\n",
			"templates/pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  annotations:\n    x: '" + tmpl + "'\nspec:\n  containers:\n    - name: app\n      image: {{ .Values.image }}\n",
		})
	}
	publish := func(v, tmpl string) (*registry.ChartVersion, error) {
		return e.Publish(t, version(v, tmpl), registry.PublishChartRequest{Namespace: ns})
	}
	policy := func(d string) {
		if err := e.DB.SetNamespacePolicy(ctx, ns, nil, &d, nil); err != nil {
			t.Fatal(err)
		}
	}
	const hog = `{{ repeat 1000000000 "x" }}`
	const spin = `{{ range until 1000 }}{{ range until 1000 }}{{ range until 1000 }}{{ range until 1000 }}{{ range until 1000 }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}`
	const memoryError = "rendering the chart used more than 256 MiB of memory and was stopped"

	if _, err := publish("1.0.0", "fine"); err != nil {
		t.Fatal(err)
	}
	c, err := e.ChartVersion(ctx, ns, "app", "1.0.0")
	if err != nil || len(c.Images) != 1 || c.Images[0].Image != "nginx:1.27" || c.ImagesError != "" {
		t.Fatalf("1.0.0: %+v, %v", c, err)
	}

	policy(registry.DisciplineEnforce)
	for _, tc := range []struct{ version, tmpl, want string }{
		{"1.0.1", hog, memoryError},
		{"1.0.2", spin, "takes more than 3s"},
	} {
		_, err := publish(tc.version, tc.tmpl)
		if !errors.Is(err, registry.ErrTooLarge) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s under enforce: %v; want ErrTooLarge saying %q", tc.version, err, tc.want)
		}
		if _, err := e.ChartVersion(registry.WithQuarantined(ctx), ns, "app", tc.version); !errors.Is(err, registry.ErrChartUnknown) {
			t.Errorf("%s was stored: %v", tc.version, err)
		}
	}
	if _, err := publish("1.0.3", "still fine"); err != nil {
		t.Fatalf("a normal version after them: %v", err)
	}

	policy(registry.DisciplineWarn)
	if _, err := publish("1.0.4", hog); err != nil {
		t.Fatal(err)
	}
	c, err = e.ChartVersion(ctx, ns, "app", "1.0.4")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.ReleaseFinding, "not checked") || !strings.Contains(c.ReleaseFinding, memoryError) {
		t.Errorf("finding %q; want not checked, with the memory error", c.ReleaseFinding)
	}
	if len(c.Images) != 0 || !strings.Contains(c.ImagesError, memoryError) {
		t.Errorf("images %+v, error %q; want none, with the memory error", c.Images, c.ImagesError)
	}

	// The web UI's comparison of two versions renders both: through the renderer too.
	if _, err := e.DiffChartVersions(ctx, ns, "app", "1.0.3", "1.0.4"); !errors.Is(err, registry.ErrTooLarge) || !strings.Contains(err.Error(), memoryError) {
		t.Errorf("comparing 1.0.3 with 1.0.4: %v; want ErrTooLarge with the memory error", err)
	}
	if d, err := e.DiffChartVersions(ctx, ns, "app", "1.0.0", "1.0.3"); err != nil || d.Report == nil {
		t.Errorf("comparing 1.0.0 with 1.0.3: %+v, %v", d, err)
	}
}
