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
	"log/slog"
	"regexp"
	"runtime"
	"sync"
	"time"

	"github.com/chartroom/chartroom/internal/blob"
	"github.com/chartroom/chartroom/internal/meta"
)

// DefaultMaxManifestSize is the manifest size limit when Options.MaxManifestSize is zero.
const DefaultMaxManifestSize = 4 << 20

// Upload session defaults, when Options.UploadExpiry and Options.MaxUploadsPerUser are zero.
const (
	DefaultUploadExpiry      = 24 * time.Hour
	DefaultMaxUploadsPerUser = 100
)

// Options tune the registry. The zero value is the documented default of each field.
type Options struct {
	// AllowSparseManifests accepts image manifests and indexes that reference content the
	// repository does not hold (mirrors need it). Default false. Charts are never sparse.
	AllowSparseManifests bool
	// ImmutableTags lists repository patterns (see CompileRepositoryPattern: "prod/*" covers
	// prod/app and prod/team/app) whose tags, once set, never name other content again, even
	// after the tag or its manifest is deleted. Chart version tags are always immutable.
	ImmutableTags []string
	// MaxManifestSize bounds a manifest body; 0 means DefaultMaxManifestSize.
	MaxManifestSize int64
	// MaxBlobSize bounds one blob; 0 means no limit.
	MaxBlobSize int64
	// MaxChartSize bounds a chart archive, uploaded over the classic API (PublishChart) or
	// pushed as an OCI chart layer (PutManifest); 0 means DefaultMaxChartSize.
	MaxChartSize int64
	// SpoolDir holds uploaded archives while they are checked (ReceiveChart, CreateSpool);
	// "" means the system's temporary directory. A server points it at a directory of its
	// data directory, on the blob store's filesystem (so that an upload moves into the store
	// instead of being copied), that it empties at start, so that a crash leaves nothing
	// behind for good.
	SpoolDir string
	// UploadExpiry is how long an upload session may stay idle (no chunk received) before
	// ExpireUploads ends it; 0 means DefaultUploadExpiry.
	UploadExpiry time.Duration
	// MaxUploadsPerUser bounds the upload sessions one user may have open at once; 0 means
	// DefaultMaxUploadsPerUser, a negative value no limit.
	MaxUploadsPerUser int
	// RedirectBlobs makes BlobURL hand out URLs by which clients read blobs from the blob
	// store itself, when the store can make them (blob/s3's presigned URLs). Default false:
	// every read goes through the registry.
	RedirectBlobs bool
	// ReleaseCheckTimeout bounds the semver discipline's analysis of one publish (in a
	// namespace whose policy asks for it); 0 means DefaultReleaseCheckTimeout.
	ReleaseCheckTimeout time.Duration
	// Upstream reads the upstreams of proxy namespaces (chartroom proxy add); nil: proxy
	// namespaces serve only what they hold, and their refreshes fail.
	Upstream Upstream
	// Render renders the templates of published charts (their images, the semver
	// discipline's analysis), each render within one of the registry's validation slots;
	// nil means InProcess{}. A server sets a renderer that runs each render in a child
	// process it kills at the deadline (internal/sandbox).
	Render Renderer
	// Logger receives what the registry does on its own (rendering stored index entries of
	// an older release again, at start); nil means slog.Default().
	Logger *slog.Logger
}

// Registry is the core service. It is safe for concurrent use.
type Registry struct {
	db        *meta.DB
	blobs     blob.Store
	opts      Options
	log       *slog.Logger
	uploadKey []byte
	uploadsMu sync.Mutex       // serialises counting a user's upload sessions and opening one
	immutable []*regexp.Regexp // compiled Options.ImmutableTags
	// validations holds a token per chart archive being validated: at most GOMAXPROCS at once.
	validations chan struct{}
	keys        keyCache // namespaces' trusted keys, parsed
	fetchMu     sync.Mutex
	fetching    map[string]*fetchCall // proxied versions being fetched, by namespace, name and version
}

// New builds a registry over a metadata database and a blob store. Index entries an older
// release stored are rendered again first (see rerenderIndexEntries).
func New(ctx context.Context, db *meta.DB, blobs blob.Store, opts Options) (*Registry, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxManifestSize <= 0 {
		opts.MaxManifestSize = DefaultMaxManifestSize
	}
	if opts.MaxChartSize <= 0 {
		opts.MaxChartSize = DefaultMaxChartSize
	}
	if opts.UploadExpiry <= 0 {
		opts.UploadExpiry = DefaultUploadExpiry
	}
	if opts.ReleaseCheckTimeout <= 0 {
		opts.ReleaseCheckTimeout = DefaultReleaseCheckTimeout
	}
	if opts.Render == nil {
		opts.Render = InProcess{}
	}
	if opts.MaxUploadsPerUser == 0 {
		opts.MaxUploadsPerUser = DefaultMaxUploadsPerUser
	}
	var immutable []*regexp.Regexp
	for _, p := range opts.ImmutableTags {
		re, err := CompileRepositoryPattern(p)
		if err != nil {
			return nil, fmt.Errorf("immutable tags: %w", err)
		}
		immutable = append(immutable, re)
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
	r := &Registry{db: db, blobs: blobs, opts: opts, log: opts.Logger, uploadKey: []byte(key), immutable: immutable,
		validations: make(chan struct{}, runtime.GOMAXPROCS(0))}
	if _, err := r.rerenderIndexEntries(ctx); err != nil {
		return nil, fmt.Errorf("render stored index entries again: %w", err)
	}
	return r, nil
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

// tagsImmutable reports whether an ImmutableTags pattern covers repo.
func (r *Registry) tagsImmutable(repo string) bool {
	for _, re := range r.immutable {
		if re.MatchString(repo) {
			return true
		}
	}
	return false
}
