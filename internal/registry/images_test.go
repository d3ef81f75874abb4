package registry

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/meta/pgtest"
	"github.com/chartroom/chartroom/internal/render"
)

// imagesChart is a chart whose default values deploy images every way a chart does: a
// Deployment's containers and init container, a CronJob, a custom resource embedding
// containers, a subchart's StatefulSet, and the same image twice; it declares two images
// in the artifacthub.io/images annotation (one of them also rendered). A template disabled
// by default and a `helm test` hook deploy nothing on install.
func imagesChart(t *testing.T, name, version string) []byte {
	t.Helper()
	return charttest.Files(t, name, map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: " + name + "\nversion: " + version + `
annotations:
  artifacthub.io/images: |
    - name: web
      image: ghcr.io/acme/web:1.0.0
      whitelisted: true
      platforms: [linux/amd64, linux/arm64]
    - name: extra
      image: docker.io/acme/extra:2
dependencies:
  - name: cache
    version: 0.1.0
`,
		"values.yaml": "image:\n  repository: ghcr.io/acme/web\n  tag: 1.0.0\nbackup:\n  image: acme/backup:3\nlegacy:\n  enabled: false\n",
		"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  template:
    spec:
      initContainers:
        - name: init
          image: busybox:1.36
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        - name: sidecar
          image: nginx:1.27
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ .Release.Name }}-proxy
spec:
  template:
    spec:
      containers:
        - name: proxy
          image: nginx:1.27
`,
		"templates/cronjob.yaml": `apiVersion: batch/v1
kind: CronJob
metadata:
  name: {{ .Release.Name }}-backup
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: backup
              image: {{ .Values.backup.image }}
`,
		"templates/runner.yaml": `apiVersion: ci.acme.io/v1
kind: Runner
metadata:
  name: {{ .Release.Name }}
spec:
  pool:
    template:
      containers:
        - name: runner
          image: acme/runner:4
`,
		"templates/legacy.yaml":           "{{- if .Values.legacy.enabled }}\napiVersion: v1\nkind: Pod\nmetadata:\n  name: legacy\nspec:\n  containers:\n    - name: legacy\n      image: acme/legacy:0\n{{- end }}\n",
		"templates/tests/test.yaml":       "apiVersion: v1\nkind: Pod\nmetadata:\n  name: test\n  annotations:\n    helm.sh/hook: test\nspec:\n  containers:\n    - name: test\n      image: acme/test:1\n",
		"templates/NOTES.txt":             "image: acme/notes:1\n",
		"charts/cache/Chart.yaml":         "apiVersion: v2\nname: cache\nversion: 0.1.0\n",
		"charts/cache/values.yaml":        "image: redis:7.2\n",
		"charts/cache/templates/sts.yaml": "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: cache\nspec:\n  template:\n    spec:\n      containers:\n        - name: redis\n          image: {{ .Values.image }}\n",
	})
}

// wantImages is what imagesChart deploys: the declared images first, then the rendered
// ones in template order (the subchart's first: charts/ sorts before templates/).
var wantImages = []Image{
	{Image: "ghcr.io/acme/web:1.0.0", Name: "web", Source: ImageDeclaredRendered, Whitelisted: true, Platforms: []string{"linux/amd64", "linux/arm64"}},
	{Image: "docker.io/acme/extra:2", Name: "extra", Source: ImageDeclared},
	{Image: "redis:7.2", Name: "redis", Source: ImageRendered},
	{Image: "acme/backup:3", Name: "backup", Source: ImageRendered},
	{Image: "nginx:1.27", Name: "sidecar", Source: ImageRendered},
	{Image: "busybox:1.36", Name: "init", Source: ImageRendered},
	{Image: "acme/runner:4", Name: "runner", Source: ImageRendered},
}

// TestChartImagesAtPublish: both ways in record the images a chart deploys, once, at
// publish; a read returns them as stored.
func TestChartImagesAtPublish(t *testing.T) {
	if !render.Available {
		t.Skip("built without helm's template engine")
	}
	ctx := context.Background()
	r := newTestRegistry(t, Options{})
	if _, err := r.publishBytes(ctx, imagesChart(t, "web", "1.0.0"), PublishChartRequest{Namespace: "team", Actor: "admin"}); err != nil {
		t.Fatal(err)
	}
	archive := imagesChart(t, "web", "1.1.0")
	if err := r.push("team/web", "1.1.0", r.chartManifestFor(t, "team/web", helmConfig(t, archive), archive, "")); err != nil {
		t.Fatal(err)
	}
	for _, version := range []string{"1.0.0", "1.1.0"} {
		c, err := r.ChartVersion(ctx, "team", "web", version)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c.Images, wantImages) || c.ImagesError != "" {
			t.Errorf("%s: images %+v (error %q)\nwant %+v", version, c.Images, c.ImagesError, wantImages)
		}
	}
	latest, err := r.LatestChartVersion(ctx, "team", "web")
	if err != nil || latest.Version != "1.1.0" || !reflect.DeepEqual(latest.Images, wantImages) {
		t.Errorf("latest: %+v, %v", latest, err)
	}
	stored, err := r.db.GetChartImages(ctx, "team/web", "1.0.0")
	if err != nil || stored.Version != imagesVersion || !strings.Contains(string(stored.JSON), `"image":"busybox:1.36"`) {
		t.Errorf("stored: %+v %s, %v", stored, stored.JSON, err)
	}
}

// TestChartImagesRenderFailure: a chart whose templates fail with its default values is
// published anyway, with its declared images and the render error's reason.
func TestChartImagesRenderFailure(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t, Options{})
	archive := charttest.Files(t, "needy", map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: needy\nversion: 1.0.0\nannotations:\n  artifacthub.io/images: |\n    - name: app\n      image: acme/needy:1\n",
		"templates/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n  labels:\n    host: {{ required \"set .Values.host: the host name\\nto serve\" .Values.host }}\n" +
			"spec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: acme/rendered:1\n",
	})
	if _, err := r.publishBytes(ctx, archive, PublishChartRequest{Namespace: "team"}); err != nil {
		t.Fatalf("a chart that does not render with its default values was refused: %v", err)
	}
	c, err := r.ChartVersion(ctx, "team", "needy", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	want := []Image{{Image: "acme/needy:1", Name: "app", Source: ImageDeclared}}
	if !reflect.DeepEqual(c.Images, want) {
		t.Errorf("images %+v, want %+v", c.Images, want)
	}
	wantErr := "the chart does not render with its default values"
	if !render.Available {
		wantErr = "rendered images not extracted: " + render.ErrUnavailable.Error()
	}
	if !strings.Contains(c.ImagesError, wantErr) || render.Available && !strings.Contains(c.ImagesError, "set .Values.host: the host name to serve") || strings.Contains(c.ImagesError, "\n") {
		t.Errorf("images error %q, want one line with %q and the template's message", c.ImagesError, wantErr)
	}
}

// TestChartImagesBadAnnotation: an annotation that is not a list of images is reported,
// and the rendered images are recorded all the same.
func TestChartImagesBadAnnotation(t *testing.T) {
	if !render.Available {
		t.Skip("built without helm's template engine")
	}
	ctx := context.Background()
	r := newTestRegistry(t, Options{})
	archive := charttest.Files(t, "odd", map[string]string{
		"Chart.yaml":         "apiVersion: v2\nname: odd\nversion: 1.0.0\nannotations:\n  artifacthub.io/images: \"image: not-a-list\"\n",
		"templates/pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: c\n      image: acme/odd:1\n",
	})
	if _, err := r.publishBytes(ctx, archive, PublishChartRequest{Namespace: "team"}); err != nil {
		t.Fatal(err)
	}
	c, err := r.ChartVersion(ctx, "team", "odd", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if want := []Image{{Image: "acme/odd:1", Name: "c", Source: ImageRendered}}; !reflect.DeepEqual(c.Images, want) || !strings.Contains(c.ImagesError, "artifacthub.io/images annotation") {
		t.Errorf("images %+v (error %q)", c.Images, c.ImagesError)
	}
}

// TestChartImagesOfOlderVersions: a version published before images were recorded
// (migration 0010: images_version 0) has them extracted from its archive on its first
// read, and stored; one whose archive is gone says why it has none, and is tried again.
func TestChartImagesOfOlderVersions(t *testing.T) {
	if pgtest.Selected() {
		t.Skip("older releases' rows are made with SQLite here")
	}
	if !render.Available {
		t.Skip("built without helm's template engine")
	}
	ctx := context.Background()
	dir := t.TempDir()
	r := openRegistry(t, dir, nil, Options{})
	if _, err := r.publishBytes(ctx, imagesChart(t, "web", "1.0.0"), PublishChartRequest{Namespace: "team"}); err != nil {
		t.Fatal(err)
	}
	gone, err := r.publishBytes(ctx, charttest.Archive(t, "gone", "1.0.0", ""), PublishChartRequest{Namespace: "team"})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "chartroom.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE chart_versions SET images = '', images_error = '', images_version = 0`); err != nil {
		t.Fatal(err)
	}
	if err := r.blobs.Delete(ctx, gone.ChartDigest); err != nil {
		t.Fatal(err)
	}

	c, err := r.ChartVersion(ctx, "team", "web", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Images, wantImages) || c.ImagesError != "" {
		t.Errorf("images extracted on first read %+v (error %q)\nwant %+v", c.Images, c.ImagesError, wantImages)
	}
	if stored, err := r.db.GetChartImages(ctx, "team/web", "1.0.0"); err != nil || stored.Version != imagesVersion {
		t.Errorf("not stored: %+v, %v", stored, err)
	}
	g, err := r.ChartVersion(ctx, "team", "gone", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Images) != 0 || !strings.Contains(g.ImagesError, "the chart archive cannot be read") {
		t.Errorf("images of a version whose archive is gone: %+v (error %q)", g.Images, g.ImagesError)
	}
	if stored, err := r.db.GetChartImages(ctx, "team/gone", "1.0.0"); err != nil || stored.Version != 0 {
		t.Errorf("a failed extraction was stored as done: %+v, %v", stored, err)
	}
}
