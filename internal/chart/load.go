package chart

import (
	"bytes"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/chartroom/chartroom/internal/safeyaml"
)

// Well-known file names inside a chart.
const (
	ChartfileName        = "Chart.yaml"         // the chart's metadata
	LockfileName         = "Chart.lock"         // resolved dependencies (apiVersion v2)
	ValuesfileName       = "values.yaml"        // default values
	SchemafileName       = "values.schema.json" // JSON Schema of the values
	RequirementsName     = "requirements.yaml"  // dependencies (apiVersion v1)
	RequirementsLockName = "requirements.lock"  // resolved dependencies (apiVersion v1)
	ChartsDir            = "charts"             // subcharts, as directories or .tgz
	TemplatesDir         = "templates"          // templates rendered by Helm
)

// File is one file of a chart.
type File struct {
	// Name is the '/'-separated path relative to the chart's directory.
	Name string
	// Data is the content, with a UTF-8 byte order mark removed (as Helm does).
	Data []byte

	// A validating load ([ValidateArchive]) drops the content of most files; what it
	// checked of one as it streamed by is kept instead.
	dropped bool   // Data is not held
	checked error  // values.yaml, Chart.lock, requirements.lock: the result of parsing it
	sub     *Chart // charts/*.tgz: the subchart, validated as it streamed by
	subErr  error  // charts/*.tgz: why the subchart was refused
}

// Chart is a loaded and validated chart.
type Chart struct {
	// Metadata is Chart.yaml as Helm's loader leaves it: sanitized,
	// apiVersion defaulted to v1, requirements.yaml dependencies merged in.
	Metadata *Metadata
	// Root is the chart's directory name: the archive's top-level
	// directory, or the base name of a loaded directory.
	Root string
	// Path locates a subchart in its parent: "charts/foo" or
	// "charts/foo-1.2.3.tgz"; empty for the top chart.
	Path string
	// Files is every file of the chart, subcharts' files included, sorted
	// by Name (byte order).
	Files []*File
	// Lock is the parsed Chart.lock (or requirements.lock), nil if absent.
	Lock *Lock
	// LockFile names the file Lock came from.
	LockFile string
	// Dependencies are the subcharts found in charts/, sorted by Path.
	// Helm skips entries of charts/ whose name starts with '_' or '.'.
	Dependencies []*Chart
}

// File returns the file with this name, or nil.
func (c *Chart) File(name string) *File {
	i := sort.Search(len(c.Files), func(i int) bool { return c.Files[i].Name >= name })
	if i < len(c.Files) && c.Files[i].Name == name {
		return c.Files[i]
	}
	return nil
}

// ChartYAML returns the Chart.yaml bytes as stored.
func (c *Chart) ChartYAML() []byte { return c.data(ChartfileName) }

// Values returns the values.yaml bytes as stored, nil if absent.
func (c *Chart) Values() []byte { return c.data(ValuesfileName) }

// Schema returns the values.schema.json bytes, nil if absent.
func (c *Chart) Schema() []byte { return c.data(SchemafileName) }

func (c *Chart) data(name string) []byte {
	if f := c.File(name); f != nil {
		return f.Data
	}
	return nil
}

// buildChart interprets the files of one chart the way Helm's
// loader.LoadFiles does and validates the result. at prefixes entry names
// in errors ("" for the top chart).
func buildChart(root string, files []*File, b *budget, depth int, at string) (*Chart, error) {
	slices.SortFunc(files, func(x, y *File) int { return strings.Compare(x.Name, y.Name) })
	c := &Chart{Root: root, Files: files}

	cf := c.File(ChartfileName)
	if cf == nil {
		return nil, archiveErr(at+ChartfileName, "is missing: every chart needs a Chart.yaml at the top of its directory")
	}
	md, err := ParseMetadata(cf.Data)
	if err != nil {
		return nil, &ArchiveError{Entry: entryAt(at, ChartfileName), Err: err}
	}
	if md.APIVersion == "" {
		md.APIVersion = APIVersionV1
	}
	c.Metadata = md

	// Same order as Helm: files sorted, the last lock file wins.
	for _, f := range files {
		switch f.Name {
		case RequirementsName:
			// Helm merges requirements.yaml into the metadata (any apiVersion).
			if err := safeyaml.Unmarshal(f.Data, md); err != nil {
				return nil, &ArchiveError{Entry: entryAt(at, f.Name), Err: yamlError(f.Name, err, nil)}
			}
		case LockfileName, RequirementsLockName:
			if f.dropped {
				if f.checked != nil {
					return nil, &ArchiveError{Entry: entryAt(at, f.Name), Err: f.checked}
				}
				c.Lock, c.LockFile = nil, f.Name
				continue
			}
			lock, err := ParseLock(f.Data)
			if err != nil {
				return nil, &ArchiveError{Entry: entryAt(at, f.Name), Err: err}
			}
			c.Lock, c.LockFile = lock, f.Name
		case ValuesfileName:
			err := f.checked
			if !f.dropped {
				err = checkValues(f.Data)
			}
			if err != nil {
				return nil, &ArchiveError{Entry: entryAt(at, f.Name), Err: err}
			}
		}
	}

	md.Sanitize()
	// Only the top chart's version must be strict SemVer: it names the
	// published artifact. Subcharts get Helm's rule.
	if err := md.validate(depth == 0); err != nil {
		return nil, &ArchiveError{Entry: entryAt(at, ChartfileName), Err: err}
	}

	deps, err := loadSubcharts(files, b, depth, at)
	if err != nil {
		return nil, err
	}
	c.Dependencies = deps
	return c, nil
}

// entryAt names a file of a subchart in errors; files of the top chart
// are named by the error itself ("Chart.yaml:3: …").
func entryAt(at, name string) string {
	if at == "" {
		return ""
	}
	return at + name
}

// checkValues parses values.yaml as Helm does (a mapping, or empty).
func checkValues(data []byte) error {
	var v map[string]interface{}
	if err := safeyaml.Unmarshal(data, &v); err != nil {
		root, perr := parseNode(data)
		if perr != nil {
			return yamlError(ValuesfileName, perr, nil)
		}
		return yamlError(ValuesfileName, err, root)
	}
	return nil
}

// loadSubcharts loads charts/* as Helm does: a directory or a .tgz per
// subchart; .prov files and names starting with '_' or '.' are skipped.
func loadSubcharts(files []*File, b *budget, depth int, at string) ([]*Chart, error) {
	groups := map[string][]*File{}
	var order []string
	for _, f := range files {
		rest, ok := strings.CutPrefix(f.Name, ChartsDir+"/")
		if !ok || path.Ext(f.Name) == ".prov" {
			continue
		}
		cname, _, _ := strings.Cut(rest, "/")
		if strings.IndexAny(cname, "_.") == 0 {
			continue
		}
		if _, ok := groups[cname]; !ok {
			order = append(order, cname)
		}
		groups[cname] = append(groups[cname], f)
	}
	sort.Strings(order)

	var deps []*Chart
	for _, cname := range order {
		group := groups[cname]
		where := at + ChartsDir + "/" + cname
		var sc *Chart
		var err error
		if path.Ext(cname) == ".tgz" {
			if len(group) != 1 || group[0].Name != ChartsDir+"/"+cname {
				return nil, archiveErr(where, "is a directory named like an archive: rename it, or make it a chart archive")
			}
			if depth+1 > maxNesting {
				return nil, archiveErr(where, "nests subchart archives more than %d deep", maxNesting)
			}
			if f := group[0]; f.dropped {
				sc, err = f.sub, f.subErr // validated as it streamed by
				if sc == nil && err == nil {
					return nil, archiveErr(where, "was not read as a subchart archive")
				}
			} else {
				sc, err = loadArchive(bytes.NewReader(f.Data), b, depth+1)
			}
		} else {
			sub := make([]*File, 0, len(group))
			prefix := ChartsDir + "/" + cname + "/"
			for _, f := range group {
				if n, ok := strings.CutPrefix(f.Name, prefix); ok {
					sf := *f
					sf.Name = n
					sub = append(sub, &sf)
				}
			}
			if len(sub) == 0 {
				return nil, archiveErr(where, "is not a chart: charts/ may hold only subchart directories and .tgz archives (Helm refuses anything else); move it, or start its name with '_' or '.'")
			}
			sc, err = buildChart(cname, sub, b, depth+1, where+"/")
		}
		if err != nil {
			return nil, &ArchiveError{Entry: where, Problem: "invalid subchart", Err: err}
		}
		sc.Path = ChartsDir + "/" + cname
		deps = append(deps, sc)
	}
	return deps, nil
}
