package server

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/chartroom/chartroom/internal/server/httpx"
	"github.com/chartroom/chartroom/internal/server/oci"
	"github.com/chartroom/chartroom/internal/server/repo"
)

// Route names of the endpoints this package serves (see httpx.SetRoute).
const (
	routeHealthz = "healthz"
	routeReadyz  = "readyz"
	routeMetrics = "metrics"
)

// readyTimeout bounds one readiness check of storage and database.
const readyTimeout = 5 * time.Second

// routes is the whole URL space of chartroom serve.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()

	// OCI Distribution v1.1: everything under /v2/ (and /v2 itself, which some clients probe).
	ociAPI := oci.New(s.reg, s.auth, oci.Options{})
	mux.Handle("/v2", ociAPI)
	mux.Handle("/v2/", ociAPI)

	// Operations.
	mux.HandleFunc("/healthz", s.healthz)
	mux.HandleFunc("/readyz", s.readyz)
	metrics := s.metrics.handler()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		httpx.SetRoute(r, routeMetrics)
		if allowGet(w, r) {
			metrics.ServeHTTP(w, r)
		}
	})

	// The classic chart repository, per namespace: /<namespace>/index.yaml,
	// /<namespace>/charts/<name>-<version>.tgz[.prov], /api/<namespace>/…; it answers 404 to
	// every other path.
	mux.Handle("/", repo.New(s.reg, s.auth, repo.Options{
		ExternalURL: s.cfg.ExternalURL,
		CacheDir:    filepath.Join(s.cfg.DataDir, IndexCacheDir),
		Logger:      s.log,
	}))

	return &observer{next: mux, log: s.log, metrics: s.metrics, inFlight: &s.handlers}
}

// allowGet answers 405 to anything but GET and HEAD, and reports whether to go on.
func allowGet(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	httpx.WriteError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s is not supported: use GET", r.Method, r.URL.Path))
	return false
}

// healthz answers 200 while the process lives.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	httpx.SetRoute(r, routeHealthz)
	if allowGet(w, r) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

// readyz answers 200 when the database and blob store answer, 503 otherwise and while
// shutting down (so load balancers stop sending new requests).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	httpx.SetRoute(r, routeReadyz)
	if !allowGet(w, r) {
		return
	}
	if s.draining.Load() {
		httpx.WriteError(w, http.StatusServiceUnavailable, "shutting down: send requests to another replica")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.reg.Ready(ctx); err != nil {
		s.log.Warn("not ready", "err", err)
		httpx.WriteError(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
