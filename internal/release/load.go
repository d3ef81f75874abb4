package release

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/chartroom/chartroom/internal/chart"
)

// placeholderVersion stands in for a version that is not strict SemVer
// while loading, so that the rest of the chart can still be compared.
const placeholderVersion = "0.0.0-chartroom.invalid"

// LoadChartDir loads the chart being released from dir like
// [chart.LoadDir], except that a version that is not strict SemVer ("1.4",
// "v1.4.2") is kept as written instead of refused: [Check] reports it as a
// broken rule next to every other finding.
func LoadChartDir(ctx context.Context, dir string, lim chart.Limits) (*chart.Chart, error) {
	ch, err := chart.LoadDir(ctx, dir, lim)
	if err == nil || !errors.Is(err, chart.ErrInvalidMetadata) {
		return ch, err
	}
	raw, rerr := os.ReadFile(filepath.Join(dir, chart.ChartfileName))
	if rerr != nil {
		return nil, err
	}
	md, perr := chart.ParseMetadata(raw)
	if perr != nil || md.Version == "" {
		return nil, err
	}
	if _, verr := chart.ParseVersion(md.Version); verr == nil {
		return nil, err // the version is fine: something else is wrong
	}
	fixed, serr := chart.SetChartYAMLValue(raw, "version", placeholderVersion)
	if serr != nil {
		return nil, err
	}
	tmp, terr := os.MkdirTemp("", "chartroom-check-")
	if terr != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	root := filepath.Join(tmp, chartDirName(dir))
	if cerr := os.CopyFS(root, os.DirFS(dir)); cerr != nil {
		return nil, fmt.Errorf("%w (and copying the chart to read past its version failed: %v)", err, cerr)
	}
	if werr := os.WriteFile(filepath.Join(root, chart.ChartfileName), fixed, 0o644); werr != nil {
		return nil, err
	}
	ch, lerr := chart.LoadDir(ctx, root, lim)
	if lerr != nil {
		return nil, err // refused for more than its version: report the original error
	}
	ch.Metadata.Version = md.Version
	if f := ch.File(chart.ChartfileName); f != nil {
		f.Data = raw
	}
	return ch, nil
}
