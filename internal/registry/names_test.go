package registry

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/meta"
)

// A namespace whose first part is v2 could never be served as a classic chart repository
// (/v2/… is the OCI API): charts are refused there over both protocols; images are not, and
// what was stored there before stays readable. api, healthz, readyz and metrics are served.
func TestReservedChartNamespaces(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t, Options{})
	v := simpleChart(t, "app", "1.0.0", "1", "x")
	for _, ns := range []string{"v2", "v2/team"} {
		_, err := r.publishBytes(ctx, v, PublishChartRequest{Namespace: ns})
		if !errors.Is(err, ErrNameInvalid) || !strings.Contains(err.Error(), "reserved") || !strings.Contains(err.Error(), "OCI") {
			t.Fatalf("classic upload to %s: %v", ns, err)
		}
		repo := ns + "/app"
		err = r.push(repo, "1.0.0", r.chartManifestFor(t, repo, helmConfig(t, v), v, ""))
		if !errors.Is(err, ErrNameInvalid) || !strings.Contains(err.Error(), "reserved") {
			t.Fatalf("OCI chart push to %s: %v", repo, err)
		}
		if err := r.push(ns+"/image", "v1", r.imageFor(t, ns+"/image", "x")); err != nil {
			t.Fatalf("an image in %s: %v", ns, err)
		}
	}
	for _, ns := range []string{"api", "healthz", "readyz", "metrics", "v2x", "team/v2"} {
		if _, err := r.publishBytes(ctx, v, PublishChartRequest{Namespace: ns}); err != nil {
			t.Errorf("classic upload to %s: %v", ns, err)
		}
	}
	if _, err := r.publishBytes(ctx, simpleChart(t, "v2", "1.0.0", "1", "x"), PublishChartRequest{}); err != nil {
		t.Errorf("a chart named v2 in the root namespace: %v", err)
	}

	// A chart stored under v2/ before the rule stays readable over OCI.
	const repo = "v2/old/app"
	m := r.chartManifestFor(t, repo, helmConfig(t, v), v, "")
	c := &meta.ChartVersion{Namespace: "v2/old", Name: "app", Version: "1.0.0", ChartDigest: digest.FromBytes(v), ChartSize: int64(len(v)), Metadata: []byte(`{}`)}
	_, err := r.db.PutManifest(ctx, meta.PutManifest{
		Manifest: meta.Manifest{Repository: repo, Digest: digest.FromBytes(m), MediaType: ocispec.MediaTypeImageManifest, ConfigMediaType: chart.ConfigMediaType, Content: m},
		Tags:     []string{"1.0.0"}, Chart: c,
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.GetManifest(ctx, repo, "1.0.0", true)
	if err != nil || !bytes.Equal(got.Content, m) {
		t.Fatalf("the older chart over OCI: %v", err)
	}
	if _, _, err := r.OpenBlob(ctx, repo, digest.FromBytes(v), 0); err != nil {
		t.Fatalf("its archive: %v", err)
	}
}
