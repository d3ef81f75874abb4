// Package registrytest builds real registries for tests: a database (a SQLite file, or with
// CHARTROOM_TEST_DATABASE=postgres a PostgreSQL database: see metatest) and a filesystem blob
// store in a temporary directory, the parts `chartroom serve` assembles, so that the tests of
// the protocol packages need neither the database nor the blob store packages themselves.
package registrytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/blob"
	"github.com/chartroom/chartroom/internal/blob/fs"
	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/meta/metatest"
	"github.com/chartroom/chartroom/internal/registry"
)

// Env is a registry over its storage.
type Env struct {
	*registry.Registry
	// Dir holds the database (chartroom.db) and the blob store (blobs/).
	Dir string
	// DB is the registry's database, for what is built beside the registry over the same
	// database (the auth service).
	DB    *meta.DB
	blobs *fs.Store
}

// New opens a registry with opts over fresh storage in a temporary directory.
func New(t testing.TB, opts registry.Options) *Env {
	t.Helper()
	return Open(t, t.TempDir(), opts)
}

// Open opens a registry with opts over the storage in dir, creating it when missing (called
// again on the same dir, it is a restart). The database is closed when the test ends.
func Open(t testing.TB, dir string, opts registry.Options) *Env {
	t.Helper()
	ctx := context.Background()
	db := metatest.Open(t, dir)
	store, err := fs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(ctx, db, store, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Registry: reg, Dir: dir, DB: db, blobs: store}
}

// BlobsDir is where the blob store keeps its files.
func (e *Env) BlobsDir() string { return filepath.Join(e.Dir, "blobs") }

// HasBlob reports whether the blob store holds d, whichever repository links it (or none).
func (e *Env) HasBlob(t testing.TB, d digest.Digest) bool {
	t.Helper()
	_, err := e.blobs.Stat(context.Background(), d)
	if errors.Is(err, blob.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// PushBlob stores data in repo as one blob and returns its descriptor (of mediaType).
func (e *Env) PushBlob(t testing.TB, repo, mediaType string, data []byte) ocispec.Descriptor {
	t.Helper()
	d := digest.FromBytes(data)
	if _, err := e.PutBlob(context.Background(), repo, d, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
}

// PushChart pushes a chart as `helm push` does: config and layers (the archive, then the .prov
// when prov is not nil) as blobs, then the manifest under ref.
func (e *Env) PushChart(t testing.TB, repo, ref string, config, archive, prov []byte) (*registry.PutManifestResult, error) {
	t.Helper()
	cfg := e.PushBlob(t, repo, chart.ConfigMediaType, config)
	layers := []ocispec.Descriptor{e.PushBlob(t, repo, chart.ChartLayerMediaType, archive)}
	if prov != nil {
		layers = append(layers, e.PushBlob(t, repo, chart.ProvLayerMediaType, prov))
	}
	return e.PutManifest(context.Background(), registry.PutManifestRequest{
		Repository: repo, Reference: ref, ContentType: ocispec.MediaTypeImageManifest, Body: Manifest(t, cfg, layers...),
	})
}

// Manifest is an OCI image manifest of config and layers.
func Manifest(t testing.TB, config ocispec.Descriptor, layers ...ocispec.Descriptor) []byte {
	t.Helper()
	if layers == nil {
		layers = []ocispec.Descriptor{}
	}
	b, err := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: config, Layers: layers})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Publish uploads archive as the classic API does (ReceiveChart, then PublishChart with req).
func (e *Env) Publish(t testing.TB, archive []byte, req registry.PublishChartRequest) (*registry.ChartVersion, error) {
	t.Helper()
	ctx := context.Background()
	up, err := e.ReceiveChart(ctx, bytes.NewReader(archive))
	if err != nil {
		return nil, err
	}
	defer up.Close()
	req.Archive = up
	return e.PublishChart(ctx, req)
}
