package oci

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/registry"
)

// Charts pushed the way helm push does: config = Chart.yaml as JSON, one chart layer.

func chartConfig(name, version string) []byte {
	b, _ := json.Marshal(map[string]string{"apiVersion": "v2", "name": name, "version": version})
	return b
}

func (e *env) pushChartConfig(repo string, cfg []byte) ocispec.Descriptor {
	e.t.Helper()
	e.pushBlob(repo, cfg)
	return descriptor(chart.ConfigMediaType, cfg)
}

func chartManifest(config, layer ocispec.Descriptor, annotations map[string]string) []byte {
	return imageManifest(config, []ocispec.Descriptor{layer}, nil, annotations)
}

// chart pushes a chart's config and archive to repo and returns its manifest (not pushed).
func (e *env) chart(repo string, cfg, archive []byte, annotations map[string]string) []byte {
	e.t.Helper()
	e.pushBlob(repo, archive)
	return chartManifest(e.pushChartConfig(repo, cfg), descriptor(chart.ChartLayerMediaType, archive), annotations)
}

func TestChartRules(t *testing.T) {
	e := newEnv(t, registry.Options{})
	const repo = "team/charts/myapp"
	archive := charttest.Minimal(t, "myapp", "1.0.0", "a")
	tests := []struct {
		name, ref string
		manifest  func(t *testing.T) []byte
		status    int
		code      string
		message   string
	}{
		{"config not JSON", "1.0.0", func(t *testing.T) []byte {
			return e.chart(repo, []byte("name: myapp\n"), archive, nil)
		}, http.StatusBadRequest, "MANIFEST_INVALID", "not valid JSON"},
		{"config without name", "1.0.0", func(t *testing.T) []byte {
			return e.chart(repo, []byte(`{"apiVersion":"v2","version":"1.0.0"}`), archive, nil)
		}, http.StatusBadRequest, "MANIFEST_INVALID", "no name"},
		{"config without version", "1.0.0", func(t *testing.T) []byte {
			return e.chart(repo, []byte(`{"apiVersion":"v2","name":"myapp"}`), archive, nil)
		}, http.StatusBadRequest, "MANIFEST_INVALID", "no version"},
		{"version not SemVer", "1.0", func(t *testing.T) []byte {
			return e.chart(repo, chartConfig("myapp", "1.0"), archive, nil)
		}, http.StatusBadRequest, "MANIFEST_INVALID", "SemVer"},
		{"tag differs from the version", "latest", func(t *testing.T) []byte {
			return e.chart(repo, chartConfig("myapp", "1.0.0"), archive, nil)
		}, http.StatusBadRequest, "MANIFEST_INVALID", "differs from the chart's version"},
		{"chart name differs from the repository", "1.0.0", func(t *testing.T) []byte {
			return e.chart(repo, chartConfig("other", "1.0.0"), archive, nil)
		}, http.StatusBadRequest, "MANIFEST_INVALID", "must be the chart's name"},
		{"layer is not a chart archive", "1.0.0", func(t *testing.T) []byte {
			return e.chart(repo, chartConfig("myapp", "1.0.0"), []byte("not a tgz"), nil)
		}, http.StatusBadRequest, "MANIFEST_INVALID", "not a valid chart archive"},
		{"config not pushed", "1.0.0", func(t *testing.T) []byte {
			e.pushBlob(repo, archive)
			return chartManifest(descriptor(chart.ConfigMediaType, chartConfig("myapp", "9.9.9")), descriptor(chart.ChartLayerMediaType, archive), nil)
		}, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN", "push it before the manifest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.putManifest(repo, tt.ref, tt.manifest(t))
			res.expect(t, tt.status, tt.code)
			if !strings.Contains(res.message(), tt.message) {
				t.Errorf("message %q does not say %q", res.message(), tt.message)
			}
		})
	}
	t.Run("valid chart", func(t *testing.T) {
		m := e.chart(repo, chartConfig("myapp", "1.0.0"), archive, nil)
		e.putManifest(repo, "1.0.0", m).expect(t, http.StatusCreated, "")
		got := e.do("GET", "/v2/"+repo+"/manifests/1.0.0", nil)
		got.expect(t, http.StatusOK, "")
		if !bytes.Equal(got.body, m) {
			t.Error("pulled manifest differs")
		}
	})
	t.Run("push by digest tags the version", func(t *testing.T) {
		a := charttest.Minimal(t, "myapp", "1.1.0", "b")
		m := e.chart(repo, chartConfig("myapp", "1.1.0"), a, nil)
		e.putManifest(repo, digest.FromBytes(m).String(), m).expect(t, http.StatusCreated, "")
		res := e.do("HEAD", "/v2/"+repo+"/manifests/1.1.0", nil)
		if res.status != http.StatusOK || res.header.Get("Docker-Content-Digest") != digest.FromBytes(m).String() {
			t.Errorf("version tag: %d %v", res.status, res.header)
		}
	})
}

func TestChartImmutability(t *testing.T) {
	e := newEnv(t, registry.Options{})
	const repo = "team/charts/myapp"
	first := e.chart(repo, chartConfig("myapp", "2.0.0"), charttest.Minimal(t, "myapp", "2.0.0", "first"),
		map[string]string{ocispec.AnnotationCreated: "2026-01-01T00:00:00Z"})
	firstDigest := digest.FromBytes(first)
	e.putManifest(repo, "2.0.0", first).expect(t, http.StatusCreated, "")

	t.Run("changed content is refused with the existing digest", func(t *testing.T) {
		changed := e.chart(repo, chartConfig("myapp", "2.0.0"), charttest.Minimal(t, "myapp", "2.0.0", "second"), nil)
		res := e.putManifest(repo, "2.0.0", changed)
		res.expect(t, http.StatusConflict, "DENIED")
		msg := res.message()
		if !strings.Contains(msg, firstDigest.String()) || !strings.Contains(msg, "publish a new version") {
			t.Errorf("message %q should name %s and say to publish a new version", msg, firstDigest)
		}
	})
	t.Run("changed content by digest is refused too", func(t *testing.T) {
		changed := e.chart(repo, chartConfig("myapp", "2.0.0"), charttest.Minimal(t, "myapp", "2.0.0", "third"), nil)
		e.putManifest(repo, digest.FromBytes(changed).String(), changed).expect(t, http.StatusConflict, "DENIED")
	})
	t.Run("identical re-push succeeds", func(t *testing.T) {
		e.putManifest(repo, "2.0.0", first).expect(t, http.StatusCreated, "")
	})
	t.Run("same chart in a new manifest succeeds, the tag stays", func(t *testing.T) {
		again := e.chart(repo, chartConfig("myapp", "2.0.0"), charttest.Minimal(t, "myapp", "2.0.0", "first"),
			map[string]string{ocispec.AnnotationCreated: "2026-02-02T00:00:00Z"})
		e.putManifest(repo, "2.0.0", again).expect(t, http.StatusCreated, "")
		res := e.do("HEAD", "/v2/"+repo+"/manifests/2.0.0", nil)
		if res.header.Get("Docker-Content-Digest") != firstDigest.String() {
			t.Errorf("tag moved to %s", res.header.Get("Docker-Content-Digest"))
		}
	})
	t.Run("the version tag cannot be moved to another manifest", func(t *testing.T) {
		img := e.pushImage(repo, "an image, not a chart", nil)
		res := e.putManifest(repo, "2.0.0", img)
		res.expect(t, http.StatusConflict, "DENIED")
		if !strings.Contains(res.message(), firstDigest.String()) {
			t.Errorf("message %q does not name %s", res.message(), firstDigest)
		}
	})
	t.Run("a deleted version cannot come back changed", func(t *testing.T) {
		e.do("DELETE", "/v2/"+repo+"/manifests/"+firstDigest.String(), nil).expect(t, http.StatusAccepted, "")
		changed := e.chart(repo, chartConfig("myapp", "2.0.0"), charttest.Minimal(t, "myapp", "2.0.0", "fourth"), nil)
		e.putManifest(repo, "2.0.0", changed).expect(t, http.StatusConflict, "DENIED")
		e.putManifest(repo, "2.0.0", first).expect(t, http.StatusCreated, "")
	})
}
