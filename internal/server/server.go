// Package server assembles `chartroom serve`: it opens the metadata database and blob store
// under the data directory, builds the registry and auth service, routes requests to the
// protocol handlers (OCI under /v2/, the classic chart repository on every other path) and the
// operations endpoints (/healthz, /readyz, /metrics, and ChartMuseum's /health and /info),
// wraps them in recovery, logging and metrics, and shuts down gracefully.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chartroom/chartroom/internal/blob"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/proxy"
	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/sandbox"
	"github.com/chartroom/chartroom/internal/server/auth"
	"github.com/chartroom/chartroom/internal/webhook"
)

// Names inside the data directory.
const (
	DatabaseFile = "chartroom.db"
	BlobsDir     = "blobs"
	// IndexCacheDir keeps the latest rendered index of each namespace (a cache: safe to delete).
	IndexCacheDir = "index-cache"
	// TempDir holds uploads being checked; emptied at every start.
	TempDir = "tmp"
	// EmptyRegistryDir holds the empty database that answers the reads a caller may not
	// make (see emptyRegistry); recreated at every start.
	EmptyRegistryDir = "empty-registry"
)

// HTTP server timeouts. There is deliberately no ReadTimeout or WriteTimeout: they would cut
// off multi-gigabyte uploads and downloads on slow links. A request body that stops making
// progress is cut by Config.BodyIdleTimeout instead (see countingBody).
const (
	readHeaderTimeout = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	// afterCloseGrace is how long shutdown waits for handlers whose connections it closed
	// when the shutdown timeout ran out, before closing the database under them.
	afterCloseGrace = 5 * time.Second
)

// errShutdownTimeout is the cause of the cancellation of the requests still running when the
// shutdown timeout runs out: the request log says such a request was cut, not what it answered.
var errShutdownTimeout = errors.New("cut by the shutdown timeout")

// Server is an assembled chartroom server over one data directory.
type Server struct {
	cfg  Config
	log  *slog.Logger
	db   *meta.DB
	reg  *registry.Registry
	auth *auth.Service
	// render runs the renders of charts from publishers in child processes; nil renders in
	// this process. Close kills its children.
	render *sandbox.Renderer
	// missing holds nothing (over missingDB): reads a caller may not make are answered from it.
	missing   *registry.Registry
	missingDB *meta.DB
	metrics   *metrics
	handler   http.Handler

	draining atomic.Bool    // set when shutdown starts: /readyz answers 503
	handlers sync.WaitGroup // requests inside the handler chain

	storage  string          // where blobs are kept, for the log
	writable []writableCheck // what /readyz proves writable
	lock     *os.File        // the data directory's lock, held until Close
	tls      *certReloader   // the TLS certificate, nil to serve plain HTTP
	ready    readyCache
}

// New opens the storage under cfg.DataDir (creating it on first start), bootstraps the admin
// user and builds the handler chain. Close releases what it opened.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var certs *certReloader
	if cfg.TLSCert != "" {
		var err error
		if certs, err = newCertReloader(cfg.TLSCert, cfg.TLSKey, log); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	st, err := newStorage(cfg)
	if err == nil {
		err = st.check(ctx)
	}
	var db *meta.DB
	switch {
	case err != nil:
	case cfg.Database != "":
		err = checkDataDirForPostgres(ctx, cfg.DataDir)
		if err == nil {
			db, err = meta.OpenPostgres(ctx, cfg.Database)
		}
	default:
		err = checkDataDir(ctx, cfg.DataDir, st)
		if err == nil {
			db, err = meta.OpenSQLite(ctx, filepath.Join(cfg.DataDir, DatabaseFile))
		}
	}
	if err != nil {
		lock.Close()
		return nil, err
	}
	// On SQLite the lock proves no other server uses this database: the webhook deliveries a
	// previous run claimed and never finished (it crashed) may go out again at once. On
	// PostgreSQL other servers may be sending theirs: claims are left to expire.
	if cfg.Database != "" {
		// nothing to release
	} else if n, err := db.ReleaseClaims(ctx); err != nil {
		db.Close()
		lock.Close()
		return nil, err
	} else if n > 0 {
		log.Info("webhook deliveries a previous run was sending are sent again", "count", n)
	}
	s, err := assemble(ctx, cfg, log, db, st)
	if err != nil {
		db.Close()
		lock.Close()
		return nil, err
	}
	s.lock, s.tls = lock, certs
	return s, nil
}

func assemble(ctx context.Context, cfg Config, log *slog.Logger, db *meta.DB, st *storage) (*Server, error) {
	blobs, err := st.open()
	if err != nil {
		return nil, err
	}
	spool, err := emptyDir(filepath.Join(cfg.DataDir, TempDir))
	if err != nil {
		return nil, err
	}
	render := sandboxRenderer(cfg)
	built := false
	defer func() {
		if !built && render != nil {
			render.Close() // New failed: no child is left behind
		}
	}()
	reg, err := registry.New(ctx, db, blobs, registry.Options{
		AllowSparseManifests: cfg.AllowSparseManifests,
		ImmutableTags:        cfg.ImmutableTags,
		MaxManifestSize:      cfg.MaxManifestSize,
		MaxBlobSize:          cfg.MaxBlobSize,
		MaxChartSize:         cfg.MaxChartSize,
		SpoolDir:             spool,
		UploadExpiry:         cfg.UploadExpiry,
		MaxUploadsPerUser:    uploadLimit(cfg.MaxUploadsPerUser),
		RedirectBlobs:        cfg.StorageRedirect,
		Upstream:             proxy.New(proxy.Options{}),
		Render:               renderer(render),
		Logger:               log,
	})
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	if err := putConfigProxies(ctx, db, cfg.Proxies); err != nil {
		return nil, err
	}
	expireUploads(ctx, reg, log)
	empty, err := emptyDir(filepath.Join(cfg.DataDir, EmptyRegistryDir))
	if err != nil {
		return nil, err
	}
	missing, missingDB, err := emptyRegistry(ctx, empty, blobs, log)
	if err != nil {
		return nil, err
	}
	authz := auth.New(db, auth.Options{AnonymousRead: cfg.AnonymousRead, AuditRetention: cfg.AuditRetention, Logger: log,
		Tokens: auth.TokenOptions{TTL: cfg.TokenTTL, ExternalURL: cfg.ExternalURL, TrustedPublishers: cfg.TrustedPublishers}})
	if err := authz.Bootstrap(ctx, cfg.AdminPassword, log); err != nil {
		missingDB.Close()
		return nil, fmt.Errorf("create the admin user: %w", err)
	}
	if err := authz.EnsureTokenKey(ctx); err != nil {
		missingDB.Close()
		return nil, fmt.Errorf("create the key signing registry tokens: %w", err)
	}
	s := &Server{cfg: cfg, log: log, db: db, reg: reg, render: render, missing: missing, missingDB: missingDB, auth: authz, storage: st.where, writable: []writableCheck{
		{name: "blob store", check: blobs, fix: st.fix()},
		{name: "database", check: db},
	}}
	s.metrics = newMetrics(reg, authz, db, cfg.Version, log)
	if s.handler, err = s.routes(); err != nil {
		missingDB.Close()
		return nil, err
	}
	built = true
	return s, nil
}

// sandboxRenderer runs the renders of charts from publishers in child processes when the
// config names one (serve does): nil otherwise. Close kills its children.
func sandboxRenderer(cfg Config) *sandbox.Renderer {
	if len(cfg.RenderCommand) == 0 {
		return nil
	}
	return &sandbox.Renderer{Command: cfg.RenderCommand, Memory: cfg.RenderMemory}
}

// renderer is how the registry renders charts from publishers: in sb's children, else (sb
// nil) in this process.
func renderer(sb *sandbox.Renderer) registry.Renderer {
	if sb == nil {
		return nil
	}
	return sb
}

// emptyRegistry is a registry over an empty database (in dir, emptied at every start) and the
// blob store, which it never reaches: it holds nothing, and answers the reads a caller may not
// make, exactly as the registry answers for what does not exist.
func emptyRegistry(ctx context.Context, dir string, blobs blob.Store, log *slog.Logger) (*registry.Registry, *meta.DB, error) {
	db, err := meta.OpenSQLite(ctx, filepath.Join(dir, DatabaseFile))
	if err != nil {
		return nil, nil, fmt.Errorf("the empty registry: %w", err)
	}
	reg, err := registry.New(ctx, db, blobs, registry.Options{Logger: log})
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("the empty registry: %w", err)
	}
	return reg, db, nil
}

// emptyDir creates dir, removing what a previous run left in it (uploads a crash interrupted).
func emptyDir(dir string) (string, error) {
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("empty %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	return dir, nil
}

// Handler is the server's whole handler chain (middleware included).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers requests on ln until ctx is cancelled, then shuts down gracefully in two
// phases: for cfg.ShutdownDelay it answers /readyz with 503 while still accepting and serving
// requests (each answer saying "Connection: close"), so that load balancers take the replica
// out before it stops; then it stops accepting and lets in-flight requests (uploads included)
// finish within cfg.ShutdownTimeout before closing their connections. It does not close the
// storage: call Close after Serve returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// Request contexts are not derived from ctx: a shutdown signal must not abort in-flight
	// uploads. They are cancelled only when the shutdown timeout runs out.
	base, cancelRequests := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelRequests(nil)
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	database := "sqlite"
	if s.cfg.Database != "" {
		database = meta.RedactURL(s.cfg.Database)
	}
	s.log.Info("listening", "addr", ln.Addr().String(), "tls", s.tls != nil, "data_dir", s.cfg.DataDir, "database", database, "storage", s.storage,
		"storage_redirect", s.cfg.StorageRedirect,
		"version", s.cfg.Version, "anonymous_read", s.cfg.AnonymousRead)
	if s.tls == nil && !listensOnLoopbackOnly(ln.Addr()) {
		s.log.Warn("SERVING PLAIN HTTP on an address other machines can reach: their passwords and tokens would cross the network unencrypted; "+
			"serve TLS with --tls-cert and --tls-key, or keep a TLS-terminating proxy in front (a warning follows whenever credentials arrive in clear)",
			"addr", ln.Addr().String())
	}

	served := make(chan error, 1)
	if s.tls != nil {
		srv.TLSConfig = s.tls.tlsConfig()
		go func() { served <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { served <- srv.Serve(ln) }()
	}
	sweepCtx, stopSweeping := context.WithCancel(ctx)
	defer stopSweeping()
	go s.sweepUploads(sweepCtx)
	// A garbage collection in flight stops at the shutdown and records what it removed
	// before Serve returns (and the database closes).
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		if s.cfg.GCInterval > 0 {
			s.runGC(sweepCtx)
		}
	}()
	proxiesDone := make(chan struct{})
	go func() {
		defer close(proxiesDone)
		s.refreshProxies(sweepCtx)
	}()
	defer func() {
		stopSweeping()
		<-gcDone
		<-proxiesDone
	}()
	// Webhook deliveries go out until the shutdown starts; the attempts then in flight are
	// finished and recorded before Serve returns (and the database closes).
	sendCtx, stopSending := context.WithCancel(ctx)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		s.webhooks(ln).Run(sendCtx)
	}()
	defer func() {
		stopSending()
		<-sent
	}()
	authDone := make(chan struct{})
	authCtx, stopAuth := context.WithCancel(context.WithoutCancel(ctx))
	go func() { s.auth.Run(authCtx); close(authDone) }()
	// The audit log's last records are written after the last request ended.
	defer func() { stopAuth(); <-authDone }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	s.draining.Store(true)
	if d := s.cfg.ShutdownDelay; d > 0 {
		s.log.Info("shutting down: /readyz answers 503; still serving requests for the shutdown delay",
			"delay", d.String())
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case err := <-served:
			t.Stop()
			return fmt.Errorf("serve: %w", err)
		}
	}
	s.log.Info("shutting down: accepting no new connections, waiting for in-flight requests",
		"timeout", s.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		s.log.Warn("in-flight requests did not finish within the shutdown timeout; closing their connections",
			"timeout", s.cfg.ShutdownTimeout.String())
		cancelRequests(errShutdownTimeout)
		_ = srv.Close()
		s.waitHandlers(afterCloseGrace)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	s.log.Info("stopped")
	return nil
}

// webhooks is the sender of webhook deliveries, with payload URLs on --external-url or, without
// it, on the address ln listens at.
func (s *Server) webhooks(ln net.Listener) *webhook.Sender {
	return webhook.New(s.db, webhook.Options{
		BaseURL:     baseURL(s.cfg.ExternalURL, ln.Addr(), s.tls != nil),
		Timeout:     s.cfg.WebhookTimeout,
		RetryMin:    s.cfg.WebhookRetryMin,
		RetryMax:    s.cfg.WebhookRetryMax,
		MaxAttempts: s.cfg.WebhookMaxAttempts,
		GiveUpAfter: s.cfg.WebhookGiveUpAfter,
		UserAgent:   "chartroom/" + s.cfg.Version,
		Logger:      s.log,
	})
}

// baseURL is the URL clients reach the server at: externalURL when set, else http:// (https://
// when serving TLS) and the listening address, with the machine's name for an address of all
// interfaces.
func baseURL(externalURL string, addr net.Addr, tls bool) string {
	if externalURL != "" {
		return strings.TrimRight(externalURL, "/")
	}
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return scheme + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if name, err := os.Hostname(); err == nil && name != "" {
			host = name
		} else {
			host = "localhost"
		}
	}
	return scheme + net.JoinHostPort(host, port)
}

// uploadLimit is Config.MaxUploadsPerUser as registry.Options takes it (0: no limit).
func uploadLimit(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// sweepUploads removes idle upload sessions every sweepInterval until ctx ends (New did once).
func (s *Server) sweepUploads(ctx context.Context) {
	t := time.NewTicker(sweepInterval(s.cfg.UploadExpiry))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			expireUploads(ctx, s.reg, s.log)
		}
	}
}

// sweepInterval is how often idle upload sessions are looked for: hourly, or every half
// expiry when that is shorter, so a session lives at most 1.5 times the expiry.
func sweepInterval(expiry time.Duration) time.Duration {
	return max(min(expiry/2, time.Hour), time.Second)
}

func expireUploads(ctx context.Context, reg *registry.Registry, log *slog.Logger) {
	n, err := reg.ExpireUploads(ctx)
	if err != nil && ctx.Err() == nil {
		log.Error("removing idle upload sessions failed", "err", err)
	}
	if n > 0 {
		log.Info("removed idle upload sessions", "count", n, "idle_for_more_than", reg.Options().UploadExpiry.String())
	}
}

// waitHandlers waits up to d for handlers still running.
func (s *Server) waitHandlers(d time.Duration) {
	done := make(chan struct{})
	go func() { s.handlers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		s.log.Warn("handlers still running after their connections were closed; closing storage anyway")
	}
}

// Close writes the audit records still waiting, kills the render children and closes the
// database.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	s.auth.Flush(ctx)
	cancel()
	if s.render != nil {
		s.render.Close()
	}
	err := errors.Join(s.db.Close(), s.missingDB.Close())
	if s.lock != nil {
		s.lock.Close() // releases the data directory's lock
	}
	return err
}

// Run listens on cfg.Listen, serves until ctx is cancelled, shuts down gracefully and closes
// the storage: the whole of `chartroom serve`. The address is bound first, so a server that
// cannot listen creates nothing (no admin user, no generated password in the log).
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (stop what uses that address, or choose another with --listen)", cfg.Listen, err)
	}
	s, err := New(ctx, cfg, log)
	if err != nil {
		ln.Close()
		return err
	}
	err = s.Serve(ctx, ln)
	if cerr := s.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close database: %w", cerr))
	}
	return err
}
