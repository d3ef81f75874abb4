package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/provenance/provtest"
)

func TestAttachProvenance(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t, Options{})
	e := charttest.NewSigner(t, "Chart Signer")
	tgz := charttest.Archive(t, "myapp", "1.0.0", "")
	other := charttest.Archive(t, "myapp", "1.0.0", "other bytes")
	prov := e.Sign(t, tgz, "myapp-1.0.0.tgz")

	if _, err := r.AttachProvenance(ctx, AttachProvenanceRequest{Namespace: "team", Prov: prov}); !errors.Is(err, ErrChartUnknown) {
		t.Fatalf("prov before its chart: %v", err)
	}
	published, err := r.publishBytes(ctx, tgz, PublishChartRequest{Namespace: "team"})
	if err != nil {
		t.Fatal(err)
	}
	state, _ := r.IndexState(ctx, "team")

	cases := []struct {
		name string
		prov []byte
		want error
	}{
		{"not a signed message", []byte("hello"), ErrChartInvalid},
		{"prov for other bytes", e.Sign(t, other, "myapp-1.0.0.tgz"), ErrChartInvalid},
		{"prov naming another file", e.Sign(t, tgz, "myapp-9.9.9.tgz"), ErrChartInvalid},
		{"signature of 40 zero bytes", provtest.ZeroSignature(t, prov), ErrChartInvalid},
		{"truncated signature armor", provtest.TruncatedArmor(t, prov), ErrChartInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := r.AttachProvenance(ctx, AttachProvenanceRequest{Namespace: "team", Prov: tc.prov}); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}

	c, err := r.AttachProvenance(ctx, AttachProvenanceRequest{Namespace: "team", Prov: prov})
	if err != nil {
		t.Fatal(err)
	}
	if c.ManifestDigest == published.ManifestDigest || c.ProvDigest == "" {
		t.Fatalf("attached: %+v", c)
	}
	rc, _, _, err := r.OpenChart(ctx, "team", "myapp", "1.0.0", true)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, prov) {
		t.Fatal("served .prov differs from the upload")
	}
	m, err := r.GetManifest(ctx, "team/myapp", "1.0.0", true)
	if err != nil || m.Digest != c.ManifestDigest {
		t.Fatalf("tag 1.0.0 points at %v (%v), want %s", m, err, c.ManifestDigest)
	}
	var doc ocispec.Manifest
	_ = json.Unmarshal(m.Content, &doc)
	if len(doc.Layers) != 2 || doc.Layers[0].Digest > doc.Layers[1].Digest {
		t.Fatalf("layers %+v", doc.Layers)
	}
	if _, err := r.GetManifest(ctx, "team/myapp", published.ManifestDigest.String(), false); err != nil {
		t.Fatalf("the first manifest is no longer reachable by digest: %v", err)
	}
	if after, _ := r.IndexState(ctx, "team"); after.Generation != state.Generation {
		t.Fatal("attaching a .prov changed the index generation; the index does not change")
	}

	if _, err := r.AttachProvenance(ctx, AttachProvenanceRequest{Namespace: "team", Prov: prov}); !errors.Is(err, ErrVersionExists) {
		t.Fatalf("same prov again: %v", err)
	}
	e2 := charttest.NewSigner(t, "Someone Else")
	if _, err := r.AttachProvenance(ctx, AttachProvenanceRequest{Namespace: "team", Prov: e2.Sign(t, tgz, "myapp-1.0.0.tgz")}); !errors.Is(err, ErrImmutable) {
		t.Fatalf("another prov: %v", err)
	}
}
