package registry

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sync/singleflight"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/release"
)

// VersionDiff is what changed from one published version of a chart to another, as
// `chartroom check` reports it with From as its baseline: values and schema changes,
// rendered resources added, removed and changed, and the bump the changes require.
type VersionDiff struct {
	From, To *ChartVersion
	// Report is internal/release's analysis of To's archive against From's. It is shared by
	// every caller of the same pair of archives: do not change it.
	Report *release.Report
}

// DiffChartVersions compares version to of chart name in namespace ns with version from
// (the baseline) through the semver discipline's analysis (checkDiscipline's path: one of
// the registry's validation slots, bounded by Options.ReleaseCheckTimeout). Results are
// cached per pair of archive digests (diffCacheSize pairs), and concurrent requests for the
// same pair share one analysis. ErrChartUnknown when a version is not published (or not
// visible to the caller); ErrTooLarge when the analysis takes longer than the timeout;
// ErrChartInvalid when the archives cannot be compared at all.
func (r *Registry) DiffChartVersions(ctx context.Context, ns, name, from, to string) (*VersionDiff, error) {
	fc, err := r.ChartVersion(ctx, ns, name, from)
	if err != nil {
		return nil, err
	}
	tc, err := r.ChartVersion(ctx, ns, name, to)
	if err != nil {
		return nil, err
	}
	key := fc.ChartDigest.String() + " " + tc.ChartDigest.String()
	if rep, ok := diffs.get(key); ok {
		return &VersionDiff{From: fc, To: tc, Report: rep}, nil
	}
	// The analysis runs for whoever asked first; it is not cancelled when that caller goes
	// away while others wait for it (it is bounded by the timeout all the same).
	ch := diffs.flight.DoChan(key, func() (any, error) {
		rep, err := r.analyzeVersions(context.WithoutCancel(ctx), fc, tc)
		if err == nil {
			diffs.put(key, rep)
		}
		return rep, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return &VersionDiff{From: fc, To: tc, Report: res.Val.(*release.Report)}, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// analyzeVersions runs release.Check of tc's archive against fc's in a validation slot,
// bounded by Options.ReleaseCheckTimeout.
func (r *Registry) analyzeVersions(ctx context.Context, fc, tc *ChartVersion) (*release.Report, error) {
	select {
	case r.validations <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("compare %s %s with %s: waiting for a validation slot: %w", tc.Name, tc.Version, fc.Version, context.Cause(ctx))
	}
	defer func() { <-r.validations }()
	timeout := r.opts.ReleaseCheckTimeout
	actx, cancel := context.WithTimeoutCause(ctx, timeout, errReleaseCheckTimeout)
	defer cancel()
	// The archives (stored, so within the chart size limit) are read here; they are loaded
	// and compared by the renderer, which a server runs in a child process it kills at the
	// deadline or when it outgrows its memory (internal/sandbox).
	load := func(c *ChartVersion) ([]byte, error) {
		archive, err := readArchive(func() (io.ReadCloser, error) {
			rc, _, err := r.OpenBlob(actx, c.Repository, c.ChartDigest, 0)
			return rc, err
		})
		if err != nil {
			return nil, fmt.Errorf("compare versions of %s: read %s: %w", c.Name, c.Version, err)
		}
		if _, err := chart.ValidateArchive(bytes.NewReader(archive), chart.Limits{}); err != nil {
			return nil, chartInvalid("compare versions of %s: load %s: %v", c.Name, c.Version, err)
		}
		return archive, nil
	}
	tooLong := func() error {
		return fmt.Errorf("%w: comparing %s %s with %s takes more than %s (the registry's release check timeout)",
			ErrTooLarge, tc.Name, tc.Version, fc.Version, timeout)
	}
	base, err := load(fc)
	if err != nil {
		if errors.Is(context.Cause(actx), errReleaseCheckTimeout) {
			return nil, tooLong()
		}
		return nil, err
	}
	cur, err := load(tc)
	if err != nil {
		if errors.Is(context.Cause(actx), errReleaseCheckTimeout) {
			return nil, tooLong()
		}
		return nil, err
	}
	rep, err := r.opts.Render.Check(actx, base, cur, release.Options{Source: "version " + fc.Version})
	switch {
	case err == nil:
		return rep, nil
	case errors.Is(context.Cause(actx), errReleaseCheckTimeout):
		return nil, tooLong()
	case errors.Is(err, ErrTooLarge):
		// Stopped by the renderer's memory limit.
		return nil, fmt.Errorf("comparing %s %s with %s: %w", tc.Name, tc.Version, fc.Version, err)
	case ctx.Err() != nil:
		return nil, err
	}
	// The charts cannot be compared at all (a baseline that is not a version).
	return nil, chartInvalid("%s %s cannot be compared with %s: %v", tc.Name, tc.Version, fc.Version, err)
}

// diffCacheSize is how many compared pairs of archives DiffChartVersions keeps.
const diffCacheSize = 128

// diffs caches reports by pair of archive digests: a report depends only on the two
// archives' bytes, so it is shared by every registry of the process.
var diffs = &diffCache{max: diffCacheSize, items: map[string]*list.Element{}, order: list.New()}

// diffCache is a least-recently-used cache of reports.
type diffCache struct {
	flight singleflight.Group
	mu     sync.Mutex
	max    int
	items  map[string]*list.Element
	order  *list.List // front: most recently used
}

type diffEntry struct {
	key string
	rep *release.Report
}

func (c *diffCache) get(key string) (*release.Report, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*diffEntry).rep, true
}

func (c *diffCache) put(key string, rep *release.Report) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.items[key] = c.order.PushFront(&diffEntry{key: key, rep: rep})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*diffEntry).key)
	}
}
