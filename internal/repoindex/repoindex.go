// Package repoindex writes Helm chart repository indexes (index.yaml and its JSON form)
// the way helm reads them, fast enough for namespaces with tens of thousands of versions.
//
// The expensive part, turning one version's Chart.yaml metadata into an index entry, is done
// once per version (Render), when it is published; writing an index is then a sort and a
// concatenation of ready-made entries (Write), linear in bytes, with no YAML encoding.
package repoindex

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/chartroom/chartroom/internal/chart"
)

// Entry is one chart version, rendered: its index entry in both formats, without urls.
type Entry struct {
	Name    string
	Version string
	// YAML is the entry as a YAML list item, indented for its place under entries.<name>,
	// ending in a newline and lacking only the urls key.
	YAML []byte
	// JSON is the entry as a JSON object lacking its closing brace and the urls key.
	JSON []byte
	// URL is where the archive downloads from (relative to the index, or absolute).
	URL string
	// Digest is the archive's hex sha256, where known: it orders entries of one name and
	// version (a static repository may hold the same chart version twice).
	Digest string

	key   chart.VersionKey // Version parsed by Sort, kept so that sorting again is cheap
	keyed bool
}

// Forms selects the rendered forms of an entry.
type Forms uint8

// Entry forms.
const (
	YAMLForm Forms = 1 << iota
	JSONForm
	BothForms = YAMLForm | JSONForm
)

// Render builds an Entry from a chart's metadata (Chart.yaml as JSON, as helm's OCI config
// holds it), its creation time and the hex sha256 of its archive: the fields helm's
// `helm repo index` writes (the metadata plus created and digest), in both forms.
func Render(metadata []byte, created time.Time, digestHex string) (yamlEntry, jsonEntry []byte, err error) {
	return RenderForms(metadata, created, digestHex, BothForms)
}

// RenderForms is Render for the forms asked for only; the others are nil.
func RenderForms(metadata []byte, created time.Time, digestHex string, forms Forms) (yamlEntry, jsonEntry []byte, err error) {
	var fields map[string]any
	dec := json.NewDecoder(bytes.NewReader(metadata))
	dec.UseNumber()
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return nil, nil, fmt.Errorf("index entry: chart metadata is not a JSON object: %v", err)
	}
	delete(fields, "urls")
	fields["created"] = created.UTC().Format(time.RFC3339Nano)
	fields["digest"] = digestHex
	if forms&JSONForm != 0 {
		obj, err := json.Marshal(fields) // sorted keys, as helm writes them
		if err != nil {
			return nil, nil, err
		}
		jsonEntry = escapeJSONForYAML(obj[:len(obj)-1])
	}
	if forms&YAMLForm != 0 {
		var y bytes.Buffer
		if err := toYAML(&y, fields, 0); err != nil {
			return nil, nil, err
		}
		var b bytes.Buffer
		b.Grow(y.Len() + 256)
		for i, line := range bytes.SplitAfter(y.Bytes(), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			if i == 0 {
				b.WriteString("  - ")
			} else {
				b.WriteString("    ")
			}
			b.Write(line)
		}
		yamlEntry = b.Bytes()
	}
	return yamlEntry, jsonEntry, nil
}

// Sort orders entries as helm does: by chart name, then newest version first, in the one
// total order of chart versions (chart.VersionKey.Compare: SemVer precedence, then build
// metadata; versions that do not parse last), then by digest. Entries that differ only in
// build metadata therefore come out in one order whatever order they went in, so an index
// brought up to date incrementally has the bytes of one built from scratch. Each entry's
// version is parsed once and remembered, so re-sorting entries after a change costs little.
func Sort(entries []Entry) {
	for i := range entries {
		if e := &entries[i]; !e.keyed {
			e.key, e.keyed = chart.KeyOf(e.Version), true
		}
	}
	slices.SortStableFunc(entries, func(a, b Entry) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		if c := b.key.Compare(a.key); c != 0 {
			return c
		}
		return strings.Compare(a.Digest, b.Digest)
	})
}

// WriteYAML writes index.yaml from sorted entries. generated is the index's generation time.
func WriteYAML(w io.Writer, entries []Entry, generated time.Time) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString("apiVersion: v1\n")
	if len(entries) == 0 {
		bw.WriteString("entries: {}\n")
	} else {
		bw.WriteString("entries:\n")
	}
	for i := range entries {
		e := &entries[i]
		if i == 0 || entries[i-1].Name != e.Name {
			bw.WriteString("  ")
			bw.WriteString(yamlKey(e.Name))
			bw.WriteString(":\n")
		}
		bw.Write(e.YAML)
		bw.WriteString("    urls:\n    - ")
		bw.WriteString(strconv.Quote(e.URL))
		bw.WriteString("\n")
	}
	bw.WriteString("generated: \"")
	bw.WriteString(generated.UTC().Format(time.RFC3339Nano))
	bw.WriteString("\"\n")
	return bw.Flush()
}

// WriteJSON writes the index in JSON form (the same document as index.yaml).
func WriteJSON(w io.Writer, entries []Entry, generated time.Time) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(`{"apiVersion":"v1","entries":{`)
	for i := range entries {
		e := &entries[i]
		first := i == 0 || entries[i-1].Name != e.Name
		if first {
			if i > 0 {
				bw.WriteString("]")
				bw.WriteString(",")
			}
			name, _ := json.Marshal(e.Name)
			bw.Write(name)
			bw.WriteString(":[")
		} else {
			bw.WriteString(",")
		}
		bw.Write(e.JSON)
		url, _ := json.Marshal(e.URL)
		bw.WriteString(`,"urls":[`)
		bw.Write(url)
		bw.WriteString("]}")
	}
	if len(entries) > 0 {
		bw.WriteString("]")
	}
	bw.WriteString(`},"generated":`)
	gen, _ := json.Marshal(generated.UTC().Format(time.RFC3339Nano))
	bw.Write(gen)
	bw.WriteString("}\n")
	return bw.Flush()
}

// yamlKey quotes a chart name when YAML would read it as something other than a string.
func yamlKey(name string) string {
	b, err := yaml.Marshal(map[string]int{name: 0})
	if err != nil {
		return strconv.Quote(name)
	}
	return string(bytes.TrimSuffix(b, []byte(": 0\n")))
}
