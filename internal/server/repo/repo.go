// Package repo serves the classic Helm chart repository, one per namespace, and an upload API
// compatible with ChartMuseum's:
//
//	GET|HEAD /<namespace>/index.yaml                            the index helm reads (also index.json)
//	GET|HEAD /<namespace>/artifacthub-repo.yml                  Artifact Hub's repository metadata
//	GET|HEAD /<namespace>/charts/<name>-<version>.tgz           the archive (.tgz.prov: its provenance)
//	PUT      /<namespace>/charts/<name>-<version>.tgz           upload, the name in the URL checked
//	POST     /api/<namespace>/charts                            upload (raw body, or multipart chart + prov)
//	POST     /api/<namespace>/prov                              provenance for a published version
//	GET      /api/<namespace>/charts                            all charts: name → versions
//	GET|HEAD /api/<namespace>/charts/<name>                     one chart's versions
//	GET|HEAD /api/<namespace>/charts/<name>/<version>           one version ("latest": the highest)
//	DELETE   /api/<namespace>/charts/<name>/<version>           delete, leaving a tombstone
//	GET|HEAD /api/<namespace>/charts/<name>/<version>/templates its templates and values (JSON)
//	GET|HEAD /api/<namespace>/charts/<name>/<version>/values    its values.yaml
//	GET      /api/_/audit                                       the audit log (global admins)
//
// The root namespace ("") is served without a prefix (/index.yaml, /api/charts), as a
// single-tenant ChartMuseum is. Paths are parsed by their grammars (see routes.go).
//
// Handlers only translate HTTP to calls on registry.Registry: validation, immutability and
// tombstones live there, so a chart published here is the OCI artifact `helm push` makes and
// a chart pushed over OCI is listed here, with the same bytes and digest.
//
// The index is served from memory (index.go): a request reads one database row, the
// namespace's generation, and rebuilds the index from pre-rendered entries only when it moved.
package repo

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server/auth"
	"github.com/chartroom/chartroom/internal/server/httpx"
)

// DefaultIndexCacheBytes bounds the index cache when Options.IndexCacheBytes is zero.
const DefaultIndexCacheBytes = 256 << 20

// DefaultIndexCacheDiskBytes bounds the copies under CacheDir when
// Options.IndexCacheDiskBytes is zero.
const DefaultIndexCacheDiskBytes = 1 << 30

// Options tune the repository. The zero value is the documented default of each field.
type Options struct {
	// ExternalURL, e.g. https://charts.example.com, makes index urls absolute
	// (<ExternalURL>/<namespace>/charts/<file>); "" keeps them relative (charts/<file>),
	// which works behind any proxy that preserves paths.
	ExternalURL string
	// IndexCacheBytes bounds the memory of rendered indexes (plain and gzip, least recently
	// used evicted first); 0 means DefaultIndexCacheBytes, negative disables the cache.
	IndexCacheBytes int64
	// CacheDir, if set, keeps a copy of each namespace's latest index on local disk, so a
	// restarted server serves its first index request without reading the namespace.
	CacheDir string
	// IndexCacheDiskBytes bounds the copies under CacheDir (least recently used removed
	// first); 0 means DefaultIndexCacheDiskBytes.
	IndexCacheDiskBytes int64
	// Logger receives what a client must not see: the detail of every unexpected (500)
	// error. nil means slog.Default().
	Logger *slog.Logger
}

// Charts is what the classic repository needs of the core: namespaces' indexes, chart
// versions and their files, publishing and deleting. *registry.Registry is the one.
type Charts interface {
	IndexState(ctx context.Context, ns string) (registry.IndexState, error)
	Index(ctx context.Context, ns string, format registry.IndexFormat, prev *registry.Index) (*registry.Index, error)
	ChartVersions(ctx context.Context, ns, name string) ([]registry.ChartVersion, error)
	ChartVersion(ctx context.Context, ns, name, version string) (*registry.ChartVersion, error)
	LatestChartVersion(ctx context.Context, ns, name string) (*registry.ChartVersion, error)
	OpenChart(ctx context.Context, ns, name, version string, prov bool) (io.ReadCloser, int64, digest.Digest, error)
	ChartFiles(ctx context.Context, ns, name, version string) (*registry.ChartFiles, error)
	ReceiveChart(ctx context.Context, body io.Reader) (*registry.ChartUpload, error)
	PublishChart(ctx context.Context, req registry.PublishChartRequest) (*registry.ChartVersion, error)
	AttachProvenance(ctx context.Context, req registry.AttachProvenanceRequest) (*registry.ChartVersion, error)
	DeleteChartVersion(ctx context.Context, ns, name, version, actor string) error
	ArtifactHubRepo(ctx context.Context, ns string) ([]byte, time.Time, error)
	Options() registry.Options
}

var _ Charts = (*registry.Registry)(nil)

// New returns the handler for the classic repository: every path that is not /v2/…,
// /healthz, /readyz, /metrics, /health or /info. Reads of a namespace the caller may not read
// are answered from missing, a registry that holds nothing (over an empty database), so that
// the answer is the one a namespace or chart that does not exist gets, byte for byte.
func New(reg, missing Charts, authz *auth.Service, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.IndexCacheBytes == 0 {
		opts.IndexCacheBytes = DefaultIndexCacheBytes
	}
	if opts.IndexCacheDiskBytes <= 0 {
		opts.IndexCacheDiskBytes = DefaultIndexCacheDiskBytes
	}
	opts.ExternalURL = strings.TrimRight(opts.ExternalURL, "/")
	h := &handler{
		reg:     reg,
		missing: missing,
		authz:   authz,
		log:     opts.Logger,
		opts:    opts,
		index:   newIndexCache(opts.IndexCacheBytes),
		disk:    newDiskCache(opts.CacheDir, opts.IndexCacheDiskBytes, opts.Logger),

		urlTag: urlTag(opts.ExternalURL),
	}
	h.api = &httpx.API[endpoint, target]{
		Routes:          h.routeTable(),
		Parse:           parse,
		NotAllowed:      notAllowed,
		Authorize:       h.authorize,
		Context:         h.callerContext,
		Audit:           authz.Audit,
		WriteError:      h.writeError,
		NotFoundRoute:   "notfound",
		NotAllowedRoute: "repo.notallowed",
	}
	return h
}

// handler serves the repository. It holds no per-request state.
type handler struct {
	reg     Charts
	missing Charts // holds nothing: answers reads the caller may not make
	authz   *auth.Service
	log     *slog.Logger
	opts    Options
	index   *indexCache
	disk    *diskCache
	urlTag  string // see urlTag
	api     *httpx.API[endpoint, target]
}

// ServeHTTP dispatches a request (httpx.API: match the route, check the namespace and the
// caller's rights, run the handler, answer its error).
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.api.ServeHTTP(w, r) }
