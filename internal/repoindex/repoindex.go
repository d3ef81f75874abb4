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
	"strings"
	"time"

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
	rank  int // the position of Name among the names Sort was given
	// urlsAt is where WriteYAML puts the urls key in YAML (0: not found yet).
	urlsAt int
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
// `helm repo index` writes (the metadata plus created and digest), in both forms. An empty
// digestHex leaves digest out, as helm does for an index entry that has none.
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
	if digestHex != "" {
		fields["digest"] = digestHex // omitted when empty, as helm's ChartVersion does
	}
	if forms&JSONForm != 0 {
		obj, err := json.Marshal(fields) // sorted keys, as helm writes them
		if err != nil {
			return nil, nil, err
		}
		jsonEntry = escapeJSONForYAML(obj[:len(obj)-1])
	}
	if forms&YAMLForm != 0 {
		name, _ := fields["name"].(string)
		e := entryEmitter(name, 512)
		if err := e.node(fields, nodeContext{sequence: true}); err != nil {
			return nil, nil, err
		}
		yamlEntry = e.end()
	}
	return yamlEntry, jsonEntry, nil
}

// Sort orders entries as helm does: by chart name (in go-yaml's key order, as index.yaml
// lists them), then newest version first, in the one
// total order of chart versions (chart.VersionKey.Compare: SemVer precedence, then build
// metadata; versions that do not parse last), then by digest. Entries that differ only in
// build metadata therefore come out in one order whatever order they went in, so an index
// brought up to date incrementally has the bytes of one built from scratch. Each entry's
// version is parsed once and remembered, so re-sorting entries after a change costs little.
func Sort(entries []Entry) {
	rank := map[string]int{}
	for i := range entries {
		e := &entries[i]
		if !e.keyed {
			e.key, e.keyed = chart.KeyOf(e.Version), true
		}
		rank[e.Name] = 0
	}
	// Chart names in go-yaml's key order, ranked once: that order is not transitive for
	// every set of names, and ranking the set makes the result independent of the order
	// entries come in.
	names := make([]string, 0, len(rank))
	for name := range rank {
		names = append(names, name)
	}
	sortKeys(names)
	for i, name := range names {
		rank[name] = i
	}
	last, r := "", 0
	for i := range entries {
		e := &entries[i]
		if i == 0 || e.Name != last {
			last, r = e.Name, rank[e.Name] // entries mostly come grouped by name
		}
		e.rank = r
	}
	slices.SortStableFunc(entries, func(a, b Entry) int {
		if c := a.rank - b.rank; c != 0 {
			return c
		}
		if c := b.key.Compare(a.key); c != 0 {
			return c
		}
		return strings.Compare(a.Digest, b.Digest)
	})
}

// WriteYAML writes index.yaml from sorted entries, as helm repo index writes it: each
// entry's urls go between its keys before "urls" and those after it (version), in go-yaml's
// key order. generated is the index's generation time.
func WriteYAML(w io.Writer, entries []Entry, generated time.Time) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString("apiVersion: v1\n")
	if len(entries) == 0 {
		bw.WriteString("entries: {}\n")
	} else {
		bw.WriteString("entries:\n")
	}
	var scratch emitter
	for i := range entries {
		e := &entries[i]
		entry, keyColumn := e.YAML, 4
		if bytes.HasPrefix(entry, []byte("    -")) {
			keyColumn = 6 // under a name written as an explicit key (entryEmitter)
		}
		if i == 0 || entries[i-1].Name != e.Name {
			k := scratch.reset(2)
			k.key(e.Name)
			if keyColumn == 6 && explicitKey(e.Name) {
				bw.Write(k.buf) // "  ? name\n  :", the first entry follows on the line
				entry = entry[3:]
			} else {
				bw.Write(k.end())
			}
		}
		if e.urlsAt == 0 {
			e.urlsAt = len(e.YAML) - len(entry) + urlsOffset(entry, keyColumn)
		}
		at := e.urlsAt - (len(e.YAML) - len(entry))
		bw.Write(entry[:at])
		if simpleURL(e.URL) {
			// What the emitter writes for it, without the emitter: nearly every URL.
			bw.WriteString(urlsKey[keyColumn/2-2])
			bw.WriteString(e.URL)
			bw.WriteByte('\n')
		} else {
			u := scratch.reset(keyColumn)
			u.urls(e.URL)
			bw.Write(u.end())
		}
		bw.Write(entry[at:])
	}
	bw.WriteString("generated: \"")
	bw.WriteString(generated.UTC().Format(time.RFC3339Nano))
	bw.WriteString("\"\n")
	return bw.Flush()
}

// urlsOffset is where the urls key goes in a rendered entry whose keys are at keyColumn: at
// the start of the first of its keys that go-yaml orders after "urls", found from the end,
// where they are (only version, in entries helm writes); the end when there is none.
func urlsOffset(entry []byte, keyColumn int) int {
	at := len(entry)
	for end := len(entry); end > 0; {
		start := bytes.LastIndexByte(entry[:end-1], '\n') + 1
		line := entry[start:end]
		end = start
		if len(line) <= keyColumn || !isIndent(line[:keyColumn]) || strings.IndexByte(" -?:", line[keyColumn]) >= 0 {
			continue // not one of the entry's keys: nested, continued, a sequence item, a long key
		}
		if key, _, _ := bytes.Cut(line[keyColumn:], []byte(":")); keyBeforeURLs(key) {
			break
		}
		at = start
	}
	return at
}

// urlsKey is the urls key and its sequence's dash at key column 4 and 6.
var urlsKey = [2]string{"    urls:\n    - ", "      urls:\n      - "}

// simpleURL reports whether go-yaml writes u as it is, plain, on one line: a letter first
// and not a word YAML reads as a boolean or null, then no space (nothing to fold at) and only
// characters that mean nothing there, not ending in ':'.
func simpleURL(u string) bool {
	if u == "" || u[len(u)-1] == ':' || u[0]|0x20 < 'a' || u[0]|0x20 > 'z' || resolveWords[u] {
		return false
	}
	for i := 1; i < len(u); i++ {
		c := u[i]
		if c|0x20 >= 'a' && c|0x20 <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("/._~%+=@,;&?!$'()*#:-", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// keyBeforeURLs reports whether go-yaml orders an entry's key before "urls".
func keyBeforeURLs(key []byte) bool {
	for _, c := range key {
		if c|0x20 < 'a' || c|0x20 > 'z' {
			return compareKeys(string(key), "urls") < 0
		}
	}
	return bytes.Compare(key, []byte("urls")) < 0 // letters only: byte order
}

func isIndent(b []byte) bool {
	for _, c := range b {
		if c != ' ' {
			return false
		}
	}
	return true
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
