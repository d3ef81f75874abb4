package registry

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/meta"
)

// Reading charts the way the classic chart repository serves them: by namespace, name and
// version rather than by repository and digest.

// ErrChartUnknown: no such chart version is published (it may have been deleted).
var ErrChartUnknown = errors.New("chart version not found")

// NamespaceState returns a namespace's change counter (for ETags and caches).
func (r *Registry) NamespaceState(ctx context.Context, ns string) (meta.Namespace, error) {
	return r.db.NamespaceState(ctx, ns)
}

// IndexEntries returns a namespace's rendered index entries in one form, with the state they
// were read at: every live version (since = 0), or the versions changed after generation
// since, deleted ones flagged.
func (r *Registry) IndexEntries(ctx context.Context, ns string, format meta.IndexFormat, since int64) ([]meta.IndexEntry, meta.Namespace, error) {
	return r.db.IndexEntries(ctx, ns, format, since)
}

// ChartVersions lists a namespace's live chart versions, optionally of one chart.
func (r *Registry) ChartVersions(ctx context.Context, ns, name string) ([]meta.ChartVersion, error) {
	versions, _, err := r.db.ChartVersions(ctx, ns, name)
	return versions, err
}

// ChartVersion returns one live chart version, or ErrChartUnknown.
func (r *Registry) ChartVersion(ctx context.Context, ns, name, version string) (*meta.ChartVersion, error) {
	c, err := r.db.GetChartVersion(ctx, ns, name, version)
	if errors.Is(err, meta.ErrNotFound) || err == nil && c.Deleted {
		return nil, fmt.Errorf("%w: %s %s in namespace %q", ErrChartUnknown, name, version, ns)
	}
	return c, err
}

// OpenChart opens a live chart version's archive (prov false) or provenance file (prov true).
func (r *Registry) OpenChart(ctx context.Context, ns, name, version string, prov bool) (io.ReadCloser, int64, digest.Digest, error) {
	c, err := r.ChartVersion(ctx, ns, name, version)
	if err != nil {
		return nil, 0, "", err
	}
	d := c.ChartDigest
	if prov {
		if c.ProvDigest == "" {
			return nil, 0, "", fmt.Errorf("%w: %s %s has no provenance file", ErrChartUnknown, name, version)
		}
		d = c.ProvDigest
	}
	rc, size, err := r.OpenBlob(ctx, c.Repository, d, 0)
	if err != nil {
		return nil, 0, "", err
	}
	return rc, size, d, nil
}

// DeleteChartVersion deletes a published chart version, leaving a tombstone: the version
// can be published again only with the same content.
func (r *Registry) DeleteChartVersion(ctx context.Context, ns, name, version string) error {
	c, err := r.ChartVersion(ctx, ns, name, version)
	if err != nil {
		return err
	}
	err = r.db.DeleteManifest(ctx, c.Repository, c.ManifestDigest, r.tagsImmutable(c.Repository))
	if errors.Is(err, meta.ErrNotFound) {
		return fmt.Errorf("%w: %s %s", ErrChartUnknown, name, version)
	}
	return err
}
