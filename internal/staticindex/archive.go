package staticindex

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/safeyaml"
)

// aliasRE is Helm's rule for dependency aliases (pkg/chart aliasNameFormat).
var aliasRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// readMetadata returns the metadata of the chart archive in data as Helm v3.22.0's loader
// leaves it for `helm repo index`: Chart.yaml with requirements.yaml merged in, apiVersion
// defaulted to v1, sanitized and validated with Helm's rules.
//
// The archive gets every check chart.LoadArchive makes of an archive's streams and entries
// (chart.ArchiveWalker: no absolute, parent, drive-letter or unclean paths, one top-level
// directory, regular files only, each path once, decompressed size and entry limits), and a
// lock file that does not parse is refused, as Helm refuses it. Only Chart.yaml,
// requirements.yaml and the lock files are kept: values.yaml, templates and subcharts are
// read past, since no index field comes from them. Helm refuses an archive whose values.yaml
// or subcharts fail to load; this reader indexes it.
//
// w is reused from one archive to the next (one per worker): it keeps its decompressor.
func readMetadata(data []byte, lim chart.Limits, w *chart.ArchiveWalker) (*chart.Metadata, error) {
	_, files, err := w.Walk(bytes.NewReader(data), lim, entryFile)
	if err != nil {
		return nil, err
	}
	var chartYAML, requirements []byte
	for _, f := range files {
		switch f.Name {
		case chart.ChartfileName:
			chartYAML = f.Data
		case chart.RequirementsName:
			requirements = f.Data
		case chart.LockfileName, chart.RequirementsLockName:
			var l chart.Lock
			if err := safeyaml.Unmarshal(f.Data, &l); err != nil {
				return nil, fmt.Errorf("%s: %s", f.Name, oneLine(err))
			}
		}
	}
	if chartYAML == nil {
		return nil, fmt.Errorf("%s is missing", chart.ChartfileName)
	}
	md := new(chart.Metadata)
	if err := safeyaml.Unmarshal(chartYAML, md); err != nil {
		return nil, fmt.Errorf("%s: %s", chart.ChartfileName, oneLine(err))
	}
	if md.APIVersion == "" {
		md.APIVersion = chart.APIVersionV1
	}
	if requirements != nil {
		if err := safeyaml.Unmarshal(requirements, md); err != nil {
			return nil, fmt.Errorf("requirements.yaml: %s", oneLine(err))
		}
	}
	if err := validate(md); err != nil {
		return nil, err
	}
	return md, nil
}

// entryFile reports whether an archive's file (its path in the chart directory) is one an
// index entry comes from.
func entryFile(rel string) bool {
	switch rel {
	case chart.ChartfileName, chart.RequirementsName, chart.LockfileName, chart.RequirementsLockName:
		return true
	}
	return false
}

// errDuplicateDependency is the one validation problem Helm tolerates in an existing
// index (JFrog repositories strip aliases, helm/helm#12748).
var errDuplicateDependency = errors.New("more than one dependency with name or alias")

// validate sanitizes md and checks it with Helm v3.22.0's Metadata.Validate rules, which are
// looser than chart.Metadata.Validate (e.g. "1.2" and "v1.2.3" are versions there).
func validate(md *chart.Metadata) error {
	md.Sanitize()
	switch {
	case md.APIVersion == "":
		return fmt.Errorf("%s: apiVersion is required", chart.ChartfileName)
	case md.Name == "":
		return fmt.Errorf("%s: name is required", chart.ChartfileName)
	case md.Name == "." || md.Name == "..":
		return fmt.Errorf("%s: name %q is not allowed", chart.ChartfileName, md.Name)
	case md.Name != filepath.Base(md.Name):
		return fmt.Errorf("%s: name %q is invalid", chart.ChartfileName, md.Name)
	case md.Version == "":
		return fmt.Errorf("%s: version is required", chart.ChartfileName)
	}
	if _, err := semver.NewVersion(md.Version); err != nil {
		return fmt.Errorf("%s: version %q is not a SemVer version", chart.ChartfileName, md.Version)
	}
	switch md.Type {
	case "", chart.TypeApplication, chart.TypeLibrary:
	default:
		return fmt.Errorf("%s: type must be application or library", chart.ChartfileName)
	}
	for _, m := range md.Maintainers {
		if m == nil {
			return fmt.Errorf("%s: maintainers must not contain empty or null nodes", chart.ChartfileName)
		}
	}
	seen := map[string]bool{}
	for _, d := range md.Dependencies {
		if d == nil {
			return fmt.Errorf("%s: dependencies must not contain empty or null nodes", chart.ChartfileName)
		}
		if d.Alias != "" && !aliasRE.MatchString(d.Alias) {
			return fmt.Errorf("%s: dependency %q has disallowed characters in the alias", chart.ChartfileName, d.Name)
		}
		key := d.Name
		if d.Alias != "" {
			key = d.Alias
		}
		if seen[key] {
			return fmt.Errorf("%s: %w %q", chart.ChartfileName, errDuplicateDependency, key)
		}
		seen[key] = true
	}
	return nil
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
