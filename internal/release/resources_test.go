package release

import (
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/render"
)

// A version bump changes every object that carries the chart's version or appVersion (helm
// create's helm.sh/chart and app.kubernetes.io/version labels): that alone is no change of the
// object; anything else rendered differently is.
func TestResourcesRenderedDifferently(t *testing.T) {
	doc := func(version, appVersion, replicas string) string {
		return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    helm.sh/chart: web-" + version +
			"\n    app.kubernetes.io/version: \"" + appVersion + "\"\nspec:\n  replicas: " + replicas + "\n"
	}
	res := func(d string) *render.Result {
		return &render.Result{Resources: []render.Resource{{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "default", Name: "web", Template: "templates/deployment.yaml", Doc: d}}}
	}
	ch := func(version, appVersion string) *chart.Chart {
		return &chart.Chart{Metadata: &chart.Metadata{Name: "web", Version: version, AppVersion: appVersion}}
	}
	base := ch("1.0.0", "2.0")
	if got := diffResources(res(doc("1.0.0", "2.0", "1")), res(doc("1.0.1", "2.1", "1")), base, ch("1.0.1", "2.1")); len(got) != 0 {
		t.Errorf("only the version and appVersion moved: %v", got)
	}
	got := diffResources(res(doc("1.0.0", "2.0", "1")), res(doc("1.0.1", "2.0", "3")), base, ch("1.0.1", "2.0"))
	if len(got) != 1 || got[0].Severity != Patch || got[0].Area != AreaResources || !strings.Contains(got[0].Message, "rendered differently with default values (1 line(s) removed, 1 added)") {
		t.Errorf("replicas changed: %v", got)
	}
}
