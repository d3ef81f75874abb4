package registry

import (
	"context"
	"errors"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/meta"
)

// commit is a checked manifest on its way into the database: what it references, the tags to
// point at it and, for a chart, the chart version it publishes. Both ways in end here: an OCI
// push (PutManifest) and an upload over the classic API (PublishChart).
type commit struct {
	manifest meta.Manifest
	tags     []string
	// blobs and manifests are what the repository must hold (config and layers, index
	// children); references are recorded for garbage collection whether required or not.
	blobs, manifests, references []digest.Digest
	chart                        *meta.ChartVersion
	// actor is who pushes, for the events webhooks are told.
	actor string
}

// commit stores c in one transaction: the manifest, its tags and its chart version, under
// the rules the database holds (immutable versions and tags, one winner of concurrent
// pushes), with the webhook events of the push (queued in that transaction: see meta's
// EventArtifactPushed and EventChartPublished). A chart manifest carries exactly one tag, its version's (another one, a ?tag= of
// a push by digest, would let `helm pull --version` of that tag return this version), and
// its archive and provenance file must be in the repository.
func (r *Registry) commit(ctx context.Context, c *commit) (*PutManifestResult, error) {
	put := meta.PutManifest{
		Manifest:      c.manifest,
		Tags:          c.tags,
		Blobs:         c.blobs,
		Manifests:     c.manifests,
		References:    c.references,
		Chart:         c.chart,
		ImmutableTags: r.tagsImmutable(c.manifest.Repository),
		Actor:         c.actor,
	}
	if ch := c.chart; ch != nil {
		versionTag := chart.OCITag(ch.Version)
		for _, t := range c.tags {
			if t != versionTag {
				return nil, invalid("tag %q on chart %s %s: a chart manifest carries exactly one tag, its version's (%s); push it without other tags", t, ch.Name, ch.Version, versionTag)
			}
		}
		put.Tags = []string{versionTag}
		put.Blobs = append(put.Blobs, ch.ChartDigest)
		if ch.ProvDigest != "" {
			put.Blobs = append(put.Blobs, ch.ProvDigest)
		}
		put.Blobs = uniqueDigests(put.Blobs)
	}
	stored, err := r.db.PutManifest(ctx, put)
	var conflict *meta.ChartConflictError
	if errors.As(err, &conflict) && c.chart != nil {
		ch := c.chart
		return nil, r.chartConflict(ctx, conflict, ch.ChartDigest, func() (io.ReadCloser, error) {
			rc, _, err := r.OpenBlob(ctx, ch.Repository, ch.ChartDigest, 0)
			return rc, err
		})
	}
	if err != nil {
		return nil, mapMetaErr(err)
	}
	res := &PutManifestResult{Digest: c.manifest.Digest, Subject: c.manifest.Subject}
	if stored != nil {
		res.Chart = chartVersionOf(stored)
	}
	return res, nil
}
