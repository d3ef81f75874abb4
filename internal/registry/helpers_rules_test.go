package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	helmloader "helm.sh/helm/v3/pkg/chart/loader"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/chart/charttest"
)

// The rules over tags, chart configs, descriptor sizes and names, through the registry's API
// on a real SQLite file and blob store.

// helmConfig is the config `helm push` (v3.22.0) uploads for an archive: json of the metadata
// helm's own loader reads from it (helm.sh/helm/v3/pkg/registry Client.Push).
func helmConfig(t *testing.T, archive []byte) []byte {
	t.Helper()
	ch, err := helmloader.LoadArchive(bytes.NewReader(archive))
	if err != nil {
		t.Fatalf("helm's loader refuses the archive: %v", err)
	}
	b, err := json.Marshal(ch.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (r *Registry) testPutBlob(t *testing.T, repo string, data []byte) ocispec.Descriptor {
	t.Helper()
	d := digest.FromBytes(data)
	if _, err := r.PutBlob(context.Background(), repo, d, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return ocispec.Descriptor{Digest: d, Size: int64(len(data))}
}

func manifestJSON(t *testing.T, config ocispec.Descriptor, layers []ocispec.Descriptor, subject *ocispec.Descriptor, annotations map[string]string) []byte {
	t.Helper()
	if layers == nil {
		layers = []ocispec.Descriptor{}
	}
	b, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: config, Layers: layers, Subject: subject, Annotations: annotations,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// chartManifestFor uploads a chart's config and archive to repo, as helm push does, and
// returns the manifest (not pushed); note makes manifests of the same chart differ.
func (r *Registry) chartManifestFor(t *testing.T, repo string, config, archive []byte, note string) []byte {
	t.Helper()
	cd := r.testPutBlob(t, repo, config)
	cd.MediaType = chart.ConfigMediaType
	ld := r.testPutBlob(t, repo, archive)
	ld.MediaType = chart.ChartLayerMediaType
	var ann map[string]string
	if note != "" {
		ann = map[string]string{ocispec.AnnotationCreated: note}
	}
	return manifestJSON(t, cd, []ocispec.Descriptor{ld}, nil, ann)
}

// imageFor uploads an image's config and one layer to repo and returns its manifest.
func (r *Registry) imageFor(t *testing.T, repo, layer string) []byte {
	t.Helper()
	cd := r.testPutBlob(t, repo, []byte(`{"architecture":"amd64","os":"linux"}`))
	cd.MediaType = ocispec.MediaTypeImageConfig
	ld := r.testPutBlob(t, repo, []byte(layer))
	ld.MediaType = ocispec.MediaTypeImageLayer
	return manifestJSON(t, cd, []ocispec.Descriptor{ld}, nil, nil)
}

// push pushes a manifest (its Content-Type the body's mediaType) under ref, with ?tag= tags.
func (r *Registry) push(repo, ref string, body []byte, tags ...string) error {
	var doc struct {
		MediaType string `json:"mediaType"`
	}
	json.Unmarshal(body, &doc)
	_, err := r.PutManifest(context.Background(), PutManifestRequest{
		Repository: repo, Reference: ref, ContentType: doc.MediaType, Body: body, Tags: tags,
	})
	return err
}

func (r *Registry) tagDigest(t *testing.T, repo, tag string) digest.Digest {
	t.Helper()
	m, err := r.GetManifest(context.Background(), repo, tag, false)
	if errors.Is(err, ErrManifestUnknown) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return m.Digest
}

func simpleChart(t *testing.T, name, version, appVersion, note string) []byte {
	t.Helper()
	return charttest.Files(t, name, map[string]string{
		"Chart.yaml":  fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\nappVersion: %q\n", name, version, appVersion),
		"values.yaml": "note: " + note + "\n",
	})
}
