package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/repoindex"
)

// The classic chart repository's view of the registry: charts by namespace, name and version
// rather than by repository and digest, and each namespace's index.

// ChartVersion is one published version of a chart, whichever protocol published it.
type ChartVersion struct {
	Repository     string // e.g. team/charts/myapp
	Namespace      string // e.g. team/charts ("" for the root namespace)
	Name           string
	Version        string
	ManifestDigest digest.Digest // the OCI manifest that publishes it
	ChartDigest    digest.Digest // the .tgz archive
	ChartSize      int64
	ProvDigest     digest.Digest // "" without a provenance file
	AppVersion     string
	Description    string
	Created        time.Time
	PushedBy       string
	// Entry is the version's index entry in JSON form, as the index lists it (repoindex: the
	// object without its urls and closing brace). Set by ChartVersion, ChartVersions and
	// LatestChartVersion.
	Entry []byte
	// Prov and Cosign are the status of the version's .prov and of its cosign signatures.
	Prov, Cosign SignatureStatus
	// Quarantined: the namespace accepts only signed charts (policy signed-only) and the
	// version has no valid signature by a key it trusts; readers do not see it.
	Quarantined bool
	// ReleaseFinding is what the namespace's semver discipline (warn) found wrong with the
	// version's bump; "" when nothing.
	ReleaseFinding string
	// Images are the container images the version deploys (see Image), declared first, and
	// ImagesError why rendered ones are missing ("" when none is). Set by ChartVersion and
	// LatestChartVersion (Images then not nil), not by ChartVersions.
	Images      []Image
	ImagesError string
	// UpstreamChanged is, in a proxy namespace, the digest its upstream later listed or served
	// under this version, whose pinned bytes (ChartDigest) keep serving; "" when it never did.
	UpstreamChanged digest.Digest
}

func chartVersionOf(c *meta.ChartVersion) *ChartVersion {
	return &ChartVersion{
		Repository: c.Repository, Namespace: c.Namespace, Name: c.Name, Version: c.Version,
		ManifestDigest: c.ManifestDigest, ChartDigest: c.ChartDigest, ChartSize: c.ChartSize, ProvDigest: c.ProvDigest,
		AppVersion: c.AppVersion, Description: c.Description, Created: c.Created, PushedBy: c.PushedBy,
		Entry: c.IndexJSON,
		Prov:  signatureStatusOf(c.Prov, c.ProvDigest != ""), Cosign: signatureStatusOf(c.Cosign, false),
		Quarantined: c.Quarantined, ReleaseFinding: c.ReleaseFinding, UpstreamChanged: c.UpstreamChanged,
	}
}

// IndexState is where a namespace's charts stand: a counter every publish and delete raises
// (in the same transaction), and when the last one happened.
type IndexState struct {
	// Generation is 0 for a namespace that never had a chart.
	Generation int64
	// Updated is the last change; zero when Generation is 0.
	Updated time.Time
}

// IndexState returns a namespace's state: what an index, its cache and its ETag are built at.
func (r *Registry) IndexState(ctx context.Context, ns string) (IndexState, error) {
	st, err := r.db.NamespaceState(ctx, ns)
	return indexState(st), err
}

func indexState(st meta.Namespace) IndexState {
	if st.Generation == 0 {
		return IndexState{}
	}
	return IndexState{Generation: st.Generation, Updated: st.Updated}
}

// IndexFormat is the form of an index's entries.
type IndexFormat int

// Index entry forms (see internal/repoindex).
const (
	IndexYAML IndexFormat = iota
	IndexJSON
)

// Index is a namespace's chart repository index at one generation.
type Index struct {
	Namespace string
	Format    IndexFormat
	IndexState
	// Entries are the live chart versions' index entries in Format's form, sorted as an index
	// lists them (repoindex.Sort: by name, newest version first). Their URL is empty: where
	// archives download from is the server's to say.
	Entries []repoindex.Entry
}

// Index returns a namespace's index at its current generation, read in one consistent
// snapshot. Given prev, an index of the same namespace and format built earlier, it reads only
// the versions published or deleted since prev's generation and merges them in, so the cost of
// a change follows the change, not the namespace; without one (or when the generation went
// back: a restored database) it reads every live version. prev is not modified.
func (r *Registry) Index(ctx context.Context, ns string, format IndexFormat, prev *Index) (*Index, error) {
	p, err := r.proxyOf(ctx, ns)
	if err != nil {
		return nil, err
	}
	var since int64
	if prev != nil && prev.Namespace == ns && prev.Format == format && p == nil {
		since = prev.Generation
	}
	mf := meta.IndexYAML
	if format == IndexJSON {
		mf = meta.IndexJSON
	}
	rows, st, err := r.db.IndexEntries(ctx, ns, mf, since)
	if err != nil {
		return nil, err
	}
	if since > 0 && st.Generation < since {
		return r.Index(ctx, ns, format, nil)
	}
	var entries []repoindex.Entry
	if since > 0 {
		changed := make(map[[2]string]bool, len(rows))
		for _, e := range rows {
			changed[[2]string{e.Name, e.Version}] = true
		}
		entries = make([]repoindex.Entry, 0, len(prev.Entries)+len(rows))
		for _, e := range prev.Entries {
			if !changed[[2]string{e.Name, e.Version}] {
				entries = append(entries, e)
			}
		}
	} else {
		entries = make([]repoindex.Entry, 0, len(rows))
	}
	for _, e := range rows {
		if e.Deleted {
			continue
		}
		entry := repoindex.Entry{Name: e.Name, Version: e.Version}
		if format == IndexJSON {
			entry.JSON = e.Entry
		} else {
			entry.YAML = e.Entry
		}
		entries = append(entries, entry)
	}
	if p != nil {
		if entries, err = r.proxyEntries(ctx, p, format, entries); err != nil {
			return nil, err
		}
		// The listing may have been refreshed (and the generation raised) meanwhile.
		if st, err = r.db.NamespaceState(ctx, ns); err != nil {
			return nil, err
		}
	}
	repoindex.Sort(entries)
	return &Index{Namespace: ns, Format: format, IndexState: indexState(st), Entries: entries}, nil
}

// ChartVersions lists a chart's live versions in a namespace, newest first (none: an empty
// list), each with its index entry; with name "", those of every chart of the namespace, by
// chart name, each chart's newest first.
func (r *Registry) ChartVersions(ctx context.Context, ns, name string) ([]ChartVersion, error) {
	rows, _, err := r.db.ChartVersions(ctx, ns, name, seesQuarantined(ctx))
	if err != nil {
		return nil, err
	}
	// Keyed by name and version: charts of one namespace share version numbers.
	keys := make([]chart.VersionKey, len(rows))
	idx := make([]int, len(rows))
	for i := range rows {
		keys[i], idx[i] = chart.KeyOf(rows[i].Version), i
	}
	slices.SortFunc(idx, func(a, b int) int {
		if c := strings.Compare(rows[a].Name, rows[b].Name); c != 0 {
			return c
		}
		return keys[b].Compare(keys[a])
	})
	out := make([]ChartVersion, len(rows))
	for i, j := range idx {
		out[i] = *chartVersionOf(&rows[j])
	}
	return out, nil
}

// LatestChartVersion returns a chart's highest live version, stable versions first, as helm
// picks one without --version (--devel aside); ErrChartUnknown when it has none.
func (r *Registry) LatestChartVersion(ctx context.Context, ns, name string) (*ChartVersion, error) {
	versions, err := r.ChartVersions(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	if len(versions) == 0 {
		return nil, fmt.Errorf("%w: %s has no chart %s", ErrChartUnknown, namespaceLabel(ns), name)
	}
	latest := &versions[0]
	for i := range versions {
		if v, err := semver.NewVersion(versions[i].Version); err == nil && v.Prerelease() == "" {
			latest = &versions[i]
			break
		}
	}
	return latest, r.withImages(ctx, latest)
}

// ChartVersion returns one live chart version with its index entry, or ErrChartUnknown.
func (r *Registry) ChartVersion(ctx context.Context, ns, name, version string) (*ChartVersion, error) {
	c, err := r.liveChartVersion(ctx, ns, name, version)
	if err != nil {
		return nil, err
	}
	cv := chartVersionOf(c)
	return cv, r.withImages(ctx, cv)
}

// liveChartVersion is ChartVersion's row.
func (r *Registry) liveChartVersion(ctx context.Context, ns, name, version string) (*meta.ChartVersion, error) {
	c, err := r.db.GetChartVersion(ctx, ns, name, version)
	if errors.Is(err, meta.ErrNotFound) || err == nil && (c.Deleted || c.Quarantined && !seesQuarantined(ctx)) {
		return nil, fmt.Errorf("%w: %s %s in namespace %q", ErrChartUnknown, name, version, ns)
	}
	return c, err
}

// OpenChart opens a live chart version's archive (prov false) or provenance file (prov true).
// In a proxy namespace, a version its upstream lists is fetched at its first pull.
func (r *Registry) OpenChart(ctx context.Context, ns, name, version string, prov bool) (io.ReadCloser, int64, digest.Digest, error) {
	c, err := r.liveChartVersion(ctx, ns, name, version)
	if errors.Is(err, ErrChartUnknown) {
		if fetched, ferr := r.fetchProxied(ctx, ns, name, version); ferr != nil {
			return nil, 0, "", ferr
		} else if fetched != nil {
			c, err = r.liveChartVersion(ctx, ns, name, version)
		}
	}
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
// can be published again only with the same content. Webhooks are told (chart.deleted, with
// actor as who deleted it).
func (r *Registry) DeleteChartVersion(ctx context.Context, ns, name, version, actor string) error {
	if err := r.refuseProxy(ctx, ns, "delete from"); err != nil {
		return err
	}
	c, err := r.liveChartVersion(WithQuarantined(ctx), ns, name, version)
	if err != nil {
		return err
	}
	err = r.db.DeleteManifest(ctx, c.Repository, c.ManifestDigest, r.tagsImmutable(c.Repository), actor)
	if errors.Is(err, meta.ErrNotFound) {
		return fmt.Errorf("%w: %s %s", ErrChartUnknown, name, version)
	}
	return err
}

// namespaceLabel names a namespace in messages.
func namespaceLabel(ns string) string {
	if ns == "" {
		return "the root namespace"
	}
	return "namespace " + ns
}
