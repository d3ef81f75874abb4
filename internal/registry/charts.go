package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/repoindex"
)

// maxChartConfigSize bounds the config blob read to validate a chart (Chart.yaml as JSON).
const maxChartConfigSize = 1 << 20

// chartConfig is what chartroom reads of a chart's OCI config.
type chartConfig struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	AppVersion  string `json:"appVersion"`
	Description string `json:"description"`
	APIVersion  string `json:"apiVersion"`
}

// chartVersion validates a chart manifest and builds the chart version it publishes:
// the config is Chart.yaml as JSON, its name is the repository's last component, its version
// strict SemVer 2 matching the tag (helm writes "+" as "_" in tags); one chart layer and at
// most one provenance layer.
func (r *Registry) chartVersion(ctx context.Context, repo, reference string, doc *manifestDoc, verifyLayer bool) (*meta.ChartVersion, error) {
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
		return nil, invalid("the chart config (Chart.yaml as JSON) is not valid JSON: %v", err)
	}
	switch {
	case cfg.Name == "":
		return nil, invalid("the chart config has no name; Chart.yaml needs a name")
	case cfg.Version == "":
		return nil, invalid("the chart config has no version; Chart.yaml needs a version")
	case cfg.Name != name:
		return nil, invalid("chart %q pushed to repository %s: the last part of the repository must be the chart's name (push to %s/%s)", cfg.Name, repo, ns, cfg.Name)
	}
	if _, err := semver.StrictNewVersion(cfg.Version); err != nil {
		return nil, invalid("chart version %q is not strict SemVer 2 (MAJOR.MINOR.PATCH, e.g. 1.4.2): %v", cfg.Version, err)
	}
	if !IsDigest(reference) && reference != chart.OCITag(cfg.Version) {
		return nil, invalid("tag %q differs from the chart's version %s: push chart versions under their version (tag %s)", reference, cfg.Version, chart.OCITag(cfg.Version))
	}
	c := &meta.ChartVersion{
		Repository: repo,
		Namespace:  ns,
		Name:       cfg.Name,
		Version:    cfg.Version,
	}
	for _, l := range doc.Layers {
		switch l.MediaType {
		case chart.ChartLayerMediaType, chart.LegacyChartLayerMediaType:
			if c.ChartDigest != "" {
				return nil, invalid("a chart manifest has exactly one chart layer; this one has several")
			}
			c.ChartDigest, c.ChartSize = l.Digest, l.Size
		case chart.ProvLayerMediaType:
			if c.ProvDigest != "" {
				return nil, invalid("a chart manifest has at most one provenance layer")
			}
			c.ProvDigest = l.Digest
		default:
			return nil, invalid("layer media type %q does not belong in a chart manifest", l.MediaType)
		}
	}
	if c.ChartDigest == "" {
		return nil, invalid("the chart manifest has no chart layer (%s)", chart.ChartLayerMediaType)
	}
	if c.ChartDigest.Algorithm() != digest.SHA256 {
		return nil, invalid("the chart layer's digest is %s; chart archives are addressed by sha256 (chart repository indexes name them so)", c.ChartDigest.Algorithm())
	}
	if verifyLayer {
		md, err := r.verifyChartLayer(ctx, repo, c)
		if err != nil {
			return nil, err
		}
		// What the index and `helm show chart` say comes from the archive's Chart.yaml, as
		// for an upload over the classic API; a config that says otherwise is refused.
		archived, err := chart.ConfigJSON(md)
		if err != nil {
			return nil, invalid("the chart layer's Chart.yaml: %v", err)
		}
		if err := compareChartConfig(raw, archived); err != nil {
			return nil, err
		}
		raw, cfg = archived, chartConfig{}
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return nil, fmt.Errorf("chart metadata of %s %s: %w", c.Name, c.Version, err)
		}
	}
	c.AppVersion, c.Description, c.Metadata = cfg.AppVersion, cfg.Description, raw
	c.Created = time.Now().UTC()
	if c.IndexYAML, c.IndexJSON, err = repoindex.Render(raw, c.Created, c.ChartDigest.Encoded()); err != nil {
		return nil, invalid("%v", err)
	}
	return c, nil
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
