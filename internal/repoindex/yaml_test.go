package repoindex

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	yaml3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// tricky are strings YAML would misread if written plain.
var tricky = []string{
	"", " ", "yes", "No", "on", "OFF", "y", "n", "true", "False", "null", "~", "1.0", "1e3", "0x1F", "0o17", ".inf", "-.inf",
	".NaN", "2026-01-02", "12:30", "a: b", "a:b", "#x", "a #b", "- x", "-x", "@x", "`x", "!tag", "*alias", "&anchor",
	"|", ">", "'q'", `"dq"`, "%x", "=", "<<", "{a}", "[a]", "a,b", "?x", "multi\nline", "tab\there", " lead", "trail ",
	"ünïcödé", "emoji 🚀", "back\\slash", "ctrl\x01", "\u2028", "plain text", "artifacthub.io/changes", "x=y", "a/b@c+d-e",
}

func TestRenderYAMLReadsBackAsJSON(t *testing.T) {
	annotations := map[string]any{}
	for i, s := range tricky {
		annotations[s+"key"+string(rune('a'+i%26))] = s
	}
	metadata := map[string]any{
		"apiVersion":  "v2",
		"name":        "myapp",
		"version":     "1.0.0",
		"appVersion":  "1.10",
		"description": strings.Join(tricky, " | "),
		"keywords":    append([]any{}, anySlice(tricky)...),
		"annotations": annotations,
		"maintainers": []any{map[string]any{"name": "yes", "email": "a@b.c", "url": "https://x"}, map[string]any{"name": "n"}},
		"dependencies": []any{map[string]any{
			"name": "dep", "version": "~1.2", "repository": "oci://r/x", "condition": "dep.enabled",
			"tags": []any{"a", "on"}, "import-values": []any{"child", map[string]any{"child": "x", "parent": "y"}},
			"enabled": true,
		}},
		"deprecated": false,
		"empty":      map[string]any{},
		"none":       []any{},
		"nested":     []any{[]any{"a", "b"}, []any{}},
		"number":     json.Number("3"),
		"nil":        nil,
	}
	raw, _ := json.Marshal(metadata)
	y, j, err := Render(raw, time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), "abc")
	if err != nil {
		t.Fatal(err)
	}
	// Undo the list-item indentation to get the entry back as a document.
	var doc strings.Builder
	for i, line := range strings.SplitAfter(string(y), "\n") {
		if line == "" {
			continue
		}
		if i == 0 {
			line = strings.TrimPrefix(line, "  - ")
		} else {
			line = strings.TrimPrefix(line, "    ")
		}
		doc.WriteString(line)
	}
	var fromYAML, fromJSON map[string]any
	if err := yaml.Unmarshal([]byte(doc.String()), &fromYAML); err != nil {
		t.Fatalf("entry is not valid YAML: %v\n%s", err, doc.String())
	}
	if err := json.Unmarshal(append(j, '}'), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromYAML, fromJSON) {
		for k := range fromJSON {
			if !reflect.DeepEqual(fromYAML[k], fromJSON[k]) {
				t.Errorf("%s:\n yaml %#v\n json %#v", k, fromYAML[k], fromJSON[k])
			}
		}
		t.Fatalf("YAML entry reads back differently:\n%s", doc.String())
	}
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func BenchmarkRender(b *testing.B) {
	md := []byte(`{"name":"myapp","version":"1.2.3","description":"A Helm chart for Kubernetes","apiVersion":"v2","appVersion":"1.16.0","type":"application","keywords":["a","b"],"maintainers":[{"name":"x","email":"x@y.z"}],"annotations":{"a":"b"}}`)
	for i := 0; i < b.N; i++ {
		if _, _, err := Render(md, time.Now(), "abc"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRenderEscapesCharactersYAMLForbids: every character YAML does not allow in a document
// (C0 controls but tab and newline, DEL, C1 controls, U+FEFF, U+FFFE, U+FFFF; a lone
// surrogate arrives as U+FFFD from JSON), and those YAML 1.1 reads as line breaks, in
// annotation keys and values: both forms of the entry parse, with helm's YAML parser
// (sigs.k8s.io/yaml over go-yaml v2) and with yaml.v3, to the exact strings of the metadata.
// Before, a raw U+007F in an annotation made helm refuse the whole index ("control
// characters are not allowed").
func TestRenderEscapesCharactersYAMLForbids(t *testing.T) {
	var chars []rune
	for r := rune(0); r < 0x20; r++ {
		chars = append(chars, r)
	}
	for r := rune(0x7F); r <= 0x9F; r++ {
		chars = append(chars, r)
	}
	chars = append(chars, 0xA0, 0xFEFF, 0xFFFE, 0xFFFF, 0x2028, 0x2029, 0xD7FF, 0xE000, 0xFFFD, 0x10000, 0x10FFFF)
	annotations := map[string]any{}
	for _, r := range chars {
		s := string(r)
		annotations[fmt.Sprintf("value-%04X", r)] = "a" + s + "b"
		annotations[fmt.Sprintf("key-%04X-", r)+s] = s
		annotations[fmt.Sprintf("alone-%04X", r)] = s
	}
	raw, err := json.Marshal(map[string]any{"apiVersion": "v2", "name": "myapp", "version": "1.0.0", "annotations": annotations,
		"description": "DEL\x7f NEL\u0085 BOM\ufeff"})
	if err != nil {
		t.Fatal(err)
	}
	// Not UTF-8 and a lone surrogate: encoding/json reads both as U+FFFD.
	raw = bytes.Replace(raw, []byte(`"apiVersion"`), []byte("\"surrogate\":\"\\ud800\",\"latin1\":\"caf\xe9\",\"apiVersion\""), 1)
	var want map[string]any
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	want["created"] = "2026-01-02T03:04:05.000000006Z"
	want["digest"] = "abc"

	y, j, err := Render(raw, time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), "abc")
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range y {
		if c == 0x7F || c < 0x20 && c != '\n' {
			t.Fatalf("the YAML entry holds the raw byte %#x at %d", c, i)
		}
	}
	doc := entryDocument(y)
	var viaHelm map[string]any
	if err := yaml.Unmarshal([]byte(doc), &viaHelm); err != nil {
		t.Fatalf("helm's YAML parser refuses the entry: %v", err)
	}
	var viaV3 map[string]any
	if err := yaml3.Unmarshal([]byte(doc), &viaV3); err != nil {
		t.Fatalf("yaml.v3 refuses the entry: %v", err)
	}
	var jsonAsYAML, jsonAsJSON map[string]any
	if err := yaml.Unmarshal(append(j, '}'), &jsonAsYAML); err != nil {
		t.Fatalf("the JSON entry is not YAML: %v", err)
	}
	if err := json.Unmarshal(append(j, '}'), &jsonAsJSON); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]map[string]any{"YAML via helm's parser": viaHelm, "YAML via yaml.v3": viaV3, "JSON read as YAML": jsonAsYAML, "JSON": jsonAsJSON} {
		if !reflect.DeepEqual(got, want) {
			for k, v := range want {
				if !reflect.DeepEqual(got[k], v) {
					t.Errorf("%s: %s reads back as %#v, want %#v", name, k, got[k], v)
				}
			}
		}
	}
}

// entryDocument undoes the list-item indentation of a rendered YAML entry.
func entryDocument(y []byte) string {
	var doc strings.Builder
	for i, line := range strings.SplitAfter(string(y), "\n") {
		if i == 0 {
			line = strings.TrimPrefix(line, "  - ")
		} else {
			line = strings.TrimPrefix(line, "    ")
		}
		doc.WriteString(line)
	}
	return doc.String()
}

// TestRenderLongKeys: YAML reads an implicit key only within 1024 characters; an annotation
// key (or any key of an OCI config) longer than that once quoted is written as an explicit
// key, wherever it sits, and reads back. Before, one such annotation made helm refuse the
// namespace's whole index ("mapping values are not allowed in this context").
func TestRenderLongKeys(t *testing.T) {
	long := strings.Repeat("k", 1100)
	values := map[string]any{"scalar": "v", "empty map": map[string]any{}, "empty list": []any{},
		"map": map[string]any{"a": "b", long: "c"}, "list": []any{"x", map[string]any{long: "y", "z": []any{"1"}}}}
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			raw, _ := json.Marshal(map[string]any{
				"!" + long: v, // sorts first: the key that shares the line of the entry's dash
				"name":     "myapp", "version": "1.0.0",
				"annotations": map[string]any{long: v, "quoted: " + long: v, "short": "s"},
			})
			y, _, err := Render(raw, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "abc")
			if err != nil {
				t.Fatal(err)
			}
			var want map[string]any
			json.Unmarshal(raw, &want)
			want["created"], want["digest"] = "2026-01-02T03:04:05Z", "abc"
			doc := entryDocument(y)
			var viaHelm, viaV3 map[string]any
			if err := yaml.Unmarshal([]byte(doc), &viaHelm); err != nil {
				t.Fatalf("helm's YAML parser refuses the entry: %v\n%.300s", err, doc)
			}
			if err := yaml3.Unmarshal([]byte(doc), &viaV3); err != nil {
				t.Fatalf("yaml.v3 refuses the entry: %v", err)
			}
			if !reflect.DeepEqual(viaHelm, want) || !reflect.DeepEqual(viaV3, want) {
				t.Fatalf("the entry reads back differently:\n%s", doc)
			}
		})
	}
}

// floatSyntax is go-yaml v2's float pattern, without a regular expression.
func TestFloatSyntaxIsGoYAMLs(t *testing.T) {
	re := regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)
	for _, s := range append(tricky, "1", "1.", ".1", "1.5e3", "1e", "1e+", "-1.5E-3", "+.5", "-.", ".", "+", "", "1.2.3", "0x1", "1_0", "1e3.5", "١") {
		if got, want := floatSyntax(s), re.MatchString(s); got != want {
			t.Errorf("floatSyntax(%q) = %v, want %v", s, got, want)
		}
	}
}

// simpleURL's shortcut writes what the emitter writes.
func TestSimpleURLWritesWhatTheEmitterWrites(t *testing.T) {
	urls := append(tricky, "https://charts.example.com/a-1.0.0.tgz", "charts/a-1.0.0+b.tgz", "http://x/a?b=c&d=e#f", "x:", "x:y",
		"https://x/"+strings.Repeat("a", 200), "no", "on", "nope", "a#b", "a'b", "a%20b", "ftp://[::1]/x")
	for _, u := range urls {
		if !simpleURL(u) {
			continue
		}
		e := new(emitter).reset(4)
		e.urls(u)
		if got, want := string(e.end()), urlsKey[0]+u+"\n"; got != want {
			t.Errorf("%q: the emitter writes %q, the shortcut %q", u, got, want)
		}
	}
}
