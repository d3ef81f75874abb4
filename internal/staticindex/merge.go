package staticindex

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/chartroom/chartroom/internal/safeyaml"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/repoindex"
)

// oldEntry is one entry of an existing index, decoded as Helm's repo.ChartVersion is
// (the deprecated fields are kept because Helm keeps them).
type oldEntry struct {
	*chart.Metadata
	URLs          []string  `json:"urls"`
	Created       time.Time `json:"created,omitempty"`
	Removed       bool      `json:"removed,omitempty"`
	Digest        string    `json:"digest,omitempty"`
	Checksum      string    `json:"checksum,omitempty"`
	Engine        string    `json:"engine,omitempty"`
	TillerVersion string    `json:"tillerVersion,omitempty"`
	URL           string    `json:"url,omitempty"`
}

// keptFields is what of an oldEntry goes to repoindex.Render besides created and digest.
type keptFields struct {
	*chart.Metadata
	Removed       bool   `json:"removed,omitempty"`
	Checksum      string `json:"checksum,omitempty"`
	Engine        string `json:"engine,omitempty"`
	TillerVersion string `json:"tillerVersion,omitempty"`
	URL           string `json:"url,omitempty"`
}

// Merge adds the entries of an existing index (JSON, or YAML with no unknown fields, as
// `helm repo index --merge` reads it) that ix does not have, as Helm's IndexFile.Merge does: a chart version found
// in the directory wins over the existing index's entry for the same name and version
// (Helm: "local charts taking priority over existing charts"); the existing index's other
// entries are kept with their created time, digest and URL. source names the file in
// messages.
//
// Entries Helm's loader would drop (no name, a version that is not SemVer, …) are listed
// in ix.Skipped. An index entry with several URLs keeps only its first one (noted in
// ix.Warnings).
func (ix *Index) Merge(old []byte, source string) error {
	if len(bytes.TrimSpace(old)) == 0 {
		return fmt.Errorf("merge %s: the file is empty: give an index.yaml, or no --merge", source)
	}
	// Helm's IndexFile, so that strict YAML decoding refuses what Helm refuses (a file that
	// is not an index, such as a Chart.yaml, has fields an index does not).
	var f struct {
		ServerInfo  map[string]any         `json:"serverInfo,omitempty"`
		APIVersion  string                 `json:"apiVersion"`
		Generated   time.Time              `json:"generated"`
		Entries     map[string][]*oldEntry `json:"entries"`
		PublicKeys  []string               `json:"publicKeys,omitempty"`
		Annotations map[string]string      `json:"annotations,omitempty"`
	}
	var err error
	if json.Valid(old) {
		err = json.Unmarshal(old, &f)
	} else {
		err = safeyaml.UnmarshalStrict(old, &f)
	}
	if err != nil {
		return fmt.Errorf("merge %s: not a chart repository index: %s", source, oneLine(err))
	}
	if f.APIVersion == "" {
		return fmt.Errorf("merge %s: no apiVersion: not a chart repository index", source)
	}
	names := make([]string, 0, len(f.Entries))
	for name := range f.Entries {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, key := range names {
		for _, cv := range f.Entries[key] {
			if cv == nil {
				ix.Skipped = append(ix.Skipped, Skipped{Path: fmt.Sprintf("%s: %s", source, key), Err: errors.New("empty entry")})
				continue
			}
			if cv.Metadata == nil {
				cv.Metadata = new(chart.Metadata)
			}
			if cv.APIVersion == "" {
				cv.APIVersion = chart.APIVersionV1
			}
			if err := validate(cv.Metadata); err != nil && !errors.Is(err, errDuplicateDependency) {
				ix.Skipped = append(ix.Skipped, Skipped{Path: fmt.Sprintf("%s: %s %s", source, key, cv.Version), Err: err})
				continue
			}
			if ix.versionsOf(cv.Name).has(cv.Version) {
				if a := ix.archived[cv.Name]; a != nil && a.has(cv.Version) {
					ix.Shadowed = append(ix.Shadowed, Shadowed{Name: cv.Name, Version: cv.Version, Digest: cv.Digest})
				}
				continue
			}
			e, err := renderOld(cv, ix.json)
			if err != nil {
				return fmt.Errorf("merge %s: %s %s: %w", source, cv.Name, cv.Version, err)
			}
			if len(cv.URLs) > 1 {
				ix.Warnings = append(ix.Warnings, fmt.Sprintf("%s %s: kept only the first of its %d urls (%s)", cv.Name, cv.Version, len(cv.URLs), cv.URLs[0]))
			}
			ix.Entries = append(ix.Entries, e)
			ix.versionsOf(cv.Name).add(cv.Version)
			ix.Merged++
		}
	}
	repoindex.Sort(ix.Entries)
	return nil
}

// renderOld renders a kept entry (without digest when it had none, as Helm writes it).
func renderOld(cv *oldEntry, asJSON bool) (repoindex.Entry, error) {
	meta, err := json.Marshal(keptFields{Metadata: cv.Metadata, Removed: cv.Removed, Checksum: cv.Checksum,
		Engine: cv.Engine, TillerVersion: cv.TillerVersion, URL: cv.URL})
	if err != nil {
		return repoindex.Entry{}, err
	}
	y, j, err := repoindex.RenderForms(meta, cv.Created, cv.Digest, forms(asJSON))
	if err != nil {
		return repoindex.Entry{}, err
	}
	e := repoindex.Entry{Name: cv.Name, Version: cv.Version, YAML: y, JSON: j, Digest: cv.Digest}
	if len(cv.URLs) > 0 {
		e.URL = cv.URLs[0]
	}
	return e, nil
}

// versionSet answers Helm's IndexFile.Has(name, version) for one chart name: true when a
// version equals it exactly or, read as a SemVer constraint, matches one of the versions.
type versionSet struct {
	exact  map[string]bool
	parsed []*semver.Version
	// canonical holds MAJOR.MINOR.PATCH-PRERELEASE of the parsed versions: for a full
	// version without operators, Masterminds' constraint check is equality ignoring build
	// metadata, so a lookup replaces the scan.
	canonical map[string]bool
}

func newVersionSet() *versionSet {
	return &versionSet{exact: map[string]bool{}, canonical: map[string]bool{}}
}

func (s *versionSet) add(v string) {
	s.exact[v] = true
	if pv, err := semver.NewVersion(v); err == nil {
		s.parsed = append(s.parsed, pv)
		s.canonical[canonical(pv)] = true
	}
}

func canonical(v *semver.Version) string {
	return fmt.Sprintf("%d.%d.%d-%s", v.Major(), v.Minor(), v.Patch(), v.Prerelease())
}

func (s *versionSet) has(v string) bool {
	if len(s.exact) == 0 {
		return false
	}
	c, err := semver.NewConstraint(v)
	if err != nil {
		return false // Helm's Get fails on it before looking for an exact match
	}
	if s.exact[v] {
		return true
	}
	if sv, err := semver.StrictNewVersion(v); err == nil {
		return s.canonical[canonical(sv)]
	}
	return slices.ContainsFunc(s.parsed, c.Check)
}

// SameVersion reports whether two chart versions are one version as Helm's IndexFile.Has
// compares them (and as [Index.Merge] does): an index holding version a has version b when
// they are equal strings, or equal SemVer versions (build metadata ignored), or when a
// matches b read as a SemVer constraint.
func SameVersion(a, b string) bool {
	s := newVersionSet()
	s.add(a)
	return s.has(b)
}
