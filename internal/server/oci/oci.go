// Package oci serves the OCI Distribution Spec v1.1 API under /v2/: pulling and pushing blobs
// and manifests (monolithic, chunked and streamed uploads, cross-repository mounts), tags,
// the catalog and the referrers API.
//
// The handlers only translate HTTP to calls on registry.Registry and back: names, digests,
// manifest validation, chart rules and immutability live in the registry, so the classic chart
// repository API obeys the same rules. Every route is in one table (routes.go); every handler is
// a func(w, r) error behind one wrapper; every error answer is written by one function from one
// code table (errors.go).
package oci

import (
	"log/slog"
	"net/http"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server/auth"
	"github.com/chartroom/chartroom/internal/server/httpx"
)

// Options tune the OCI API. The zero value is the default of each field.
type Options struct {
	// Logger receives what a client must not see: the detail of every unexpected (500) error.
	// nil means slog.Default().
	Logger *slog.Logger
}

// New returns the handler for every path under /v2/ (including /v2 and /v2/). Reads of a
// repository the caller may not read are answered from missing, a registry that holds
// nothing (over an empty database), so that the answer is the one a repository that does not
// exist gets, byte for byte.
func New(reg, missing *registry.Registry, authz *auth.Service, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &handler{reg: reg, missing: missing, authz: authz, log: opts.Logger}
	h.api = &httpx.API[endpoint, target]{
		Routes: h.routeTable(),
		Parse: func(r *http.Request) (endpoint, target, error) {
			t, err := parsePath(r.URL.EscapedPath())
			return t.endpoint, t, err
		},
		NotAllowed: func(r *http.Request, allow string) error {
			return newError(codeUnsupported, "%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow)
		},
		Authorize:       h.authorize,
		Context:         h.callerContext,
		Audit:           authz.Audit,
		WriteError:      h.writeError,
		NotFoundRoute:   "oci.unknown",
		NotAllowedRoute: "oci.unknown",
	}
	return h
}

// handler serves the API. It holds no per-request state.
type handler struct {
	reg     *registry.Registry
	missing *registry.Registry // holds nothing: answers reads the caller may not make
	authz   *auth.Service
	log     *slog.Logger
	api     *httpx.API[endpoint, target]
}
