package registry

import (
	"context"
	"fmt"
	"strings"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/safeyaml"
)

// ChartFile is one file of a published chart's archive.
type ChartFile struct {
	// Name is the path under the chart's directory, e.g. templates/deployment.yaml.
	Name string
	// Data is the content (a UTF-8 byte order mark removed, as Helm does).
	Data []byte
}

// ChartFiles is what a published chart version's archive holds for those who read its default
// values and templates without downloading it (ChartMuseum's templates and values endpoints).
type ChartFiles struct {
	// Values is values.yaml as stored; nil when the chart has none (non-nil, possibly empty,
	// when it has one).
	Values []byte
	// ValuesMap is values.yaml as Helm's loader parses it (sigs.k8s.io/yaml: numbers are
	// float64, keys strings); nil when the chart has no values.yaml, empty when it is empty.
	ValuesMap map[string]any
	// Templates are the files under the chart's templates/ (not its subcharts'), sorted by
	// name; nil when there are none.
	Templates []ChartFile
}

// ChartFiles reads a live chart version's values.yaml and templates from its stored archive.
// The archive is loaded with chart.LoadArchive's default limits, the ones it was validated
// with at publish, in one of the registry's validation slots (decompression is CPU work, and
// a loaded chart is held in memory until this returns). ErrChartUnknown when the version is
// not published.
func (r *Registry) ChartFiles(ctx context.Context, ns, name, version string) (*ChartFiles, error) {
	rc, _, d, err := r.OpenChart(ctx, ns, name, version, false)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	select {
	case r.validations <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("read %s %s: waiting for a validation slot: %w", name, version, context.Cause(ctx))
	}
	defer func() { <-r.validations }()
	// A stored archive passed these checks when it was published: an error here is the
	// store's (a damaged blob), not the caller's, and is not a registry sentinel.
	c, err := chart.LoadArchive(rc, chart.Limits{})
	if err != nil {
		return nil, fmt.Errorf("read %s %s from its stored archive %s: %w", name, version, d, err)
	}
	out := &ChartFiles{}
	for _, f := range c.Files {
		switch {
		case f.Name == chart.ValuesfileName:
			out.Values = f.Data
			if out.Values == nil {
				out.Values = []byte{}
			}
			out.ValuesMap = map[string]any{}
			if err := safeyaml.Unmarshal(f.Data, &out.ValuesMap); err != nil {
				return nil, fmt.Errorf("read %s %s: parse its stored values.yaml: %w", name, version, err)
			}
		case strings.HasPrefix(f.Name, chart.TemplatesDir+"/"):
			out.Templates = append(out.Templates, ChartFile{Name: f.Name, Data: f.Data})
		}
	}
	return out, nil
}
