package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/chart"
)

// Descriptors must state the size of the content they name when the repository holds it.
func TestDescriptorSizesMatchContent(t *testing.T) {
	for _, sparse := range []bool{false, true} {
		t.Run(fmt.Sprintf("sparse %v", sparse), func(t *testing.T) {
			r := newTestRegistry(t, Options{AllowSparseManifests: sparse})
			const repo = "team/sizes"
			cd := r.testPutBlob(t, repo, []byte(`{"architecture":"amd64","os":"linux","x":"padding to 56 b"}`))
			cd.MediaType = ocispec.MediaTypeImageConfig
			ld := r.testPutBlob(t, repo, []byte("a layer of some bytes"))
			ld.MediaType = ocispec.MediaTypeImageLayer
			good := manifestJSON(t, cd, []ocispec.Descriptor{ld}, nil, nil)
			if err := r.push(repo, "good", good); err != nil {
				t.Fatal(err)
			}
			goodDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(good), Size: int64(len(good))}
			wrong := func(d ocispec.Descriptor, size int64) ocispec.Descriptor { d.Size = size; return d }
			v := simpleChart(t, "sizes", "1.0.0", "1", "x")
			ccd := r.testPutBlob(t, repo, helmConfig(t, v))
			ccd.MediaType = chart.ConfigMediaType
			cld := r.testPutBlob(t, repo, v)
			cld.MediaType = chart.ChartLayerMediaType

			index := func(children ...ocispec.Descriptor) []byte {
				b, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: children})
				return b
			}
			for _, tc := range []struct {
				name, contentType string
				body              []byte
				field             string
				declared, actual  int64
			}{
				{"config", "", manifestJSON(t, wrong(cd, 1), []ocispec.Descriptor{ld}, nil, nil), "config", 1, cd.Size},
				{"layer", "", manifestJSON(t, cd, []ocispec.Descriptor{wrong(ld, 7)}, nil, nil), "layers[0]", 7, ld.Size},
				{"chart config and layer", "", manifestJSON(t, wrong(ccd, 1), []ocispec.Descriptor{wrong(cld, 7)}, nil, nil), "config", 1, ccd.Size},
				{"chart layer", "", manifestJSON(t, ccd, []ocispec.Descriptor{wrong(cld, cld.Size+1)}, nil, nil), "layers[0]", cld.Size + 1, cld.Size},
				{"subject", "", manifestJSON(t, cd, []ocispec.Descriptor{ld}, &ocispec.Descriptor{MediaType: goodDesc.MediaType, Digest: goodDesc.Digest, Size: 3}, nil), "subject", 3, goodDesc.Size},
				{"index child", ocispec.MediaTypeImageIndex, index(wrong(goodDesc, goodDesc.Size*2)), "manifests[0]", goodDesc.Size * 2, goodDesc.Size},
			} {
				t.Run(tc.name, func(t *testing.T) {
					ct := tc.contentType
					if ct == "" {
						ct = ocispec.MediaTypeImageManifest
					}
					_, err := r.PutManifest(context.Background(), PutManifestRequest{Repository: repo, Reference: digest.FromBytes(tc.body).String(), ContentType: ct, Body: tc.body})
					if !errors.Is(err, ErrManifestInvalid) {
						t.Fatalf("got %v, want ErrManifestInvalid", err)
					}
					for _, w := range []string{tc.field, fmt.Sprintf("declares size %d", tc.declared), fmt.Sprintf("has %d bytes", tc.actual)} {
						if !strings.Contains(err.Error(), w) {
							t.Errorf("error %q does not say %q", err, w)
						}
					}
				})
			}
			// Content the repository lacks: refused as missing, or accepted when sparse.
			absent := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromString("absent"), Size: 123456}
			err := r.push(repo, "sparse", manifestJSON(t, cd, []ocispec.Descriptor{ld, absent}, nil, nil))
			if sparse && err != nil || !sparse && !errors.Is(err, ErrManifestBlobUnknown) {
				t.Fatalf("a manifest naming absent content (sparse %v): %v", sparse, err)
			}
			err = r.push(repo, "sparse-index", index(goodDesc, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("nope"), Size: 99}))
			if sparse && err != nil || !sparse && !errors.Is(err, ErrManifestBlobUnknown) {
				t.Fatalf("an index naming an absent manifest (sparse %v): %v", sparse, err)
			}
		})
	}
}
