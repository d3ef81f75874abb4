package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/singleflight"

	"github.com/chartroom/chartroom/internal/registry"
)

// The lists (namespaces, charts of a namespace, search) are made from a summary per namespace:
// one row per chart with its newest version's metadata, built from the namespace's live
// versions and kept in memory at the namespace's generation (the counter every publish and
// delete raises in its transaction, as the index caches use it). Every list reads the
// generation (one row) and rebuilds only a namespace that changed, so a namespace of 10,000
// versions is read once per change, not once per page, and a replica never shows a list older
// than the last commit it could see.

// chartSummary is a chart of a namespace as the lists show it: its newest version (the
// newest stable one when it has one, as helm picks) and what search looks through.
type chartSummary struct {
	Namespace, Name string
	Version         string // the newest version
	AppVersion      string
	Description     string
	Icon            string
	Keywords        []string
	Maintainers     []string
	Deprecated      bool
	Versions        int       // live versions
	LastPublished   time.Time // the latest publish of any of its versions
	search          string    // lower-cased name, description, keywords, maintainers
}

// versionRow is a version as the versions table shows it (its index entry is not kept: the
// chart page reads the one version it shows).
type versionRow struct {
	Version, AppVersion string
	Created             time.Time
	ChartDigest         digest.Digest
	ChartSize           int64
	HasProv             bool
	PushedBy            string
	Prov, Cosign        registry.SignatureStatus
	Deprecated          bool
	Quarantined         bool
	// UpstreamChanged: in a proxy namespace, the digest the upstream later listed under this
	// pinned version ("" when it never changed).
	UpstreamChanged digest.Digest
	// Deleted is when the version was deleted (zero for a live one): its tombstone, shown
	// greyed, without links.
	Deleted time.Time
	// Previous is the live version before this one (the next row down), which the table
	// offers to compare it with ("" for the oldest, and for deleted versions).
	Previous string
}

// nsSummary is a namespace's charts at one generation.
type nsSummary struct {
	generation int64
	charts     []chartSummary // sorted by name, from the versions readers see
	// versions are every live version of each chart, quarantined ones included (flagged),
	// newest first.
	versions map[string][]versionRow
	// deleted are the tombstones of each chart's deleted versions (Deleted set), quarantined
	// ones included (flagged), newest first.
	deleted map[string][]versionRow
}

type browseCache struct {
	reg    Charts
	mu     sync.Mutex
	byNS   map[string]*nsSummary
	flight singleflight.Group
}

func newBrowseCache(reg Charts) *browseCache {
	return &browseCache{reg: reg, byNS: map[string]*nsSummary{}}
}

// summary returns namespace ns's charts at generation gen (read by the caller), building
// them when the cached ones are of another generation.
func (b *browseCache) summary(ctx context.Context, ns string, gen int64) (*nsSummary, error) {
	b.mu.Lock()
	s := b.byNS[ns]
	b.mu.Unlock()
	if s != nil && s.generation == gen {
		return s, nil
	}
	v, err, _ := b.flight.Do(ns, func() (any, error) {
		st, err := b.reg.IndexState(ctx, ns)
		if err != nil {
			return nil, err
		}
		versions, err := b.reg.ChartVersions(registry.WithQuarantined(ctx), ns, "")
		if err != nil {
			return nil, err
		}
		deleted, err := b.reg.DeletedChartVersions(registry.WithQuarantined(ctx), ns, "")
		if err != nil {
			return nil, err
		}
		s := summarize(ns, versions)
		s.deleted = map[string][]versionRow{}
		for _, d := range deleted {
			s.deleted[d.Name] = append(s.deleted[d.Name], versionRow{Version: d.Version, AppVersion: d.AppVersion, Created: d.Created,
				ChartDigest: d.ChartDigest, ChartSize: d.ChartSize, PushedBy: d.PushedBy, Quarantined: d.Quarantined, Deleted: d.Deleted})
		}
		// versions may be newer than st (a publish in between): then the next read
		// rebuilds; it is never older than st, so keeping it at st's generation is safe.
		s.generation = st.Generation
		b.mu.Lock()
		b.byNS[ns] = s
		b.mu.Unlock()
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*nsSummary), nil
}

// forget drops the namespaces not in keep (deleted from the database: a restored backup).
func (b *browseCache) forget(keep map[string]bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ns := range b.byNS {
		if !keep[ns] {
			delete(b.byNS, ns)
		}
	}
}

// entryMeta is what the lists and the chart page read of a version's index entry.
type entryMeta struct {
	Description string   `json:"description"`
	Icon        string   `json:"icon"`
	Home        string   `json:"home"`
	Sources     []string `json:"sources"`
	Keywords    []string `json:"keywords"`
	Maintainers []struct {
		Name  string `json:"name"`
		Email string `json:"email"`
		URL   string `json:"url"`
	} `json:"maintainers"`
	Deprecated   bool   `json:"deprecated"`
	KubeVersion  string `json:"kubeVersion"`
	Type         string `json:"type"`
	License      string `json:"license"`
	Dependencies []struct {
		Name       string `json:"name"`
		Version    string `json:"version"`
		Repository string `json:"repository"`
		Alias      string `json:"alias"`
		Condition  string `json:"condition"`
	} `json:"dependencies"`
	Annotations map[string]string `json:"annotations"`
}

// parseEntry reads a version's index entry (JSON lacking its closing brace, see
// registry.ChartVersion.Entry).
func parseEntry(entry []byte) entryMeta {
	var m entryMeta
	e := bytes.TrimRight(entry, " \t\r\n,")
	if len(e) == 0 {
		return m
	}
	_ = json.Unmarshal(append(e[:len(e):len(e)], '}'), &m)
	return m
}

// deprecated reads an index entry's deprecated flag without parsing the rest of it.
func deprecated(entry []byte) bool {
	if !bytes.Contains(entry, []byte(`"deprecated"`)) {
		return false
	}
	return parseEntry(entry).Deprecated
}

// summarize makes a namespace's summary from its live versions (newest first, as
// registry.ChartVersions returns them).
func summarize(ns string, versions []registry.ChartVersion) *nsSummary {
	type acc struct {
		newest, stable *registry.ChartVersion
		n              int
		last           time.Time
	}
	byName := map[string]*acc{}
	rows := map[string][]versionRow{}
	for i := range versions {
		v := &versions[i]
		rows[v.Name] = append(rows[v.Name], versionRow{Version: v.Version, AppVersion: v.AppVersion, Created: v.Created,
			ChartDigest: v.ChartDigest, ChartSize: v.ChartSize, HasProv: v.ProvDigest != "", PushedBy: v.PushedBy,
			Prov: v.Prov, Cosign: v.Cosign, Deprecated: deprecated(v.Entry), Quarantined: v.Quarantined, UpstreamChanged: v.UpstreamChanged})
		if v.Quarantined {
			continue
		}
		a := byName[v.Name]
		if a == nil {
			a = &acc{newest: v}
			byName[v.Name] = a
		}
		a.n++
		if v.Created.After(a.last) {
			a.last = v.Created
		}
		if a.stable == nil {
			if sv, err := semver.NewVersion(v.Version); err == nil && sv.Prerelease() == "" {
				a.stable = v
			}
		}
	}
	s := &nsSummary{charts: make([]chartSummary, 0, len(byName)), versions: rows}
	for name, a := range byName {
		v := a.stable
		if v == nil {
			v = a.newest
		}
		m := parseEntry(v.Entry)
		c := chartSummary{Namespace: ns, Name: name, Version: v.Version, AppVersion: v.AppVersion, Description: v.Description,
			Icon: m.Icon, Keywords: m.Keywords, Deprecated: m.Deprecated, Versions: a.n, LastPublished: a.last}
		for _, mt := range m.Maintainers {
			c.Maintainers = append(c.Maintainers, mt.Name)
		}
		c.search = strings.ToLower(strings.Join([]string{name, c.Description, strings.Join(c.Keywords, " "), strings.Join(c.Maintainers, " ")}, "\x00"))
		s.charts = append(s.charts, c)
	}
	sort.Slice(s.charts, func(i, j int) bool { return s.charts[i].Name < s.charts[j].Name })
	return s
}

// visibleNamespace is a namespace the visitor may read, with its charts.
type visibleNamespace struct {
	Name          string
	Charts        []chartSummary
	LastPublished time.Time
}

// visible returns the namespaces the visitor may read that have live charts, with their
// summaries.
func (u *UI) visible(q *Request) ([]visibleNamespace, error) {
	ctx := q.R.Context()
	all, err := u.reg.Namespaces(ctx)
	if err != nil {
		return nil, err
	}
	keep := make(map[string]bool, len(all))
	var out []visibleNamespace
	for _, n := range all {
		keep[n.Name] = true
		if n.Generation == 0 || !q.canRead(u, n.Name) {
			continue
		}
		s, err := u.browse.summary(ctx, n.Name, n.Generation)
		if err != nil {
			return nil, err
		}
		if len(s.charts) == 0 {
			continue
		}
		vn := visibleNamespace{Name: n.Name, Charts: s.charts}
		for _, c := range s.charts {
			if c.LastPublished.After(vn.LastPublished) {
				vn.LastPublished = c.LastPublished
			}
		}
		out = append(out, vn)
	}
	u.browse.forget(keep)
	return out, nil
}
