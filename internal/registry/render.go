package registry

import (
	"context"
	"fmt"
	"time"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/repoindex"
)

// indexRenderVersion is the version of what the registry stores as a chart version's index
// entries: raise it when they would be rendered differently (repoindex, or what they are
// rendered from), and the registry renders the stored ones again when it starts
// (rerenderIndexEntries). 1: entries rendered by repoindex's escaping renderer from the
// archive's Chart.yaml; 2: scalars, quoting and folding written as `helm repo index` writes
// them.
const indexRenderVersion = 2

// rerenderBatch is how many chart versions one transaction rewrites.
const rerenderBatch = 256

// renderEntries renders a chart version's index entries (and its metadata, appVersion and
// description) from its archive's Chart.yaml, with this release's renderer.
func renderEntries(c *meta.ChartVersion, md *chart.Metadata) error {
	archived, err := chart.ConfigJSON(md)
	if err != nil {
		return err
	}
	return renderEntriesFrom(c, archived, md.AppVersion, md.Description)
}

// renderEntriesFrom renders a chart version's index entries from metadata (Chart.yaml as
// JSON) with this release's renderer.
func renderEntriesFrom(c *meta.ChartVersion, metadata []byte, appVersion, description string) error {
	shown := metadata
	if c.UpstreamChanged != "" {
		var err error
		if shown, err = withUpstreamChanged(metadata, c.UpstreamChanged); err != nil {
			return err
		}
	}
	y, j, err := repoindex.Render(shown, c.Created, c.ChartDigest.Encoded())
	if err != nil {
		return err
	}
	c.Metadata, c.AppVersion, c.Description = metadata, appVersion, description
	c.IndexYAML, c.IndexJSON, c.RenderVersion = y, j, indexRenderVersion
	return nil
}

// rerenderIndexEntries brings the index entries an older renderer stored up to this
// release's: each is rendered again from the chart version's stored archive, as a publish
// today would (metadata from the archive's Chart.yaml, escaped as YAML and JSON need). A
// version whose archive cannot be read or no longer validates keeps its stored metadata,
// rendered again (so at least escaped), and is logged. Each rewritten version counts as a
// change of its namespace, so cached indexes and their ETags follow. It returns how many
// versions it rewrote.
func (r *Registry) rerenderIndexEntries(ctx context.Context) (int, error) {
	stale, err := r.db.IndexEntriesRenderedBefore(ctx, indexRenderVersion)
	if err != nil || len(stale) == 0 {
		return 0, err
	}
	start := time.Now()
	for i := 0; i < len(stale); i += rerenderBatch {
		batch := stale[i:min(i+rerenderBatch, len(stale))]
		for j := range batch {
			c := &batch[j]
			if err := r.rerender(ctx, c); err != nil {
				return i, err
			}
		}
		if err := r.db.RewriteIndexEntries(ctx, batch); err != nil {
			return i, err
		}
	}
	r.log.Info("rendered index entries of an older release again", "chart_versions", len(stale), "render_version", indexRenderVersion,
		"duration", time.Since(start).String())
	return len(stale), nil
}

// rerender renders one stored chart version's entries again, from its archive when it can.
func (r *Registry) rerender(ctx context.Context, c *meta.ChartVersion) error {
	md, err := r.storedChart(ctx, c)
	if err == nil {
		if err = renderEntries(c, md); err == nil {
			return nil
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.log.Warn("the archive of a chart version cannot be read; its index entry is rendered again from its stored metadata (run chartroom fsck)",
		"repository", c.Repository, "version", c.Version, "chart_digest", c.ChartDigest.String(), "err", err)
	if err := renderEntriesFrom(c, c.Metadata, c.AppVersion, c.Description); err != nil {
		return fmt.Errorf("render the index entry of %s %s again: %w", c.Repository, c.Version, err)
	}
	return nil
}

// storedChart loads the Chart.yaml of a stored chart version's archive.
func (r *Registry) storedChart(ctx context.Context, c *meta.ChartVersion) (*chart.Metadata, error) {
	rc, err := r.blobs.Open(ctx, c.ChartDigest, 0)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return r.loadChart(ctx, rc, "")
}
