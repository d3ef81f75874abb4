package registry

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/chart"
)

// DeletedChartVersion is a chart version that was deleted: the database keeps its row as a
// tombstone (only the same bytes may come back under its version), and this is what it
// says of it.
type DeletedChartVersion struct {
	Repository, Namespace, Name, Version, AppVersion string
	ChartDigest                                      digest.Digest
	ChartSize                                        int64
	Created                                          time.Time // when it was published
	PushedBy                                         string
	Deleted                                          time.Time // when it was deleted
	// Quarantined: it was quarantined when deleted (listed only WithQuarantined).
	Quarantined bool
}

// DeletedChartVersions returns the deleted versions of chart name in namespace ns (of every
// chart of ns when name is ""), by chart name, then newest version first as ChartVersions
// orders them; quarantined ones only WithQuarantined. The caller checks that whoever asks
// may read ns.
func (r *Registry) DeletedChartVersions(ctx context.Context, ns, name string) ([]DeletedChartVersion, error) {
	rows, err := r.db.DeletedChartVersions(ctx, ns, name, seesQuarantined(ctx), 0)
	if err != nil {
		return nil, err
	}
	out := make([]DeletedChartVersion, len(rows))
	keys := make([]chart.VersionKey, len(rows))
	for i, d := range rows {
		out[i] = DeletedChartVersion{Repository: repositoryOf(ns, d.Name), Namespace: ns, Name: d.Name, Version: d.Version,
			AppVersion: d.AppVersion, ChartDigest: d.ChartDigest, ChartSize: d.ChartSize, Created: d.Created,
			PushedBy: d.PushedBy, Deleted: d.Deleted, Quarantined: d.Quarantined}
		keys[i] = chart.KeyOf(d.Version)
	}
	idx := make([]int, len(out))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		if c := strings.Compare(out[a].Name, out[b].Name); c != 0 {
			return c
		}
		return keys[b].Compare(keys[a])
	})
	sorted := make([]DeletedChartVersion, len(out))
	for i, j := range idx {
		sorted[i] = out[j]
	}
	return sorted, nil
}

func repositoryOf(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}
