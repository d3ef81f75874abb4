package chart

import (
	"bytes"
	"maps"
	"slices"
	"strings"
	"unicode"

	"sigs.k8s.io/yaml"

	"github.com/chartroom/chartroom/internal/safeyaml"
)

// API versions of Chart.yaml. A Chart.yaml without apiVersion is read as
// [APIVersionV1], as Helm does.
const (
	APIVersionV1 = "v1"
	APIVersionV2 = "v2"
)

// Chart types (Chart.yaml "type"). An empty type means [TypeApplication].
const (
	TypeApplication = "application"
	TypeLibrary     = "library"
)

// Maintainer is one entry of Chart.yaml "maintainers".
// Field names and JSON tags are Helm's (pkg/chart.Maintainer).
type Maintainer struct {
	// Name is a user or organisation name.
	Name string `json:"name,omitempty"`
	// Email is an optional contact address.
	Email string `json:"email,omitempty"`
	// URL is an optional web address.
	URL string `json:"url,omitempty"`
}

// Dependency is one entry of Chart.yaml "dependencies" (or of
// requirements.yaml for apiVersion v1 charts), and of Chart.lock.
// Field order and tags are Helm's (pkg/chart.Dependency): they decide the
// bytes of the Chart.lock digest.
type Dependency struct {
	// Name is the dependency chart's name.
	Name string `json:"name" yaml:"name"`
	// Version is a SemVer constraint in Chart.yaml, an exact version in Chart.lock.
	Version string `json:"version,omitempty" yaml:"version,omitempty"`
	// Repository is the chart repository URL, "oci://…", "file://…",
	// "@name"/"alias:name" (a repository added with `helm repo add`),
	// or empty for a chart that lives in charts/.
	Repository string `json:"repository" yaml:"repository"`
	// Condition is a values path that enables the dependency (e.g. "redis.enabled").
	Condition string `json:"condition,omitempty" yaml:"condition,omitempty"`
	// Tags group dependencies for enabling together.
	Tags []string `json:"tags,omitempty" yaml:"tags,omitempty"`
	// Enabled is set by Helm while rendering; it is kept for fidelity.
	Enabled bool `json:"enabled,omitempty" yaml:"enabled,omitempty"`
	// ImportValues maps child values into the parent: strings or
	// {child, parent} maps, kept as decoded JSON values.
	ImportValues []interface{} `json:"import-values,omitempty" yaml:"import-values,omitempty"`
	// Alias is an alternative name for the dependency.
	Alias string `json:"alias,omitempty" yaml:"alias,omitempty"`
}

// Metadata is the content of Chart.yaml. Fields, order and JSON tags are
// exactly Helm's pkg/chart.Metadata, so that JSON and YAML marshalling
// produce the bytes Helm produces (see [ConfigJSON], [Metadata.HelmYAML]).
type Metadata struct {
	// Name of the chart. Required.
	Name string `json:"name,omitempty"`
	// Home is the URL of the project's home page.
	Home string `json:"home,omitempty"`
	// Sources are URLs of the source code.
	Sources []string `json:"sources,omitempty"`
	// Version is the chart's SemVer 2 version. Required.
	Version string `json:"version,omitempty"`
	// Description is a one-sentence description.
	Description string `json:"description,omitempty"`
	// Keywords are search keywords.
	Keywords []string `json:"keywords,omitempty"`
	// Maintainers are the people responsible for the chart.
	Maintainers []*Maintainer `json:"maintainers,omitempty"`
	// Icon is the URL of an SVG or PNG icon.
	Icon string `json:"icon,omitempty"`
	// APIVersion is "v2" (Helm 3) or "v1" (Helm 2, the default when empty).
	APIVersion string `json:"apiVersion,omitempty"`
	// Condition is a values path that enables the chart (legacy).
	Condition string `json:"condition,omitempty"`
	// Tags is a comma-separated list of tags (legacy).
	Tags string `json:"tags,omitempty"`
	// AppVersion is the version of the packaged application; free-form.
	AppVersion string `json:"appVersion,omitempty"`
	// Deprecated marks the chart as deprecated.
	Deprecated bool `json:"deprecated,omitempty"`
	// Annotations are free key/value pairs not interpreted by Helm.
	Annotations map[string]string `json:"annotations,omitempty"`
	// KubeVersion is a SemVer constraint on the Kubernetes version.
	KubeVersion string `json:"kubeVersion,omitempty"`
	// Dependencies are the charts this chart depends on.
	Dependencies []*Dependency `json:"dependencies,omitempty"`
	// Type is "application" (default) or "library".
	Type string `json:"type,omitempty"`
}

// utf8BOM is stripped from every file Helm reads.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// ParseMetadata parses Chart.yaml bytes with Helm's YAML semantics
// (sigs.k8s.io/yaml: YAML 1.1 scalars, unknown fields ignored). It does not
// validate nor default apiVersion; see [Metadata.Validate].
//
// Errors name the line: "Chart.yaml:7: …". Unlike Helm, a version or
// appVersion written as a YAML number (version: 1.0, which Helm silently
// reads as "1") is refused with a hint to quote it; `helm lint` reports the
// same as an error.
func ParseMetadata(data []byte) (*Metadata, error) {
	data = bytes.TrimPrefix(data, utf8BOM)
	root, err := parseNode(data)
	if err != nil {
		return nil, yamlError("Chart.yaml", err, nil)
	}
	if err := requireStringScalars("Chart.yaml", root, "version", "appVersion"); err != nil {
		return nil, err
	}
	md := new(Metadata)
	if err := safeyaml.Unmarshal(data, md); err != nil {
		return nil, yamlError("Chart.yaml", err, root)
	}
	return md, nil
}

// HelmYAML returns the YAML Helm writes for md (sigs.k8s.io/yaml, keys
// sorted): the body of a .prov file, and Chart.yaml as `helm package`
// rewrites it. md is sanitized and defaulted on a copy first, as Helm's
// loader does.
func (md *Metadata) HelmYAML() ([]byte, error) {
	return yaml.Marshal(md.normalized())
}

// Sanitize normalises whitespace to plain spaces and removes non-printable
// characters in free-text fields, exactly as Helm's Metadata.Validate does
// in place when loading a chart.
func (md *Metadata) Sanitize() {
	md.Name = sanitizeString(md.Name)
	md.Description = sanitizeString(md.Description)
	md.Home = sanitizeString(md.Home)
	md.Icon = sanitizeString(md.Icon)
	md.Condition = sanitizeString(md.Condition)
	md.Tags = sanitizeString(md.Tags)
	md.AppVersion = sanitizeString(md.AppVersion)
	md.KubeVersion = sanitizeString(md.KubeVersion)
	for i := range md.Sources {
		md.Sources[i] = sanitizeString(md.Sources[i])
	}
	for i := range md.Keywords {
		md.Keywords[i] = sanitizeString(md.Keywords[i])
	}
	for _, m := range md.Maintainers {
		if m != nil {
			m.Name = sanitizeString(m.Name)
			m.Email = sanitizeString(m.Email)
			m.URL = sanitizeString(m.URL)
		}
	}
	for _, d := range md.Dependencies {
		if d != nil {
			d.sanitize()
		}
	}
}

func (d *Dependency) sanitize() {
	d.Name = sanitizeString(d.Name)
	d.Version = sanitizeString(d.Version)
	d.Repository = sanitizeString(d.Repository)
	d.Condition = sanitizeString(d.Condition)
	for i := range d.Tags {
		d.Tags[i] = sanitizeString(d.Tags[i])
	}
}

// Clone returns a deep copy of md (ImportValues entries are shared: they
// are never modified by this package).
func (md *Metadata) Clone() *Metadata {
	if md == nil {
		return nil
	}
	c := *md
	c.Sources = slices.Clone(md.Sources)
	c.Keywords = slices.Clone(md.Keywords)
	if md.Maintainers != nil {
		c.Maintainers = make([]*Maintainer, len(md.Maintainers))
		for i, m := range md.Maintainers {
			if m != nil {
				mm := *m
				c.Maintainers[i] = &mm
			}
		}
	}
	c.Annotations = maps.Clone(md.Annotations)
	c.Dependencies = cloneDeps(md.Dependencies)
	return &c
}

func cloneDeps(deps []*Dependency) []*Dependency {
	if deps == nil {
		return nil
	}
	out := make([]*Dependency, len(deps))
	for i, d := range deps {
		if d != nil {
			dd := *d
			dd.Tags = slices.Clone(d.Tags)
			dd.ImportValues = slices.Clone(d.ImportValues)
			out[i] = &dd
		}
	}
	return out
}

// normalized returns a sanitized copy with apiVersion defaulted to v1, the
// state Helm's loader leaves metadata in.
func (md *Metadata) normalized() *Metadata {
	c := md.Clone()
	if c == nil {
		c = new(Metadata)
	}
	c.Sanitize()
	if c.APIVersion == "" {
		c.APIVersion = APIVersionV1
	}
	return c
}

// ArchiveName is the file name Helm gives the packaged chart:
// "<name>-<version>.tgz".
func (md *Metadata) ArchiveName() string { return ArchiveName(md.Name, md.Version) }

// sanitizeString is Helm's: whitespace becomes ' ', non-printables go.
func sanitizeString(str string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, str)
}
