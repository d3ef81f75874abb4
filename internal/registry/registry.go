// Package registry is chartroom's core: repositories, blobs, uploads, manifests, tags, chart
// versions and the rules over them (names, digests, immutability, chart validation). Both
// protocols (OCI and the classic chart repository) call it, so both obey the same rules.
// It knows nothing of HTTP.
package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path"
	"runtime"

	"github.com/chartroom/chartroom/internal/blob"
	"github.com/chartroom/chartroom/internal/meta"
)

// DefaultMaxManifestSize is the manifest size limit when Options.MaxManifestSize is zero.
const DefaultMaxManifestSize = 4 << 20

// Options tune the registry. The zero value is the documented default of each field.
type Options struct {
	// AllowSparseManifests accepts image manifests and indexes that reference content the
	// repository does not hold (mirrors need it). Default false. Charts are never sparse.
	AllowSparseManifests bool
	// ImmutableTags lists repository name patterns (path.Match syntax, e.g. "prod/*") whose
	// tags never move once set. Chart version tags are always immutable.
	ImmutableTags []string
	// MaxManifestSize bounds a manifest body; 0 means DefaultMaxManifestSize.
	MaxManifestSize int64
	// MaxBlobSize bounds one blob; 0 means no limit.
	MaxBlobSize int64
	// MaxChartSize bounds a chart archive uploaded over the classic API; 0 means
	// DefaultMaxChartSize.
	MaxChartSize int64
}

// Registry is the core service. It is safe for concurrent use.
type Registry struct {
	db        *meta.DB
	blobs     blob.Store
	opts      Options
	uploadKey []byte
	// validations holds a token per chart archive being validated: at most GOMAXPROCS at once.
	validations chan struct{}
}

// New builds a registry over a metadata database and a blob store.
func New(ctx context.Context, db *meta.DB, blobs blob.Store, opts Options) (*Registry, error) {
	if opts.MaxManifestSize <= 0 {
		opts.MaxManifestSize = DefaultMaxManifestSize
	}
	if opts.MaxChartSize <= 0 {
		opts.MaxChartSize = DefaultMaxChartSize
	}
	for _, p := range opts.ImmutableTags {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("immutable tag pattern %q: %w", p, err)
		}
	}
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, err
	}
	// Shared by all replicas, so that any of them can continue an upload another started.
	key, err := db.Setting(ctx, "upload-signing-key", hex.EncodeToString(seed[:]))
	if err != nil {
		return nil, err
	}
	return &Registry{db: db, blobs: blobs, opts: opts, uploadKey: []byte(key),
		validations: make(chan struct{}, runtime.GOMAXPROCS(0))}, nil
}

// Options returns the options in effect (defaults filled in).
func (r *Registry) Options() Options { return r.opts }

// Ready checks that the database and blob store answer.
func (r *Registry) Ready(ctx context.Context) error {
	if err := r.db.Ping(ctx); err != nil {
		return err
	}
	if _, err := r.blobs.Stat(ctx, emptyDigest); err != nil && !isNotFound(err) {
		return fmt.Errorf("blob store: %w", err)
	}
	return nil
}

// StorageBytes is the total size of stored blobs.
func (r *Registry) StorageBytes(ctx context.Context) (int64, error) {
	return r.db.StorageBytes(ctx)
}

func (r *Registry) tagsImmutable(repo string) bool {
	for _, p := range r.opts.ImmutableTags {
		if ok, _ := path.Match(p, repo); ok {
			return true
		}
	}
	return false
}
