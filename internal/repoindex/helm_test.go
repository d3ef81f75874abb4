package repoindex

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	helmchart "helm.sh/helm/v3/pkg/chart"
	helmrepo "helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"
)

// trickyScalars are Chart.yaml values whose YAML form is not obvious: strings YAML would
// read as numbers, booleans, null, dates or sexagesimal numbers if written plain, indicators,
// quotes, line breaks of every kind, characters YAML forbids or escapes, and text long enough
// to be folded at 80 columns.
var trickyScalars = []string{
	"", " ", "1.10", "1.0", "1", "010", "0x1F", "0o17", "0b101", "-0b101", "1_000", "1e3", ".5", "+1", "-1",
	".inf", "-.inf", "+.INF", ".nan", "true", "True", "yes", "No", "on", "OFF", "y", "n", "~", "null", "Null",
	"2024-01-02", "2024-1-2", "2024-01-02T03:04:05Z", "2024-01-02 03:04:05", "12:30", "1:20:30", "1:20:30.5", "190:20:30",
	"<<", "=", "a: b", "a:b", "a:", "#x", "a #b", "a# b", "- x", "-x", "-", "--- x", "...", "? x", "?x", ": x",
	"@x", "`x", "!x", "*x", "&x", "|", ">", "%x", "{a}", "[a]", "a,b", "a[b]", "'q'", `"dq"`, "quote's",
	`it's "both"`, `back\slash`, "tab\there", "cr\rhere", "nel\u0085here", "ls\u2028here", "ps\u2029",
	"\ufeffbom first", "bom\ufeffinside", "del\x7f", "ctrl\x01", "nul\x00", "esc\x1b", "bell\a", "nbsp\u00a0x",
	"ünïcödé", "emoji 🚀", "\U0001F680", "\ufffe", "\ufffd",
	"multi\nline", "multi\nline\n", "multi\nline\n\n", "\nleading break", " leading space\nx", "trailing space \nx",
	"x\n ", "x\n\ty", "a\n\nb", "\n", "\n\n", "line\r\nwindows", " lead", "trail ", "two  spaces",
	"artifacthub.io/changes", "https://example.com/a?b=c&d#e", "a/b@c+d-e", "x=y", "plain text",
	strings.Repeat("word ", 30) + "end",
	strings.Repeat("x", 100) + " " + strings.Repeat("y", 100),
	"# " + strings.Repeat("commentish ", 12),
	strings.Repeat("tab\tand words ", 8),
	strings.Repeat("spaces  doubled ", 8),
	"- kind: added\n  description: " + strings.Repeat("a long line of a changelog ", 5) + "\n- kind: fixed\n  description: x\n",
}

// A chart version with trickyScalars in every kind of field, as helm's repo.IndexFile holds it.
func trickyMetadata(name, version string, values []string) *helmchart.Metadata {
	md := &helmchart.Metadata{
		APIVersion: "v2", Name: name, Version: version, Type: "application", Deprecated: true,
		Annotations: map[string]string{},
	}
	for i, s := range values {
		if len(values) == 1 {
			// As a key too. Not for many values together: go-yaml's key order is not
			// transitive for some sets of keys ("010" < "19" < "1a" < "010"), and helm's
			// order of those depends on Go's random map order.
			md.Annotations[s] = s
		}
		md.Annotations[fmt.Sprintf("k%03d", i)] = s
		md.Keywords = append(md.Keywords, s)
		md.Maintainers = append(md.Maintainers, &helmchart.Maintainer{Name: s, Email: s, URL: s})
		md.Dependencies = append(md.Dependencies, &helmchart.Dependency{
			Name: s, Version: s, Repository: s, Condition: s, Tags: []string{s}, Alias: s, Enabled: i%2 == 0,
			ImportValues: []interface{}{s, map[string]interface{}{"child": s, "parent": s}},
		})
	}
	if len(values) > 0 {
		md.Description, md.AppVersion, md.Home, md.Icon, md.KubeVersion = values[0], values[0], values[0], values[0], values[0]
		md.Sources = values
	}
	return md
}

// helmIndex is index.yaml as helm repo index writes it (repo.IndexFile.WriteFile: sigs.k8s.io
// yaml.Marshal of the IndexFile), and the same index written by chartroom from entries
// rendered from each version's metadata.
// helmErr is set when helm cannot write the index at all: go-yaml v2 refuses to read back
// the JSON of a string holding DEL, a C1 control, U+FFFE or U+FFFF, which encoding/json
// leaves raw (chartroom escapes them, see TestRenderEscapesCharactersYAMLForbids).
func helmIndex(t testing.TB, mds []*helmchart.Metadata, url func(*helmchart.Metadata) string) (helm, chartroom []byte, helmErr error) {
	t.Helper()
	created := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	generated := time.Date(2026, 2, 3, 4, 5, 6, 7, time.UTC)
	idx := helmrepo.NewIndexFile()
	idx.Generated = generated
	var entries []Entry
	for _, md := range mds {
		digest := fmt.Sprintf("%064x", len(entries))
		idx.Entries[md.Name] = append(idx.Entries[md.Name], &helmrepo.ChartVersion{Metadata: md, URLs: []string{url(md)}, Created: created, Digest: digest})
		meta, err := json.Marshal(md)
		if err != nil {
			t.Fatal(err)
		}
		y, _, err := RenderForms(meta, created, digest, YAMLForm)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, Entry{Name: md.Name, Version: md.Version, YAML: y, URL: url(md), Digest: digest})
	}
	idx.SortEntries()
	want, err := yaml.Marshal(idx)
	if err != nil {
		return nil, nil, err
	}
	Sort(entries)
	var got bytes.Buffer
	if err := WriteYAML(&got, entries, generated); err != nil {
		t.Fatal(err)
	}
	return want, got.Bytes(), nil
}

// Every entry's bytes, and the index's, are those helm repo index writes: the same scalar
// forms (plain, 'single', "double" with the same escapes, |literal with the same chomping
// and indentation indicators), the same folding of long lines, the same key order (go-yaml's,
// which sorts digits by value and letters after other characters), urls before version.
func TestIndexYAMLIsHelms(t *testing.T) {
	url := func(md *helmchart.Metadata) string {
		return "https://charts.example.com/" + md.Name + "-" + md.Version + ".tgz"
	}
	var writable []string
	t.Run("each value alone", func(t *testing.T) {
		for _, s := range trickyScalars {
			want, got, helmErr := helmIndex(t, []*helmchart.Metadata{trickyMetadata("myapp", "1.0.0", []string{s})}, url)
			if helmErr != nil {
				t.Logf("%q: helm cannot write an index holding it: %v", s, helmErr)
				continue
			}
			writable = append(writable, s)
			if !bytes.Equal(got, want) {
				t.Errorf("%q:", s)
				diffIndex(t, got, want)
			}
		}
	})
	t.Run("every tricky value in every field", func(t *testing.T) {
		want, got, err := helmIndex(t, []*helmchart.Metadata{trickyMetadata("myapp", "1.0.0", writable)}, url)
		if err != nil {
			t.Fatal(err)
		}
		diffIndex(t, got, want)
	})
	t.Run("chart names, versions and URLs", func(t *testing.T) {
		var mds []*helmchart.Metadata
		for _, name := range []string{"app10", "app9", "app_b", "appB", "app-b", "app.b", "App", "a01", "a1", "true", "1.0", "x"} {
			for _, v := range []string{"1.10.0", "1.9.0", "2.0.0-rc.1", "1.0.0+build.7"} {
				mds = append(mds, trickyMetadata(name, v, nil))
			}
		}
		mds = append(mds, trickyMetadata(strings.Repeat("long", 40), "1.0.0", nil))
		long := func(md *helmchart.Metadata) string {
			if md.Name == "x" {
				return "https://charts.example.com/a path with spaces/" + strings.Repeat("segment ", 12) + md.Version + ".tgz"
			}
			return url(md)
		}
		want, got, err := helmIndex(t, mds, long)
		if err != nil {
			t.Fatal(err)
		}
		diffIndex(t, got, want)
	})
	t.Run("no description, no annotations", func(t *testing.T) {
		md := &helmchart.Metadata{APIVersion: "v1", Name: "bare", Version: "0.1.0"}
		want, got, err := helmIndex(t, []*helmchart.Metadata{md}, url)
		if err != nil {
			t.Fatal(err)
		}
		diffIndex(t, got, want)
	})
}

// FuzzIndexYAMLIsHelms: any string, as a description, annotation key and value, keyword and
// dependency field, comes out as helm writes it.
func FuzzIndexYAMLIsHelms(f *testing.F) {
	for _, s := range trickyScalars {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utfValid(s) {
			return // Chart.yaml, and so the metadata, is UTF-8
		}
		want, got, helmErr := helmIndex(t, []*helmchart.Metadata{trickyMetadata("myapp", "1.0.0", []string{s})}, func(*helmchart.Metadata) string { return "u" })
		if helmErr == nil && !bytes.Equal(got, want) {
			t.Fatalf("%q:\n%s\nhelm writes\n%s", s, got, want)
		}
	})
}

func utfValid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// diffIndex reports the first line where chartroom's index differs from helm's.
func diffIndex(t *testing.T, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			from := max(0, i-3)
			t.Errorf("line %d differs:\nchartroom: %q\nhelm:      %q\ncontext (helm):\n%s", i+1, gl, wl, strings.Join(w[from:min(len(w), i+3)], "\n"))
			return
		}
	}
}
