package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chartroom/chartroom/internal/blob"
	blobfs "github.com/chartroom/chartroom/internal/blob/fs"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/registry"
)

// runGC runs a garbage collection every cfg.GCInterval until ctx ends. A collection another
// server (or chartroom gc) is running is left to it.
func (s *Server) runGC(ctx context.Context) {
	t := time.NewTicker(s.cfg.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			CollectGarbage(ctx, s.reg, registry.GCOptions{Grace: s.cfg.GCGrace}, s.log)
		}
	}
}

// CollectGarbage runs one garbage collection on reg and logs its outcome.
func CollectGarbage(ctx context.Context, reg *registry.Registry, opts registry.GCOptions, log *slog.Logger) (*registry.GCReport, error) {
	rep, err := reg.GC(ctx, opts)
	switch {
	case errors.Is(err, meta.ErrGCRunning):
		log.Info("garbage collection skipped: another one is running", "err", err)
	case err != nil && ctx.Err() == nil:
		log.Error("garbage collection failed", "err", err)
	case err == nil:
		log.Info("garbage collection done", "dry_run", rep.DryRun, "duration", rep.Duration.String(),
			"versions_deleted", len(rep.Versions), "manifests", rep.Manifests, "blob_links", rep.Links,
			"blobs", rep.Blobs, "bytes", rep.Bytes, "uploads", rep.Uploads)
	}
	return rep, err
}

// OpenRegistry opens the registry of cfg (its database — the data directory's SQLite
// database, migrated, or cfg.Database — and its blob storage) for an administration command that works beside a running server (chartroom
// gc): it takes no lock, creates no data directory and cleans nothing. Close closes it.
func OpenRegistry(ctx context.Context, cfg Config, log *slog.Logger) (*registry.Registry, func() error, error) {
	st, err := newStorage(cfg)
	if err != nil {
		return nil, nil, err
	}
	if err := st.check(ctx); err != nil {
		return nil, nil, err
	}
	var db *meta.DB
	if cfg.Database != "" {
		if db, err = meta.OpenPostgres(ctx, cfg.Database); err != nil {
			return nil, nil, err
		}
	} else {
		db, err = meta.OpenSQLiteExisting(ctx, filepath.Join(cfg.DataDir, DatabaseFile), false)
		if errors.Is(err, meta.ErrNoDatabase) {
			return nil, nil, fmt.Errorf("%w: is %s the --data-dir chartroom serve uses? (it creates the database at its first start)", err, cfg.DataDir)
		}
		if err != nil {
			return nil, nil, err
		}
		if err := db.Migrate(ctx); err != nil {
			db.Close()
			return nil, nil, err
		}
	}
	var blobs blob.Store
	if st.s3 != nil {
		blobs = st.s3
	} else if blobs, err = blobfs.OpenExisting(st.dir); err != nil {
		db.Close()
		return nil, nil, err
	}
	reg, err := registry.New(ctx, db, blobs, registry.Options{
		ImmutableTags: cfg.ImmutableTags,
		UploadExpiry:  cfg.UploadExpiry,
		Logger:        log,
	})
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("registry: %w", err)
	}
	return reg, db.Close, nil
}

// gcStater is what the garbage collection series need: the database's record of runs.
type gcStater interface {
	GetGCState(ctx context.Context) (meta.GCState, error)
}

// gcCollector reports the garbage collections of every process sharing the database, read
// from it on each scrape (so every replica reports the same).
type gcCollector struct {
	db  gcStater
	log *slog.Logger
}

var (
	gcRunsDesc = prometheus.NewDesc("chartroom_gc_runs_total",
		"Garbage collections that finished (dry runs excluded), on any server or chartroom gc sharing the database.", nil, nil)
	gcBytesDesc = prometheus.NewDesc("chartroom_gc_reclaimed_bytes_total",
		"Bytes of blobs garbage collection deleted from the blob store.", nil, nil)
	gcRemovedDesc = prometheus.NewDesc("chartroom_gc_removed_total",
		"What garbage collection removed, by kind: blobs, manifests, uploads (idle upload sessions), versions (prerelease chart versions retention deleted).", []string{"kind"}, nil)
	gcLastDesc = prometheus.NewDesc("chartroom_gc_last_run_timestamp_seconds",
		"When the last garbage collection finished (Unix time; 0: never).", nil, nil)
	gcDurationDesc = prometheus.NewDesc("chartroom_gc_last_run_duration_seconds",
		"How long the last garbage collection took.", nil, nil)
	gcFailedDesc = prometheus.NewDesc("chartroom_gc_last_run_failed",
		"1 when the last garbage collection ended with an error (the log says which), else 0.", nil, nil)
)

func (c *gcCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{gcRunsDesc, gcBytesDesc, gcRemovedDesc, gcLastDesc, gcDurationDesc, gcFailedDesc} {
		ch <- d
	}
}

func (c *gcCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	st, err := c.db.GetGCState(ctx)
	if err != nil {
		c.log.Warn("metrics: could not read the garbage collection state", "err", err)
		ch <- prometheus.NewInvalidMetric(gcRunsDesc, err)
		return
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(gcRunsDesc, st.Runs)
	counter(gcBytesDesc, st.BytesReclaimed)
	counter(gcRemovedDesc, st.BlobsRemoved, "blobs")
	counter(gcRemovedDesc, st.ManifestsRemoved, "manifests")
	counter(gcRemovedDesc, st.UploadsRemoved, "uploads")
	counter(gcRemovedDesc, st.VersionsRemoved, "versions")
	last := 0.0
	if !st.LastFinished.IsZero() {
		last = float64(st.LastFinished.UnixNano()) / 1e9
	}
	failed := 0.0
	if st.LastError != "" {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(gcLastDesc, prometheus.GaugeValue, last)
	ch <- prometheus.MustNewConstMetric(gcDurationDesc, prometheus.GaugeValue, st.LastDuration.Seconds())
	ch <- prometheus.MustNewConstMetric(gcFailedDesc, prometheus.GaugeValue, failed)
}
