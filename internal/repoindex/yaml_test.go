package repoindex

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

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

func FuzzPlainSafe(f *testing.F) {
	for _, s := range tricky {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !plainSafe(s) {
			return
		}
		var got any
		if err := yaml.Unmarshal([]byte("k: "+s), &got); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if v := got.(map[string]any)["k"]; v != s {
			t.Fatalf("%q reads back as %#v", s, v)
		}
	})
}

func BenchmarkRender(b *testing.B) {
	md := []byte(`{"name":"myapp","version":"1.2.3","description":"A Helm chart for Kubernetes","apiVersion":"v2","appVersion":"1.16.0","type":"application","keywords":["a","b"],"maintainers":[{"name":"x","email":"x@y.z"}],"annotations":{"a":"b"}}`)
	for i := 0; i < b.N; i++ {
		if _, _, err := Render(md, time.Now(), "abc"); err != nil {
			b.Fatal(err)
		}
	}
}
