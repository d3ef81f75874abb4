package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/blob"
	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/meta"
)

// Garbage collection: mark and sweep with a grace period, safe while pushes run on any
// process sharing the database and the blob store (docs/ARCHITECTURE.md, "Garbage
// collection"). Retention rules of namespaces run first, as deletions of chart versions.

// DefaultGCGrace is how old content must be before garbage collection removes it, unless
// GCOptions.Grace says otherwise.
const DefaultGCGrace = 24 * time.Hour

// GCActor is who retention's deletions are attributed to (webhook events, audit log).
const GCActor = "gc"

// gcLeaseTTL is how long the lease of a run lasts unless renewed (every third of it): a
// process that dies mid-run blocks the next run at most this long.
const gcLeaseTTL = 2 * time.Minute

// GCOptions tune a garbage collection. The zero value is the documented default of each field.
type GCOptions struct {
	// Grace is how old content must be to be removed: manifests, blob links and blobs
	// created (or blobs written again) less than Grace ago, and upload sessions active less
	// than Grace ago, are kept. 0 means DefaultGCGrace.
	Grace time.Duration
	// Cutoff, when set, replaces Grace: content created (or written, or active) before this
	// instant may be removed, nothing after it.
	Cutoff time.Time
	// DryRun reports what would be removed and removes nothing.
	DryRun bool
	// Holder names the run in the lease (who holds it, in ErrGCRunning's message); ""
	// means the host name and process id.
	Holder string
}

// GCVersion is a prerelease chart version retention deleted (or, dry, would delete).
type GCVersion struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Version   string `json:"version"`
	Rule      string `json:"rule"` // which rule: "keep-prereleases N", "delete-prereleases-older-than D"
}

// GCReport is what a garbage collection removed (or, dry, would remove).
type GCReport struct {
	DryRun   bool          `json:"dryRun"`
	Grace    time.Duration `json:"-"` // in JSON graceSeconds
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"-"` // in JSON durationSeconds
	// Versions are the prerelease chart versions retention deleted (tombstones remain).
	Versions []GCVersion `json:"versions"`
	// Manifests is how many manifests nothing reachable needed.
	Manifests int `json:"manifests"`
	// Links is how many blob links of repositories no reachable manifest referenced.
	Links int `json:"links"`
	// Blobs and Bytes are the blobs deleted from the blob store and their size. A dry run
	// counts those nothing links now (a real run also deletes those whose last links it
	// removes).
	Blobs int   `json:"blobs"`
	Bytes int64 `json:"bytes"`
	// Uploads is how many upload sessions idle for longer than Grace were ended.
	Uploads int `json:"uploads"`
}

// MarshalJSON writes the report with its durations in seconds (graceSeconds,
// durationSeconds).
func (r *GCReport) MarshalJSON() ([]byte, error) {
	type plain GCReport
	return json.Marshal(struct {
		*plain
		GraceSeconds    float64 `json:"graceSeconds"`
		DurationSeconds float64 `json:"durationSeconds"`
	}{(*plain)(r), r.Grace.Seconds(), r.Duration.Seconds()})
}

// GC runs one garbage collection: retention of prerelease chart versions, then the manifests
// and blob links nothing reachable needs (each repository marked and swept in one write
// transaction), then the upload sessions idle for longer than the grace period, then the
// blobs no repository links and older than the grace period (each marked in the database
// before its bytes are deleted, so that a push linking it meanwhile is refused instead of
// linked to deleted bytes). An error wrapping meta.ErrGCRunning when another run (of
// any process sharing the database) holds the lease: one runs at a time. A run that
// removed something is recorded in the database (meta.GCState: the metrics read it).
func (r *Registry) GC(ctx context.Context, opts GCOptions) (*GCReport, error) {
	if opts.Grace <= 0 {
		opts.Grace = DefaultGCGrace
	}
	if opts.Holder == "" {
		opts.Holder = defaultHolder()
	}
	rep := &GCReport{DryRun: opts.DryRun, Grace: opts.Grace, Started: time.Now().UTC(), Versions: []GCVersion{}}
	if opts.Cutoff.IsZero() {
		opts.Cutoff = rep.Started.Add(-opts.Grace)
	} else {
		rep.Grace = rep.Started.Sub(opts.Cutoff)
	}
	if err := r.db.AcquireGCLease(ctx, opts.Holder, gcLeaseTTL); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(gcLeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				if err := r.db.AcquireGCLease(runCtx, opts.Holder, gcLeaseTTL); err != nil && runCtx.Err() == nil {
					cancel(fmt.Errorf("the lease was lost: %w", err))
					return
				}
			}
		}
	}()
	err := r.gc(runCtx, opts, rep)
	if cause := context.Cause(runCtx); err != nil && cause != nil && ctx.Err() == nil {
		err = fmt.Errorf("%w (%v)", err, cause)
	}
	cancel(nil)
	<-renewed
	rep.Duration = time.Since(rep.Started)
	errText := ""
	if err != nil {
		errText = err.Error()
	}
	stats := meta.GCStats{BytesReclaimed: rep.Bytes, BlobsRemoved: int64(rep.Blobs), ManifestsRemoved: int64(rep.Manifests),
		UploadsRemoved: int64(rep.Uploads), VersionsRemoved: int64(len(rep.Versions))}
	// Recorded even when ctx ended (a shutdown): what was removed was removed.
	if rerr := r.db.ReleaseGCLease(context.WithoutCancel(ctx), opts.Holder, rep.Started, !opts.DryRun, stats, errText); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if err != nil {
		return rep, fmt.Errorf("garbage collection: %w", err)
	}
	return rep, nil
}

func defaultHolder() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s pid %d (%s)", host, os.Getpid(), hex.EncodeToString(b[:]))
}

func (r *Registry) gc(ctx context.Context, opts GCOptions, rep *GCReport) error {
	cutoff := opts.Cutoff
	if err := r.applyRetention(ctx, opts.DryRun, rep); err != nil {
		return err
	}
	if !opts.DryRun {
		// What a run that stopped half-way marked for deletion is deleted first.
		pending, err := r.db.DeletingBlobs(ctx)
		if err != nil {
			return err
		}
		for _, d := range pending {
			if err := r.deleteBlob(ctx, d, -1, rep); err != nil {
				return err
			}
		}
	}
	repos, err := r.db.GCRepositories(ctx)
	if err != nil {
		return err
	}
	for _, repo := range repos {
		sw, err := r.db.SweepRepository(ctx, repo.ID, cutoff, opts.DryRun)
		if err != nil {
			return err
		}
		rep.Manifests += len(sw.Manifests)
		rep.Links += len(sw.Links)
		if len(sw.Manifests)+len(sw.Links) > 0 && !opts.DryRun {
			r.log.Info("garbage collection removed manifests and blob links nothing needs", "repository", repo.Name,
				"manifests", len(sw.Manifests), "blob_links", len(sw.Links))
		}
	}
	if err := r.gcUploads(ctx, cutoff, opts.DryRun, rep); err != nil {
		return err
	}
	return r.gcBlobs(ctx, cutoff, opts.DryRun, rep)
}

// gcUploads ends the upload sessions idle for longer than the grace period.
func (r *Registry) gcUploads(ctx context.Context, cutoff time.Time, dry bool, rep *GCReport) error {
	if !dry {
		n, err := r.blobs.ExpireUploads(ctx, max(time.Since(cutoff), time.Nanosecond))
		rep.Uploads += n
		if err != nil {
			return fmt.Errorf("upload sessions: %w", err)
		}
		return nil
	}
	list, err := r.blobs.Uploads(ctx)
	if err != nil {
		return fmt.Errorf("upload sessions: %w", err)
	}
	for _, u := range list {
		if u.LastActive.Before(cutoff) {
			rep.Uploads++
		}
	}
	return nil
}

// gcBlobs deletes the blobs of the store that no repository links and that were written
// before cutoff, and the database rows of unlinked blobs the store no longer has.
func (r *Registry) gcBlobs(ctx context.Context, cutoff time.Time, dry bool, rep *GCReport) error {
	var old []blob.Stored
	err := r.blobs.List(ctx, func(s blob.Stored) error {
		if s.Modified.Before(cutoff) {
			old = append(old, s)
		}
		return nil
	})
	if err != nil {
		return err
	}
	ds := make([]digest.Digest, len(old))
	for i, s := range old {
		ds[i] = s.Digest
	}
	linked, err := r.db.LinkedBlobs(ctx, ds)
	if err != nil {
		return err
	}
	for _, s := range old {
		if linked[s.Digest] {
			continue
		}
		if dry {
			rep.Blobs++
			rep.Bytes += s.Size
			continue
		}
		marked, err := r.db.MarkBlobDeleting(ctx, s.Digest, s.Size)
		if err != nil {
			return err
		}
		if marked { // else linked since the listing: kept
			if err := r.deleteBlob(ctx, s.Digest, s.Size, rep); err != nil {
				return err
			}
		}
	}
	if dry {
		return nil
	}
	// Rows of blobs nothing links whose bytes are not in the store (or not yet: a write in
	// flight, which its link then finds missing; see linkBlob).
	rows, err := r.db.UnlinkedBlobRows(ctx)
	if err != nil {
		return err
	}
	for _, d := range rows {
		if _, err := r.blobs.Stat(ctx, d); !errors.Is(err, blob.ErrNotFound) {
			continue // present (young, or it was listed above), or unknown: left for later
		}
		if marked, err := r.db.MarkBlobDeleting(ctx, d, 0); err != nil {
			return err
		} else if marked {
			if err := r.db.RemoveBlobRow(ctx, d); err != nil {
				return err
			}
		}
	}
	return nil
}

// deleteBlob deletes blob d, marked for deletion, from the store (size bytes; -1: ask the
// store) and then its row.
func (r *Registry) deleteBlob(ctx context.Context, d digest.Digest, size int64, rep *GCReport) error {
	if size < 0 {
		if info, err := r.blobs.Stat(ctx, d); err == nil {
			size = info.Size
		}
	}
	err := r.blobs.Delete(ctx, d)
	switch {
	case err == nil:
		rep.Blobs++
		rep.Bytes += max(size, 0)
	case !errors.Is(err, blob.ErrNotFound):
		return fmt.Errorf("delete blob %s: %w", d, err)
	}
	return r.db.RemoveBlobRow(ctx, d)
}

// linkBlob links blob d, just written to the store, to repo. When the link created the
// blob's row, a garbage collection may have deleted the bytes after they were written and
// removed the row before the link: then the bytes are checked, and if they are gone the
// link is taken back and the caller asked to upload again.
func (r *Registry) linkBlob(ctx context.Context, repo string, d digest.Digest, size int64) error {
	created, err := r.db.LinkStoredBlob(ctx, repo, d, size)
	if errors.Is(err, meta.ErrBlobDeleting) {
		return fmt.Errorf("%w: blob %s was being deleted by garbage collection as it was uploaded (nothing used it): upload it again", ErrUploadUnknown, d)
	}
	if err != nil || !created {
		return mapBlobErr(err)
	}
	if _, err := r.blobs.Stat(ctx, d); errors.Is(err, blob.ErrNotFound) {
		if uerr := r.db.UnlinkBlob(ctx, repo, d); uerr != nil && !errors.Is(uerr, meta.ErrNotFound) {
			return uerr
		}
		return fmt.Errorf("%w: blob %s was deleted by garbage collection as it was uploaded (nothing used it): upload it again", ErrUploadUnknown, d)
	} else if err != nil {
		return mapBlobErr(err)
	}
	return nil
}

// applyRetention deletes the prerelease chart versions the retention rules of their
// namespace no longer keep, as a delete by GCActor (a tombstone, webhooks told, audited).
func (r *Registry) applyRetention(ctx context.Context, dry bool, rep *GCReport) error {
	rules, err := r.db.NamespaceRetentions(ctx)
	if err != nil {
		return err
	}
	namespaces := make([]string, 0, len(rules))
	for ns := range rules {
		namespaces = append(namespaces, ns)
	}
	sort.Strings(namespaces)
	now := time.Now()
	for _, ns := range namespaces {
		rule := rules[ns]
		versions, err := r.db.LiveChartVersions(ctx, ns)
		if err != nil {
			return err
		}
		seen := map[string]int{} // prereleases of each chart, newest first
		for _, v := range versions {
			sv, err := chart.ParseVersion(v.Version)
			if err != nil || sv.Prerelease() == "" {
				continue
			}
			rank := seen[v.Name]
			seen[v.Name]++
			why := ""
			switch {
			case rule.KeepPrereleases != nil && rank >= *rule.KeepPrereleases:
				why = fmt.Sprintf("keep-prereleases %d", *rule.KeepPrereleases)
			case rule.DeletePrereleasesOlderThan != nil && now.Sub(v.Created) > *rule.DeletePrereleasesOlderThan:
				why = "delete-prereleases-older-than " + FormatAge(*rule.DeletePrereleasesOlderThan)
			default:
				continue
			}
			if !dry {
				audit := &meta.AuditRecord{Actor: GCActor, Address: "local", Action: "gc.retention", Repository: v.Repository,
					Version: v.Version, Digest: v.ManifestDigest.String(), Outcome: "ok", Detail: why}
				err := r.db.DeleteManifestAudited(ctx, v.Repository, v.ManifestDigest, r.tagsImmutable(v.Repository), GCActor, audit)
				if errors.Is(err, meta.ErrNotFound) {
					continue // deleted meanwhile
				}
				if err != nil {
					return fmt.Errorf("retention of %s %s: %w", v.Name, v.Version, err)
				}
				r.log.Info("retention deleted a prerelease chart version", "namespace", ns, "chart", v.Name, "version", v.Version, "rule", why)
			}
			rep.Versions = append(rep.Versions, GCVersion{Namespace: ns, Name: v.Name, Version: v.Version, Rule: why})
		}
	}
	return nil
}

// FormatAge writes a duration as retention takes it: whole days as "30d", else Go's form.
func FormatAge(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
