//go:build !chartroom_norender

package repo

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/registry"
)

// TestAPIVersionImages: the API's answer about one version (and "latest") carries the
// container images it deploys, declared and rendered, and why rendered ones are missing
// when the chart does not render; lists of versions do not.
func TestAPIVersionImages(t *testing.T) {
	e := newEnv(t, Options{})
	e.mustUpload("team", charttest.Files(t, "web", map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: web\nversion: 1.0.0\nannotations:\n  artifacthub.io/images: |\n    - name: web\n      image: acme/web:1\n      platforms: [linux/amd64]\n",
		"values.yaml": "tag: \"1\"\n",
		"templates/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n" +
			"      initContainers:\n        - name: init\n          image: busybox:1.36\n      containers:\n        - name: web\n          image: acme/web:{{ .Values.tag }}\n",
	}))
	e.mustUpload("team", charttest.Files(t, "broken", map[string]string{
		"Chart.yaml":         "apiVersion: v2\nname: broken\nversion: 1.0.0\n",
		"templates/bad.yaml": "{{ fail \"set .Values.x\" }}\n",
	}))

	type answer struct {
		Version     string           `json:"version"`
		Images      []registry.Image `json:"images"`
		ImagesError string           `json:"imagesError"`
	}
	want := []registry.Image{
		{Image: "acme/web:1", Name: "web", Source: registry.ImageDeclaredRendered, Platforms: []string{"linux/amd64"}},
		{Image: "busybox:1.36", Name: "init", Source: registry.ImageRendered},
	}
	for _, path := range []string{"charts/web/1.0.0", "charts/web/latest"} {
		r := e.get(apiPath("team", path))
		var got answer
		if err := json.Unmarshal(r.body, &got); err != nil || r.status != http.StatusOK {
			t.Fatalf("%s: %d %s: %v", path, r.status, r.body, err)
		}
		if !reflect.DeepEqual(got.Images, want) || got.ImagesError != "" {
			t.Errorf("%s: %s\nwant images %+v", path, r.body, want)
		}
	}

	r := e.get(apiPath("team", "charts/broken/1.0.0"))
	var broken answer
	if err := json.Unmarshal(r.body, &broken); err != nil || r.status != http.StatusOK {
		t.Fatalf("%d %s: %v", r.status, r.body, err)
	}
	if !strings.Contains(string(r.body), `"images":[]`) || !strings.Contains(broken.ImagesError, "set .Values.x") {
		t.Errorf("a chart that does not render: %s", r.body)
	}

	r = e.get(apiPath("team", "charts/web"))
	if r.status != http.StatusOK || strings.Contains(string(r.body), `"images"`) {
		t.Errorf("the list of versions: %d %s", r.status, r.body)
	}
}
