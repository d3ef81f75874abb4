package registry

import (
	"context"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/meta"
)

// chartConflict refuses a chart version published before with another archive (ErrImmutable),
// sent being the archive that came now (d). When both archives hold the same chart — the same
// files with the same content, only packaged differently, as when a pipeline packages the
// same chart again at another time — the message says so and how to package reproducibly:
// a bare "different content" would send the user looking for a change there is none of.
// The archives are compared only here, after the conflict was found, each read streaming
// within the chart limits; a comparison that cannot be made leaves the plain refusal.
func (r *Registry) chartConflict(ctx context.Context, conflict *meta.ChartConflictError, d digest.Digest, sent func() (io.ReadCloser, error)) error {
	plain := mapMetaErr(conflict)
	same, err := r.sameChart(ctx, conflict.Existing, sent)
	if err != nil {
		r.log.Debug("compare a conflicting chart archive with the published one", "chart", conflict.Existing.Name,
			"version", conflict.Existing.Version, "err", err)
		return plain
	}
	if !same {
		return plain
	}
	ex := conflict.Existing
	next := "There is nothing new to publish: keep the published archive (helm pull fetches it), or publish a new version."
	if ex.Deleted {
		next = "A deleted version comes back only with the archive that was published: push that one, or publish a new version."
	}
	return fmt.Errorf("%w: %s (manifest %s). The archive sent (%s) holds the same chart, the same files with the same content, "+
		"but was packaged differently (file timestamps, owners, modes, entry order or compression), and a published version never "+
		"changes, not even in its bytes. %s To publish the same archive from the same chart every time, package reproducibly: "+
		"chartroom package is reproducible by default (every timestamp SOURCE_DATE_EPOCH, else 1970-01-01); helm package (helm v4) is "+
		"when SOURCE_DATE_EPOCH is set, e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%%ct); helm v3's helm package stamps the current time",
		ErrImmutable, conflict.Error(), ex.ManifestDigest, d, next)
}

// sameChart reports whether the archive sent holds the chart of the published version's
// archive (chart.ContentDigest), reading both in one of the registry's validation slots.
func (r *Registry) sameChart(ctx context.Context, published meta.ChartVersion, sent func() (io.ReadCloser, error)) (bool, error) {
	select {
	case r.validations <- struct{}{}:
	case <-ctx.Done():
		return false, context.Cause(ctx)
	}
	defer func() { <-r.validations }()
	rc, _, err := r.OpenBlob(ctx, published.Repository, published.ChartDigest, 0)
	if err != nil {
		return false, fmt.Errorf("the published archive: %w", err)
	}
	was, err := chart.ContentDigest(rc, chart.Limits{})
	rc.Close()
	if err != nil {
		return false, fmt.Errorf("the published archive: %w", err)
	}
	rc, err = sent()
	if err != nil {
		return false, fmt.Errorf("the archive sent: %w", err)
	}
	defer rc.Close()
	now, err := chart.ContentDigest(rc, chart.Limits{})
	if err != nil {
		return false, fmt.Errorf("the archive sent: %w", err)
	}
	return was == now, nil
}
