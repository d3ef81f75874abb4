package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/release"
)

// releaseOrder orders the chart directories so that a chart comes after the given charts it
// depends on (file:// dependencies), keeping the given order otherwise. A directory given
// twice counts once; a cycle is an error.
func releaseOrder(ctx context.Context, dirs []string) ([]string, error) {
	index := map[string]int{} // absolute directory → position in uniq
	var uniq []string
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, err
		}
		if _, ok := index[abs]; ok {
			continue
		}
		index[abs] = len(uniq)
		uniq = append(uniq, d)
	}
	deps := make([][]int, len(uniq))
	for i, d := range uniq {
		if err := checkChartDir("release", d); err != nil {
			return nil, err
		}
		ch, err := release.LoadChartDir(ctx, d, chart.Limits{})
		if err != nil {
			return nil, fmt.Errorf("release %s: %w", d, err)
		}
		abs, _ := filepath.Abs(d)
		for _, dep := range ch.Metadata.Dependencies {
			rel, ok := strings.CutPrefix(dep.Repository, "file://")
			if !ok {
				continue
			}
			if j, ok := index[filepath.Join(abs, filepath.FromSlash(rel))]; ok && j != i {
				deps[i] = append(deps[i], j)
			}
		}
	}
	var out []string
	state := make([]int, len(uniq)) // 0 new, 1 visiting, 2 done
	var visit func(i int, path []string) error
	visit = func(i int, path []string) error {
		switch state[i] {
		case 1:
			return fmt.Errorf("release: the charts depend on each other in a cycle (%s → %s): a chart cannot be released before itself", strings.Join(path, " → "), uniq[i])
		case 2:
			return nil
		}
		state[i] = 1
		for _, j := range deps[i] {
			if err := visit(j, append(path, uniq[i])); err != nil {
				return err
			}
		}
		state[i] = 2
		out = append(out, uniq[i])
		return nil
	}
	for i := range uniq {
		if err := visit(i, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}
