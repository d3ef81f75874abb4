package oci

import (
	"net/http"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/provenance/provtest"
	"github.com/chartroom/chartroom/internal/registry"
)

// TestChartProvenanceLayer pushes chart manifests with a provenance layer, as helm push does
// for a signed chart: the layer must be the .prov of the manifest's chart layer (a clear-signed
// message with a real OpenPGP signature packet, naming <name>-<version>.tgz and the chart
// layer's digest), or the manifest is refused with MANIFEST_INVALID and nothing is published.
func TestChartProvenanceLayer(t *testing.T) {
	e := newEnv(t, registry.Options{})
	const repo = "team/charts/myapp"
	key := charttest.NewSigner(t, "Chart Signer")
	sign := func(archive []byte, file string) []byte { return key.Sign(t, archive, file) }
	archive := charttest.Minimal(t, "myapp", "1.0.0", "a")
	stale := charttest.Minimal(t, "myapp", "1.0.0", "the archive before a rebuild")
	good := sign(archive, "myapp-1.0.0.tgz")
	cfg := e.pushChartConfig(repo, chartConfig("myapp", "1.0.0"))
	e.pushBlob(repo, archive)
	push := func(prov []byte) *response {
		t.Helper()
		e.pushBlob(repo, prov)
		layers := []ocispec.Descriptor{descriptor(chart.ChartLayerMediaType, archive), descriptor(chart.ProvLayerMediaType, prov)}
		return e.putManifest(repo, "1.0.0", imageManifest(cfg, layers, nil, nil))
	}

	for _, tc := range []struct {
		name string
		prov []byte
		says string
	}{
		{"signature of 40 zero bytes", provtest.ZeroSignature(t, good), "not a valid OpenPGP signature"},
		{"truncated signature armor", provtest.TruncatedArmor(t, good), "not a valid OpenPGP signature"},
		{"not clear-signed", []byte("files:\n  myapp-1.0.0.tgz: sha256:" + digestOf(archive) + "\n"), "no PGP signed message"},
		{"the .prov of another archive", sign(stale, "myapp-1.0.0.tgz"), "the archive's digest is sha256:" + digestOf(archive)},
		{"naming another file", sign(archive, "myapp-latest.tgz"), `not "myapp-1.0.0.tgz"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := push(tc.prov)
			res.expect(t, http.StatusBadRequest, "MANIFEST_INVALID")
			if msg := res.message(); !strings.Contains(msg, "provenance layer") || !strings.Contains(msg, tc.says) {
				t.Errorf("message %q does not name the provenance layer and say %q", msg, tc.says)
			}
			e.do("GET", "/v2/"+repo+"/manifests/1.0.0", nil).expect(t, http.StatusNotFound, "MANIFEST_UNKNOWN")
		})
	}

	t.Run("the .prov of the chart layer", func(t *testing.T) {
		push(good).expect(t, http.StatusCreated, "")
		e.checkBlob(repo, descriptor(chart.ProvLayerMediaType, good).Digest, good)
	})
}

func digestOf(b []byte) string {
	return descriptor("", b).Digest.Encoded()
}
