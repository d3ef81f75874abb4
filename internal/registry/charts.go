package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/meta"
)

// maxChartConfigSize bounds the config blob read to validate a chart (Chart.yaml as JSON).
const maxChartConfigSize = 1 << 20

// chartConfig is what chartroom reads of a chart's OCI config before it reads the archive.
type chartConfig struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// ociChart reads the chart version a chart manifest pushed over OCI publishes, and holds it
// to the chart rules: its config (Chart.yaml as JSON, checked first: cheap), its one chart
// layer and at most one provenance layer, read from the repository.
func (r *Registry) ociChart(ctx context.Context, repo, reference, actor string, doc *manifestDoc) (*meta.ChartVersion, error) {
	ns, name := SplitRepository(repo)
	if err := CheckChartNamespace(ns); err != nil {
		return nil, err
	}
	raw, err := r.readSmallBlob(ctx, repo, doc.Config.Digest, maxChartConfigSize)
	if err != nil {
		return nil, err
	}
	var cfg chartConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, chartInvalid("the chart config (Chart.yaml as JSON) is not valid JSON: %v", err)
	}
	switch {
	case cfg.Name == "":
		return nil, chartInvalid("the chart config has no name; Chart.yaml needs a name")
	case cfg.Version == "":
		return nil, chartInvalid("the chart config has no version; Chart.yaml needs a version")
	case cfg.Name != name:
		return nil, chartInvalid("chart %q pushed to repository %s: the last part of the repository must be the chart's name (push to %s)", cfg.Name, repo, joinRepository(ns, cfg.Name))
	}
	if _, err := semver.StrictNewVersion(cfg.Version); err != nil {
		return nil, chartInvalid("chart version %q is not strict SemVer 2 (MAJOR.MINOR.PATCH, e.g. 1.4.2): %v", cfg.Version, err)
	}
	if !IsDigest(reference) && reference != chart.OCITag(cfg.Version) {
		return nil, invalid("tag %q differs from the chart's version %s: push chart versions under their version (tag %s)", reference, cfg.Version, chart.OCITag(cfg.Version))
	}
	var layer, prov *ocispec.Descriptor
	for i, l := range doc.Layers {
		switch l.MediaType {
		case chart.ChartLayerMediaType, chart.LegacyChartLayerMediaType:
			if layer != nil {
				return nil, invalid("a chart manifest has exactly one chart layer; this one has several")
			}
			layer = &doc.Layers[i]
		case chart.ProvLayerMediaType:
			if prov != nil {
				return nil, invalid("a chart manifest has at most one provenance layer")
			}
			prov = &doc.Layers[i]
		default:
			return nil, invalid("layer media type %q does not belong in a chart manifest", l.MediaType)
		}
	}
	if layer == nil {
		return nil, invalid("the chart manifest has no chart layer (%s)", chart.ChartLayerMediaType)
	}
	in := &chartIn{repo: repo, archive: layer.Digest, size: layer.Size, config: raw, actor: actor,
		created: manifestCreated(doc.Annotations, time.Now())}
	provSize := int64(-1)
	if prov != nil {
		in.provName, in.provDigest, provSize = "the provenance layer "+prov.Digest.String(), prov.Digest, prov.Size
	}
	if err := r.admitChart(ns, layer.Size, in.provName, provSize); err != nil {
		return nil, err
	}
	if in.md, err = r.loadLayer(ctx, repo, layer.Digest); err != nil {
		return nil, err
	}
	if prov != nil {
		if in.prov, err = r.readSmallBlob(ctx, repo, prov.Digest, MaxProvSize); err != nil {
			return nil, err
		}
	}
	c, err := r.checkChart(in)
	if err != nil {
		return nil, err
	}
	open := func() (io.ReadCloser, error) {
		rc, _, err := r.OpenBlob(ctx, repo, layer.Digest, 0)
		return rc, err
	}
	if err := r.applyPolicies(ctx, in, c, open); err != nil {
		return nil, err
	}
	if c.Images, err = r.chartImages(ctx, in.md, open); err != nil {
		return nil, err
	}
	return c, nil
}

// loadLayer loads the chart archive a manifest's layer d names.
func (r *Registry) loadLayer(ctx context.Context, repo string, d digest.Digest) (*chart.Metadata, error) {
	rc, _, err := r.OpenBlob(ctx, repo, d, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: chart layer %s is not in %s; push it before the manifest", ErrManifestBlobUnknown, d, repo)
	}
	defer rc.Close()
	return r.loadChart(ctx, rc, "the chart layer is not a valid chart archive: ")
}

// readSmallBlob reads a blob of repo whole, refusing one larger than max.
func (r *Registry) readSmallBlob(ctx context.Context, repo string, d digest.Digest, max int64) ([]byte, error) {
	rc, size, err := r.OpenBlob(ctx, repo, d, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not in %s; push it before the manifest", ErrManifestBlobUnknown, d, repo)
	}
	defer rc.Close()
	if size > max {
		return nil, invalid("blob %s has %d bytes; at most %d are read here", d, size, max)
	}
	return io.ReadAll(io.LimitReader(rc, max))
}

// manifestCreated is the chart version's creation time a manifest states in its
// org.opencontainers.image.created annotation, which helm push sets (to the archive file's
// modification time) and chartroom import sets to the source repository's created date, so
// that an imported index reads the same: the time when it is valid RFC 3339, not after now
// and not before [earliestCreated], else zero (the arrival time is used).
func manifestCreated(annotations map[string]string, now time.Time) time.Time {
	v, ok := annotations[ocispec.AnnotationCreated]
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil || t.After(now) || t.Before(earliestCreated) {
		return time.Time{}
	}
	return t.UTC()
}

// earliestCreated bounds a manifest's created date from below: Helm charts did not exist
// before 2015, so an earlier date is a reproducible build's placeholder mtime (1970-01-01,
// the Nix store's 1970-01-01T00:00:01, zip's 1980-01-01), not when the version was made.
var earliestCreated = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
