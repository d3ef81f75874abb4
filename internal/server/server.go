// Package server assembles `chartroom serve`: it opens the metadata database and blob store
// under the data directory, builds the registry and auth service, routes requests to the
// protocol handlers (OCI under /v2/, the classic chart repository on every other path) and the
// operations endpoints (/healthz, /readyz, /metrics), wraps them in recovery, logging and
// metrics, and shuts down gracefully.
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
	"sync"
	"sync/atomic"
	"time"

	blobfs "github.com/chartroom/chartroom/internal/blob/fs"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server/auth"
)

// Names inside the data directory.
const (
	DatabaseFile = "chartroom.db"
	BlobsDir     = "blobs"
	// IndexCacheDir keeps the latest rendered index of each namespace (a cache: safe to delete).
	IndexCacheDir = "index-cache"
)

// HTTP server timeouts. There is deliberately no ReadTimeout or WriteTimeout: they would cut
// off multi-gigabyte uploads and downloads on slow links.
const (
	readHeaderTimeout = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	// afterCloseGrace is how long shutdown waits for handlers whose connections it closed
	// when the shutdown timeout ran out, before closing the database under them.
	afterCloseGrace = 5 * time.Second
)

// Server is an assembled chartroom server over one data directory.
type Server struct {
	cfg     Config
	log     *slog.Logger
	db      *meta.DB
	reg     *registry.Registry
	auth    *auth.Service
	metrics *metrics
	handler http.Handler

	draining atomic.Bool    // set when shutdown starts: /readyz answers 503
	handlers sync.WaitGroup // requests inside the handler chain
}

// New opens the storage under cfg.DataDir (creating it on first start), bootstraps the admin
// user and builds the handler chain. Close releases what it opened.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if err := checkDataDir(ctx, cfg.DataDir); err != nil {
		return nil, err
	}
	db, err := meta.OpenSQLite(ctx, filepath.Join(cfg.DataDir, DatabaseFile))
	if err != nil {
		return nil, err
	}
	s, err := assemble(ctx, cfg, log, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func assemble(ctx context.Context, cfg Config, log *slog.Logger, db *meta.DB) (*Server, error) {
	blobs, err := blobfs.New(filepath.Join(cfg.DataDir, BlobsDir))
	if err != nil {
		return nil, err
	}
	reg, err := registry.New(ctx, db, blobs, registry.Options{
		AllowSparseManifests: cfg.AllowSparseManifests,
		ImmutableTags:        cfg.ImmutableTags,
		MaxManifestSize:      cfg.MaxManifestSize,
		MaxBlobSize:          cfg.MaxBlobSize,
		MaxChartSize:         cfg.MaxChartSize,
	})
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	authz := auth.New(db, auth.Options{AnonymousRead: cfg.AnonymousRead})
	if err := authz.Bootstrap(ctx, cfg.AdminPassword, log); err != nil {
		return nil, fmt.Errorf("create the admin user: %w", err)
	}
	s := &Server{cfg: cfg, log: log, db: db, reg: reg, auth: authz}
	s.metrics = newMetrics(reg, cfg.Version, log)
	s.handler = s.routes()
	return s, nil
}

// Handler is the server's whole handler chain (middleware included).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers requests on ln until ctx is cancelled, then shuts down gracefully: it stops
// accepting, answers /readyz with 503, and lets in-flight requests (uploads included) finish
// within cfg.ShutdownTimeout before closing their connections. It does not close the storage:
// call Close after Serve returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// Request contexts are not derived from ctx: a shutdown signal must not abort in-flight
	// uploads. They are cancelled only when the shutdown timeout runs out.
	base, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRequests()
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	s.log.Info("listening", "addr", ln.Addr().String(), "data_dir", s.cfg.DataDir,
		"version", s.cfg.Version, "anonymous_read", s.cfg.AnonymousRead)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	s.draining.Store(true)
	s.log.Info("shutting down: accepting no new connections, waiting for in-flight requests",
		"timeout", s.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		s.log.Warn("in-flight requests did not finish within the shutdown timeout; closing their connections",
			"timeout", s.cfg.ShutdownTimeout.String())
		cancelRequests()
		_ = srv.Close()
		s.waitHandlers(afterCloseGrace)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	s.log.Info("stopped")
	return nil
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

// Close closes the database.
func (s *Server) Close() error {
	return s.db.Close()
}

// Run listens on cfg.Listen, serves until ctx is cancelled, shuts down gracefully and closes
// the storage: the whole of `chartroom serve`.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	s, err := New(ctx, cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		s.Close()
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	err = s.Serve(ctx, ln)
	if cerr := s.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close database: %w", cerr))
	}
	return err
}
