package chart

import (
	"bytes"
	"io"
	"path"
	"strings"
)

// Validated is what [ValidateArchive] keeps of an archive it accepted.
type Validated struct {
	// Root is the archive's top-level directory.
	Root string
	// Metadata is Chart.yaml as [LoadArchive] returns it in [Chart.Metadata]: sanitized,
	// apiVersion defaulted, requirements.yaml dependencies merged in.
	Metadata *Metadata

	chartYAML []byte
}

// ChartYAML returns the top chart's Chart.yaml bytes as stored (a UTF-8 byte order mark
// removed), as [Chart.ChartYAML] does.
func (v *Validated) ChartYAML() []byte { return v.chartYAML }

// ValidateArchive checks a chart archive exactly as [LoadArchive] does (every refusal, with
// the same error), but streaming: it keeps in memory only what the checks need, not the
// chart's files. Each chart's Chart.yaml and requirements.yaml are held until the chart is
// built; values.yaml, Chart.lock and requirements.lock are parsed as they stream by and
// dropped; subchart archives (charts/*.tgz, at any depth) are decompressed and checked as
// they stream out of their parent, never buffered; every other entry is read past, keeping
// only its name. Memory therefore grows with the size of those few files (and the entry
// names), not with the archive's decompressed size.
//
// Use it where an archive is only accepted or refused (publishing); use LoadArchive where
// the files themselves are needed.
func ValidateArchive(r io.Reader, lim Limits) (*Validated, error) {
	c, err := validateArchive(r, newBudget(lim), 0)
	if err != nil {
		return nil, err
	}
	return &Validated{Root: c.Root, Metadata: c.Metadata, chartYAML: c.ChartYAML()}, nil
}

func validateArchive(r io.Reader, b *budget, depth int) (*Chart, error) {
	h := entryHandler{
		keep: func(rel string) bool {
			_, rest, ok := chartLevel(rel)
			return ok && (rest == ChartfileName || rest == RequirementsName)
		},
		consume: func(f *File, size int64, r io.Reader) { consumeEntry(f, size, r, b, depth) },
	}
	var w ArchiveWalker
	root, files, err := w.walk(r, b, h)
	if err != nil {
		return nil, err
	}
	return buildChart(root, files, b, depth, "")
}

// consumeEntry checks, as it streams by, the content of a file that [buildChart] or
// [loadSubcharts] will look at, and records the outcome in f: a chart's values.yaml and
// lock files are parsed, a subchart archive is validated.
func consumeEntry(f *File, size int64, r io.Reader, b *budget, depth int) {
	levels, rest, ok := chartLevel(f.Name)
	if !ok {
		return
	}
	switch rest {
	case ValuesfileName, LockfileName, RequirementsLockName:
		data := make([]byte, size)
		if _, err := io.ReadFull(r, data); err != nil {
			return // the walker reports the broken stream
		}
		data = bytes.TrimPrefix(data, utf8BOM)
		if rest == ValuesfileName {
			f.checked = checkValues(data)
		} else {
			_, f.checked = ParseLock(data)
		}
		return
	}
	cname, isSub := strings.CutPrefix(rest, ChartsDir+"/")
	if !isSub || strings.Contains(cname, "/") || !subchartName(cname) || path.Ext(cname) != ".tgz" {
		return
	}
	// The depth loadSubcharts gives this archive; beyond maxNesting it refuses the
	// archive without reading it, and so does this.
	d := depth + levels + 1
	if d > maxNesting {
		return
	}
	f.sub, f.subErr = validateArchive(r, b, d)
}

// chartLevel splits rel, a path inside a chart, into the number of subchart directories
// (charts/<name>/) it lies in and the path inside the innermost one. ok is false for paths
// inside directories of charts/ that are not loaded as subcharts (names starting with '_'
// or '.', or ending in .tgz).
func chartLevel(rel string) (levels int, rest string, ok bool) {
	rest = rel
	for {
		inner, found := strings.CutPrefix(rest, ChartsDir+"/")
		if !found {
			return levels, rest, true
		}
		dir, below, nested := strings.Cut(inner, "/")
		if !nested {
			return levels, rest, true // a file directly in charts/
		}
		if !subchartName(dir) || path.Ext(dir) == ".tgz" {
			return 0, "", false
		}
		levels++
		rest = below
	}
}

// subchartName reports whether Helm loads charts/<name> as a subchart: it skips names
// starting with '_' or '.'.
func subchartName(name string) bool {
	return name != "" && strings.IndexAny(name, "_.") != 0
}
