package oci

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/registry"
)

// The registry's rules as OCI clients meet them: status, spec error code and a message that
// says what is wrong.

func (r *response) says(t *testing.T, fragments ...string) {
	t.Helper()
	for _, f := range fragments {
		if !strings.Contains(r.message(), f) {
			t.Errorf("message %q does not say %q", r.message(), f)
		}
	}
}

func TestChartConfigMustAgreeWithArchive(t *testing.T) {
	e := newEnv(t, registry.Options{})
	const repo = "team/evil"
	archive := charttest.Minimal(t, "evil", "1.0.0", "a")
	for _, tc := range []struct{ name, config, field string }{
		{"unknown field", `{"apiVersion":"v2","name":"evil","version":"1.0.0","appVersion":"6.6.6","x-unknown-field":1}`, "appVersion"},
		{"unknown field only", `{"apiVersion":"v2","name":"evil","version":"1.0.0","x-unknown-field":1}`, "x-unknown-field"},
		{"keywords not a list", `{"apiVersion":"v2","name":"evil","version":"1.0.0","keywords":"not-a-list"}`, "keywords"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.putManifest(repo, "1.0.0", e.chart(repo, []byte(tc.config), archive, nil))
			res.expect(t, http.StatusBadRequest, "MANIFEST_INVALID")
			res.says(t, tc.field, "archive's Chart.yaml")
		})
	}
	e.do("HEAD", "/v2/"+repo+"/manifests/1.0.0", nil).expect(t, http.StatusNotFound, "")
	// Like with like: the archive's fields, empty ones spelled out, are accepted.
	cfg := `{"apiVersion":"v2","name":"evil","version":"1.0.0","description":"","keywords":[],"annotations":{}}`
	e.putManifest(repo, "1.0.0", e.chart(repo, []byte(cfg), archive, nil)).expect(t, http.StatusCreated, "")
}

func TestChartManifestTagIsItsVersion(t *testing.T) {
	e := newEnv(t, registry.Options{})
	const repo = "team/sq"
	m2 := e.chart(repo, chartConfig("sq", "2.0.0"), charttest.Minimal(t, "sq", "2.0.0", "two"), nil)
	d2 := digest.FromBytes(m2)
	e.putManifest(repo, "2.0.0", m2).expect(t, http.StatusCreated, "")
	for _, ref := range []string{d2.String() + "?tag=1.0.0", d2.String() + "?tag=2.0.0&tag=latest", "latest", "1.0.0"} {
		res := e.putManifest(repo, ref, m2)
		res.expect(t, http.StatusBadRequest, "MANIFEST_INVALID")
		res.says(t, "2.0.0")
	}
	for _, tag := range []string{"1.0.0", "latest"} {
		e.do("HEAD", "/v2/"+repo+"/manifests/"+tag, nil).expect(t, http.StatusNotFound, "")
	}
	m1 := e.chart(repo, chartConfig("sq", "1.0.0"), charttest.Minimal(t, "sq", "1.0.0", "one"), nil)
	e.putManifest(repo, "1.0.0", m1).expect(t, http.StatusCreated, "")
	if got := e.do("HEAD", "/v2/"+repo+"/manifests/1.0.0", nil).header.Get("Docker-Content-Digest"); got != digest.FromBytes(m1).String() {
		t.Fatalf("1.0.0 names %s", got)
	}
}

func TestDeletedChartVersionTagIsReserved(t *testing.T) {
	e := newEnv(t, registry.Options{})
	const repo = "team/sq"
	m1 := e.chart(repo, chartConfig("sq", "1.0.0"), charttest.Minimal(t, "sq", "1.0.0", "one"), nil)
	m2 := e.chart(repo, chartConfig("sq", "2.0.0"), charttest.Minimal(t, "sq", "2.0.0", "two"), nil)
	e.putManifest(repo, "1.0.0", m1).expect(t, http.StatusCreated, "")
	e.putManifest(repo, "2.0.0", m2).expect(t, http.StatusCreated, "")
	e.do("DELETE", "/v2/"+repo+"/manifests/1.0.0", nil).expect(t, http.StatusAccepted, "")

	img := e.pushImage(repo, "an image", nil)
	res := e.putManifest(repo, "1.0.0", img)
	res.expect(t, http.StatusConflict, "DENIED")
	res.says(t, "reserved")
	e.putManifest(repo, digest.FromBytes(img).String()+"?tag=1.0.0", img).expect(t, http.StatusConflict, "DENIED")
	e.putManifest(repo, digest.FromBytes(m2).String()+"?tag=1.0.0", m2).expect(t, http.StatusBadRequest, "MANIFEST_INVALID")
	e.do("HEAD", "/v2/"+repo+"/manifests/1.0.0", nil).expect(t, http.StatusNotFound, "")
	// The same chart comes back.
	e.putManifest(repo, "1.0.0", m1).expect(t, http.StatusCreated, "")
}

func TestImmutableTagsAfterDeletes(t *testing.T) {
	e := newEnv(t, registry.Options{ImmutableTags: []string{"prod/*"}})
	const repo = "prod/team/app" // prod/* covers nested names
	a, b := e.pushImage(repo, "content a", nil), e.pushImage(repo, "content b", nil)
	da := digest.FromBytes(a)
	e.putManifest(repo, "v1", a).expect(t, http.StatusCreated, "")
	e.putManifest(repo, "v1", b).expect(t, http.StatusConflict, "DENIED")
	for _, del := range []string{"v1", da.String()} {
		e.do("DELETE", "/v2/"+repo+"/manifests/"+del, nil).expect(t, http.StatusAccepted, "")
		res := e.putManifest(repo, "v1", b)
		res.expect(t, http.StatusConflict, "DENIED")
		res.says(t, "immutable", da.String())
		e.putManifest(repo, digest.FromBytes(b).String()+"?tag=v1", b).expect(t, http.StatusConflict, "DENIED")
		e.putManifest(repo, "v1", a).expect(t, http.StatusCreated, "")
	}
}

func TestDescriptorSizes(t *testing.T) {
	e := newEnv(t, registry.Options{})
	const repo = "team/sizes"
	cfg, layer := []byte(`{"architecture":"amd64","os":"linux"}`), []byte("a layer")
	e.pushBlob(repo, cfg)
	e.pushBlob(repo, layer)
	cd, ld := descriptor(ocispec.MediaTypeImageConfig, cfg), descriptor(ocispec.MediaTypeImageLayer, layer)
	cd.Size, ld.Size = 1, 7
	res := e.putManifest(repo, "v1", imageManifest(cd, []ocispec.Descriptor{ld}, nil, nil))
	res.expect(t, http.StatusBadRequest, "MANIFEST_INVALID")
	res.says(t, "config", cd.Digest.String(), "declares size 1", "has 37 bytes")

	archive := charttest.Minimal(t, "sizes", "1.0.0", "a")
	m := e.chart(repo, chartConfig("sizes", "1.0.0"), archive, nil)
	res = e.putManifest(repo, "1.0.0", []byte(strings.Replace(string(m), `"size":`+strconv.Itoa(len(archive)), `"size":7`, 1)))
	res.expect(t, http.StatusBadRequest, "MANIFEST_INVALID")
	res.says(t, "layers[0]", "declares size 7", "has "+strconv.Itoa(len(archive))+" bytes")
	e.putManifest(repo, "1.0.0", m).expect(t, http.StatusCreated, "")
}

func TestReservedChartNamespace(t *testing.T) {
	e := newEnv(t, registry.Options{})
	for _, repo := range []string{"v2/myapp", "v2/team/myapp"} {
		_, name := registry.SplitRepository(repo)
		res := e.putManifest(repo, "1.0.0", e.chart(repo, chartConfig(name, "1.0.0"), charttest.Minimal(t, name, "1.0.0", "a"), nil))
		res.expect(t, http.StatusBadRequest, "NAME_INVALID")
		res.says(t, "reserved", "OCI")
	}
	e.putManifest("v2/image", "v1", e.pushImage("v2/image", "layer", nil)).expect(t, http.StatusCreated, "")
}

// --max-chart-size holds for a chart pushed over OCI as for an upload: a chart layer over it
// is refused with 413 SIZE_INVALID, and nothing is published.
func TestChartLayerOverTheChartSizeLimit(t *testing.T) {
	e := newEnv(t, registry.Options{MaxChartSize: 1024})
	const repo = "team/big"
	noise := make([]byte, 4096)
	for i := range noise {
		noise[i] = byte(rand.N(256))
	}
	archive := charttest.Files(t, "big", map[string]string{"Chart.yaml": "apiVersion: v2\nname: big\nversion: 1.0.0\n", "files/noise.bin": string(noise)})
	if len(archive) <= 1024 {
		t.Fatalf("the test archive has %d bytes, want more than the limit", len(archive))
	}
	res := e.putManifest(repo, "1.0.0", e.chart(repo, chartConfig("big", "1.0.0"), archive, nil))
	res.expect(t, http.StatusRequestEntityTooLarge, "SIZE_INVALID")
	res.says(t, "--max-chart-size", strconv.Itoa(len(archive)))
	e.do("HEAD", "/v2/"+repo+"/manifests/1.0.0", nil).expect(t, http.StatusNotFound, "")
}
