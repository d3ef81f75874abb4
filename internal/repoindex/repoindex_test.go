package repoindex

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

func entry(t *testing.T, name, version, extra string) Entry {
	t.Helper()
	meta := `{"apiVersion":"v2","name":"` + name + `","version":"` + version + `"` + extra + `}`
	y, j, err := Render([]byte(meta), time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), "abc123")
	if err != nil {
		t.Fatal(err)
	}
	return Entry{Name: name, Version: version, YAML: y, JSON: j, URL: "charts/" + name + "-" + version + ".tgz"}
}

type index struct {
	APIVersion string                      `json:"apiVersion"`
	Entries    map[string][]map[string]any `json:"entries"`
	Generated  string                      `json:"generated"`
}

func TestYAMLAndJSONAgree(t *testing.T) {
	entries := []Entry{
		entry(t, "myapp", "1.0.0", `,"appVersion":"2.0","description":"multi\nline: text"`),
		entry(t, "myapp", "1.10.0", `,"annotations":{"a":"b: c"}`),
		entry(t, "myapp", "1.2.0-rc.1", ``),
		entry(t, "true", "0.1.0", `,"keywords":["x","y"],"maintainers":[{"name":"n","email":"e@x"}]`),
		entry(t, "abc", "2.0.0", ``),
	}
	Sort(entries)
	var y, j bytes.Buffer
	gen := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := WriteYAML(&y, entries, gen); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&j, entries, gen); err != nil {
		t.Fatal(err)
	}
	var fromYAML, fromJSON index
	if err := yaml.Unmarshal(y.Bytes(), &fromYAML); err != nil {
		t.Fatalf("index.yaml does not parse: %v\n%s", err, y.String())
	}
	if err := json.Unmarshal(j.Bytes(), &fromJSON); err != nil {
		t.Fatalf("index.json does not parse: %v\n%s", err, j.String())
	}
	if !reflect.DeepEqual(fromYAML, fromJSON) {
		t.Fatalf("YAML and JSON differ:\n%v\n%v", fromYAML, fromJSON)
	}
	var versions []string
	for _, v := range fromYAML.Entries["myapp"] {
		versions = append(versions, v["version"].(string))
	}
	if got := strings.Join(versions, " "); got != "1.10.0 1.2.0-rc.1 1.0.0" {
		t.Fatalf("order: %s", got)
	}
	first := fromYAML.Entries["myapp"][2]
	if first["description"] != "multi\nline: text" || first["digest"] != "abc123" || first["created"] != "2026-01-02T03:04:05.000000006Z" {
		t.Fatalf("entry fields: %v", first)
	}
	if urls := first["urls"].([]any); len(urls) != 1 || urls[0] != "charts/myapp-1.0.0.tgz" {
		t.Fatalf("urls: %v", urls)
	}
	if _, ok := fromYAML.Entries["true"]; !ok {
		t.Fatalf("chart named true lost: %v", fromYAML.Entries)
	}
}

func TestEmptyIndex(t *testing.T) {
	var y, j bytes.Buffer
	_ = WriteYAML(&y, nil, time.Unix(0, 0))
	_ = WriteJSON(&j, nil, time.Unix(0, 0))
	var a, b index
	if err := yaml.Unmarshal(y.Bytes(), &a); err != nil || a.APIVersion != "v1" {
		t.Fatalf("%v %s", err, y.String())
	}
	if err := json.Unmarshal(j.Bytes(), &b); err != nil || b.APIVersion != "v1" {
		t.Fatalf("%v %s", err, j.String())
	}
}
