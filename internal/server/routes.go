package server

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chartroom/chartroom/internal/server/httpx"
	"github.com/chartroom/chartroom/internal/server/oci"
	"github.com/chartroom/chartroom/internal/server/repo"
	"github.com/chartroom/chartroom/internal/server/ui"
)

// Route names of the endpoints this package serves (see httpx.SetRoute).
const (
	routeHealthz = "healthz"
	routeReadyz  = "readyz"
	routeMetrics = "metrics"
	routeHealth  = "health"
	routeInfo    = "info"
	routeUI      = "ui"
)

// readyTimeout bounds one readiness check of storage and database.
const readyTimeout = 5 * time.Second

// routes is the whole URL space of chartroom serve. Paths are dispatched as they came, not
// through http.ServeMux, which would answer a path with "..", "." or "//" components with a
// redirect to a cleaned path: such names must get the protocol's own error instead.
func (s *Server) routes() (http.Handler, error) {
	// OCI Distribution v1.1: everything under /v2/ (and /v2 itself, which some clients probe).
	ociAPI := oci.New(s.reg, s.missing, s.auth, oci.Options{Logger: s.log})
	metrics := s.metrics.handler()
	// The classic chart repository, per namespace: /<namespace>/index.yaml,
	// /<namespace>/charts/<name>-<version>.tgz[.prov], /api/<namespace>/…; it answers 404 to
	// every other path.
	repoAPI := repo.New(s.reg, s.missing, s.auth, repo.Options{
		ExternalURL: s.cfg.ExternalURL,
		CacheDir:    filepath.Join(s.cfg.DataDir, IndexCacheDir),
		Logger:      s.log,
	})
	// The web UI under /ui/ (but not the classic repository files of a namespace named ui).
	var webUI http.Handler
	if !s.cfg.DisableUI {
		u, err := ui.New(s.reg, s.auth, ui.Options{ExternalURL: s.cfg.ExternalURL, SessionTTL: s.cfg.UISessionTTL, Version: s.cfg.Version, Logger: s.log})
		if err != nil {
			return nil, fmt.Errorf("web UI: %w", err)
		}
		webUI = u
	}
	ops := map[string]http.HandlerFunc{}
	for _, o := range s.opsRoutes(metrics) {
		ops[o.Path] = o.serve
	}
	dispatch := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == "/v2" || strings.HasPrefix(p, "/v2/"):
			ociAPI.ServeHTTP(w, r)
		case ops[p] != nil:
			ops[p](w, r)
		case p == OIDCTokenPath:
			s.oidcToken(w, r)
		case webUI != nil && ui.Serves(r.URL.EscapedPath()):
			httpx.SetRoute(r, routeUI)
			webUI.ServeHTTP(w, r)
		case webUI != nil && p == "/" && browserWantsHTML(r):
			// A browser opening the server's root gets the UI; clients (which never ask
			// for text/html here) keep the classic repository's answer.
			httpx.SetRoute(r, routeUI)
			http.Redirect(w, r, ui.Prefix, http.StatusFound)
		default:
			repoAPI.ServeHTTP(w, r)
		}
	})
	return &observer{next: &plainCredentials{next: dispatch, log: s.log}, log: s.log, metrics: s.metrics, inFlight: &s.handlers,
		bodyIdle: s.cfg.BodyIdleTimeout, draining: &s.draining}, nil
}

// browserWantsHTML reports whether a GET or HEAD asks for an HTML page (a browser's
// navigation does; helm, oras and curl do not).
func browserWantsHTML(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.Contains(r.Header.Get("Accept"), "text/html")
}

// OpsRoute is an operations endpoint: an exact path, open to every caller (no credentials
// needed: load balancers, Prometheus and ChartMuseum's scripts probe them), GET and HEAD only.
type OpsRoute struct {
	Path, Name string
	serve      http.HandlerFunc
}

// opsRoutes lists the operations endpoints; metrics serves /metrics.
func (s *Server) opsRoutes(metrics http.Handler) []OpsRoute {
	return []OpsRoute{
		{"/healthz", routeHealthz, s.healthz},
		{"/readyz", routeReadyz, s.readyz},
		{"/health", routeHealth, s.health},
		{"/info", routeInfo, s.info},
		{"/metrics", routeMetrics, func(w http.ResponseWriter, r *http.Request) {
			httpx.SetRoute(r, routeMetrics)
			if allowGet(w, r) {
				metrics.ServeHTTP(w, r)
			}
		}},
	}
}

// OpsRoutes lists the operations endpoints, for tests that must cover every route.
func OpsRoutes() []OpsRoute { return (&Server{}).opsRoutes(nil) }

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
		httpx.WriteJSON(w, http.StatusOK, httpx.ContentTypeJSON, map[string]string{"status": "ok"})
	}
}

// health answers 200 {"healthy":true} while the process lives: ChartMuseum's liveness
// endpoint, for probes and scripts written for it (like /healthz, it needs no credentials).
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	httpx.SetRoute(r, routeHealth)
	if allowGet(w, r) {
		httpx.WriteJSON(w, http.StatusOK, httpx.ContentTypeJSON, map[string]bool{"healthy": true})
	}
}

// info answers 200 {"version":"<chartroom's version>"}: ChartMuseum's /info, which needs no
// credentials there either (the version is also in /metrics).
func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	httpx.SetRoute(r, routeInfo)
	if allowGet(w, r) {
		httpx.WriteJSON(w, http.StatusOK, httpx.ContentTypeJSON, map[string]string{"version": s.cfg.Version})
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
		httpx.SetReason(r, "shutting_down")
		httpx.WriteError(w, http.StatusServiceUnavailable, "shutting down: send requests to another replica")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.reg.Ready(ctx); err != nil {
		httpx.SetReason(r, "not_ready")
		s.log.Warn("not ready", "err", err)
		httpx.WriteError(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
		return
	}
	if failed := s.ready.check(ctx, s.writable); len(failed) > 0 {
		var names, msgs []string
		fix := "fix the permissions, free space or mount of the data directory"
		for _, f := range failed {
			names = append(names, f.name)
			msgs = append(msgs, f.err.Error())
			if f.fix != "" {
				fix = f.fix
			}
		}
		msg := "not ready: " + strings.Join(msgs, "; ") + "; " + fix
		httpx.SetReason(r, "not_writable")
		s.log.Warn("not ready: storage is not writable", "not_writable", names, "err", strings.Join(msgs, "; "))
		httpx.WriteJSON(w, http.StatusServiceUnavailable, httpx.ContentTypeJSON, map[string]any{"error": msg, "not_writable": names})
		return
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.ContentTypeJSON, map[string]string{"status": "ready"})
}

// readyFor is how long a writability check's result is reused: /readyz may be polled every
// second by several load balancers without each poll writing.
const readyFor = 2 * time.Second

// writableChecker proves that a store takes writes now (blob store, database).
type writableChecker interface {
	CheckWritable(ctx context.Context) error
}

type writableCheck struct {
	name  string // as /readyz names it
	check writableChecker
	fix   string // what to do when it fails; "" for the data directory's advice
}

type checkFailure struct {
	name string
	err  error
	fix  string
}

// readyCache runs the writability checks at most once per readyFor; concurrent callers
// wait for the one run.
type readyCache struct {
	mu     sync.Mutex
	at     time.Time
	failed []checkFailure
}

func (c *readyCache) check(ctx context.Context, checks []writableCheck) []checkFailure {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < readyFor {
		return c.failed
	}
	var failed []checkFailure
	for _, wc := range checks {
		if err := wc.check.CheckWritable(ctx); err != nil {
			failed = append(failed, checkFailure{wc.name, err, wc.fix})
		}
	}
	if ctx.Err() == nil { // a result cut short by the caller's deadline is not kept
		c.at, c.failed = time.Now(), failed
	}
	return failed
}
