// Package registrytest builds real registries for tests: a database (a SQLite file, or with
// CHARTROOM_TEST_DATABASE=postgres a PostgreSQL database: see metatest) and a filesystem blob
// store in a temporary directory, the parts `chartroom serve` assembles, so that the tests of
// the protocol packages need neither the database nor the blob store packages themselves.
//
// With CHARTROOM_TEST_STORAGE=s3 the blob store is instead an S3 store in a bucket of a real
// versitygw (blob/s3/s3test; one server per registry directory, stopped when the test
// ends), so that the same tests run on the S3 backend: `make unit-s3`.
package registrytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/blob"
	"github.com/chartroom/chartroom/internal/blob/fs"
	blobs3 "github.com/chartroom/chartroom/internal/blob/s3"
	"github.com/chartroom/chartroom/internal/blob/s3/s3test"
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
	blobs blob.Store
	s3    *s3Backing // nil on the filesystem
}

// StorageEnv names the variable that selects the blob store: "s3" for a bucket of a real
// versitygw, anything else (or unset) for the filesystem.
const StorageEnv = "CHARTROOM_TEST_STORAGE"

// s3Backing is the S3 server and bucket a registry directory's blobs are kept in.
type s3Backing struct {
	srv    *s3test.Server
	bucket string
}

// s3Prefix is the key prefix of the registries' S3 stores.
const s3Prefix = "reg"

var s3Dirs struct {
	sync.Mutex
	m map[string]*s3Backing
}

// s3For returns the bucket of dir, starting a server for it on the first call (Open again
// on the same dir is a restart, on the same bucket).
func s3For(t testing.TB, dir string) *s3Backing {
	t.Helper()
	s3Dirs.Lock()
	defer s3Dirs.Unlock()
	if b := s3Dirs.m[dir]; b != nil {
		return b
	}
	srv := s3test.Start(t)
	b := &s3Backing{srv: srv, bucket: srv.NewBucket(t)}
	if s3Dirs.m == nil {
		s3Dirs.m = map[string]*s3Backing{}
	}
	s3Dirs.m[dir] = b
	t.Cleanup(func() {
		s3Dirs.Lock()
		delete(s3Dirs.m, dir)
		s3Dirs.Unlock()
	})
	return b
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
	env := &Env{Dir: dir, DB: db}
	if os.Getenv(StorageEnv) == "s3" {
		env.s3 = s3For(t, dir)
		env.blobs = env.s3.srv.Store(t, env.s3.bucket, s3Prefix, blobs3.Options{})
	} else {
		store, err := fs.New(filepath.Join(dir, "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		env.blobs = store
	}
	reg, err := registry.New(ctx, db, env.blobs, opts)
	if err != nil {
		t.Fatal(err)
	}
	env.Registry = reg
	return env
}

// BlobsDir is where the filesystem blob store keeps its files (none with S3 storage).
func (e *Env) BlobsDir() string { return filepath.Join(e.Dir, "blobs") }

// StoredFiles lists everything the blob store holds, blobs and upload sessions: the paths of
// the files under BlobsDir, or the keys of the S3 store's objects.
func (e *Env) StoredFiles(t testing.TB) []string {
	t.Helper()
	var out []string
	if e.s3 != nil {
		out = e.s3.srv.Objects(t, e.s3.bucket, s3Prefix+"/")
		sort.Strings(out)
		return out
	}
	err := filepath.WalkDir(e.BlobsDir(), func(p string, d iofs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

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

// OverwriteBlob replaces the stored bytes of blob d with data behind the store's back, as
// damage on the disk or in the bucket would.
func (e *Env) OverwriteBlob(t testing.TB, d digest.Digest, data []byte) {
	t.Helper()
	rel := "blobs/" + d.Algorithm().String() + "/" + d.Encoded()[:2] + "/" + d.Encoded()
	if e.s3 != nil {
		key := s3Prefix + "/" + rel
		if _, err := e.s3.srv.Client().PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: &e.s3.bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.WriteFile(filepath.Join(e.BlobsDir(), filepath.FromSlash(rel)), data, 0o644); err != nil {
		t.Fatal(err)
	}
}
