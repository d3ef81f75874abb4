package chart

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// fullChartYAML uses every field; the golden outputs below were produced
// by Helm v3.22.0's own code (json.Marshal / sigs.k8s.io/yaml.Marshal of
// its chart.Metadata after loading and Validate).
const fullChartYAML = "apiVersion: v2\nname: demo\nversion: 1.2.3-rc.1+build.5\nappVersion: \"1.10\"\nkubeVersion: '>=1.25.0-0'\ndescription: \"A <b>chart</b> &\\tmore\"\nhome: https://x\nsources: [https://a, https://b]\nkeywords: [a, b]\nmaintainers:\n- name: Jane\n  email: j@x.io\n- name: Bob\nicon: https://i/x.png\ndeprecated: true\nannotations:\n  z: \"1\"\n  a: b\ntype: application\ndependencies:\n- name: redis\n  version: ~17.3.0\n  repository: https://charts.example.com\n  condition: redis.enabled\n  tags: [cache]\n  alias: cache\n  import-values:\n  - child: a\n    parent: b\n  - data\n"

const helmConfigJSON = `{"name":"demo","home":"https://x","sources":["https://a","https://b"],"version":"1.2.3-rc.1+build.5","description":"A \u003cb\u003echart\u003c/b\u003e \u0026 more","keywords":["a","b"],"maintainers":[{"name":"Jane","email":"j@x.io"},{"name":"Bob"}],"icon":"https://i/x.png","apiVersion":"v2","appVersion":"1.10","deprecated":true,"annotations":{"a":"b","z":"1"},"kubeVersion":"\u003e=1.25.0-0","dependencies":[{"name":"redis","version":"~17.3.0","repository":"https://charts.example.com","condition":"redis.enabled","tags":["cache"],"import-values":[{"child":"a","parent":"b"},"data"],"alias":"cache"}],"type":"application"}`

const helmYAML = `annotations:
  a: b
  z: "1"
apiVersion: v2
appVersion: "1.10"
dependencies:
- alias: cache
  condition: redis.enabled
  import-values:
  - child: a
    parent: b
  - data
  name: redis
  repository: https://charts.example.com
  tags:
  - cache
  version: ~17.3.0
deprecated: true
description: A <b>chart</b> & more
home: https://x
icon: https://i/x.png
keywords:
- a
- b
kubeVersion: '>=1.25.0-0'
maintainers:
- email: j@x.io
  name: Jane
- name: Bob
name: demo
sources:
- https://a
- https://b
type: application
version: 1.2.3-rc.1+build.5
`

func TestConfigJSONAndHelmYAMLMatchHelm(t *testing.T) {
	md, err := ParseMetadata([]byte(fullChartYAML))
	if err != nil {
		t.Fatal(err)
	}
	if err := md.Validate(); err != nil {
		t.Fatal(err)
	}
	got, err := ConfigJSON(md)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != helmConfigJSON {
		t.Errorf("ConfigJSON:\n got %s\nwant %s", got, helmConfigJSON)
	}
	y, err := md.HelmYAML()
	if err != nil {
		t.Fatal(err)
	}
	if string(y) != helmYAML {
		t.Errorf("HelmYAML:\n got %s\nwant %s", y, helmYAML)
	}
	if md.Description != "A <b>chart</b> &\tmore" {
		t.Errorf("ConfigJSON modified its argument: %q", md.Description)
	}
}

func TestConfigJSONDefaultsAPIVersion(t *testing.T) {
	got, _ := ConfigJSON(&Metadata{Name: "old", Version: "1.0.0"})
	if want := `{"name":"old","version":"1.0.0","apiVersion":"v1"}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestOCIAnnotations(t *testing.T) {
	md, _ := ParseMetadata([]byte(strings.Replace(fullChartYAML, "  a: b\n", "  a: b\n  org.opencontainers.image.title: hijack\n  org.opencontainers.image.source: https://override\n", 1)))
	got := OCIAnnotations(md, time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("x", 3600)))
	want := map[string]string{
		"org.opencontainers.image.description": "A <b>chart</b> & more",
		"org.opencontainers.image.title":       "demo",
		"org.opencontainers.image.version":     "1.2.3-rc.1+build.5",
		"org.opencontainers.image.url":         "https://x",
		"org.opencontainers.image.created":     "2024-05-06T07:08:09+01:00",
		"org.opencontainers.image.source":      "https://override",
		"org.opencontainers.image.authors":     "Jane (j@x.io), Bob",
		"a":                                    "b",
		"z":                                    "1",
	}
	if len(got) != len(want) {
		t.Errorf("got %d annotations, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestParseMetadataErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       string
	}{
		{"syntax error line 1", "name: a: b\n", "Chart.yaml:1: mapping values"},
		{"syntax error later line", "apiVersion: v2\nname: x\nversion: 1.0.0\n  bad: [\n", "Chart.yaml:4:"},
		{"wrong type", "apiVersion: v2\nname: x\nversion: 1.0.0\nkeywords: notalist\n", "Chart.yaml:4: keywords: expected a list, got string"},
		{"nested wrong type", "apiVersion: v2\nname: x\nmaintainers:\n- name: a\n- name: [b]\n", "Chart.yaml:5: maintainers.name"},
		{"annotation not a string", "apiVersion: v2\nname: x\nannotations:\n  a: [1]\n", "Chart.yaml:4"},
		{"numeric version", "apiVersion: v2\nname: x\nversion: 1.10\n", `Chart.yaml:3: version must be a string, but YAML reads 1.10 as a float (Helm would store it as "1.1"); write it as a SemVer version: version: 1.10.0`},
		{"integer version", "apiVersion: v2\nname: x\nversion: 2\n", "version: 2.0.0"},
		{"boolean version", "apiVersion: v2\nname: x\nversion: true\n", `quote it: version: "true"`},
		{"numeric appVersion", "apiVersion: v2\nname: x\nversion: 1.0.0\nappVersion: 2\n", `Chart.yaml:4: appVersion must be a string, but YAML reads 2 as a int (Helm would store it as "2"); quote it: appVersion: "2"`},
		{"duplicate key", "apiVersion: v2\nname: x\nname: y\n", `Chart.yaml:3: key "name" is defined twice (first at line 2)`},
		{"not a mapping", "- a\n- b\n", "Chart.yaml:1: the document must be a mapping"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMetadata([]byte(tc.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q\nwant it to contain %q", err, tc.want)
			}
			if !errors.Is(err, ErrInvalidMetadata) {
				t.Errorf("error does not wrap ErrInvalidMetadata")
			}
		})
	}
}

func TestParseMetadataHelmSemantics(t *testing.T) {
	md, err := ParseMetadata([]byte("\xEF\xBB\xBFName: x\nversion: \"1.0.0\"\ndeprecated: yes\nunknownField: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	// encoding/json matches keys case-insensitively; YAML 1.1 reads yes as true.
	if md.Name != "x" || !md.Deprecated || md.APIVersion != "" {
		t.Errorf("got %+v", md)
	}
	if md, err := ParseMetadata(nil); err != nil || md.Name != "" {
		t.Errorf("empty Chart.yaml: %v %+v", err, md)
	}
}

func TestValidate(t *testing.T) {
	base := func() *Metadata { return &Metadata{APIVersion: "v2", Name: "demo", Version: "1.0.0"} }
	tests := []struct {
		name   string
		edit   func(m *Metadata)
		fields []string // fields expected in error, none = valid
	}{
		{"valid", func(m *Metadata) {}, nil},
		{"valid v1 without apiVersion", func(m *Metadata) { m.APIVersion = "" }, nil},
		{"valid library", func(m *Metadata) { m.Type = "library" }, nil},
		{"valid prerelease build", func(m *Metadata) { m.Version = "1.0.0-rc.1+sha.abc" }, nil},
		{"valid name chars", func(m *Metadata) { m.Name = "My_chart.v2-x" }, nil},
		{"apiVersion v3", func(m *Metadata) { m.APIVersion = "v3" }, []string{"apiVersion"}},
		{"missing name", func(m *Metadata) { m.Name = "" }, []string{"name"}},
		{"name dotdot", func(m *Metadata) { m.Name = ".." }, []string{"name"}},
		{"name with slash", func(m *Metadata) { m.Name = "a/b" }, []string{"name"}},
		{"name with space", func(m *Metadata) { m.Name = "a b" }, []string{"name"}},
		{"missing version", func(m *Metadata) { m.Version = "" }, []string{"version"}},
		{"leading v", func(m *Metadata) { m.Version = "v1.0.0" }, []string{"version"}},
		{"short version", func(m *Metadata) { m.Version = "1.0" }, []string{"version"}},
		{"garbage version", func(m *Metadata) { m.Version = "latest" }, []string{"version"}},
		{"bad type", func(m *Metadata) { m.Type = "app" }, []string{"type"}},
		{"bad kubeVersion", func(m *Metadata) { m.KubeVersion = ">>1" }, []string{"kubeVersion"}},
		{"null maintainer", func(m *Metadata) { m.Maintainers = []*Maintainer{nil} }, []string{"maintainers[0]"}},
		{"null dependency", func(m *Metadata) { m.Dependencies = []*Dependency{nil} }, []string{"dependencies[0]"}},
		{"dependency without name", func(m *Metadata) { m.Dependencies = []*Dependency{{Version: "1.0.0"}} }, []string{"dependencies[0].name"}},
		{"dependency bad range", func(m *Metadata) { m.Dependencies = []*Dependency{{Name: "a", Version: ">>1"}} }, []string{"dependencies[0] (a).version"}},
		{"dependency bad repo", func(m *Metadata) { m.Dependencies = []*Dependency{{Name: "a", Repository: "stable"}} }, []string{"dependencies[0] (a).repository"}},
		{"dependency good repos", func(m *Metadata) {
			m.Dependencies = []*Dependency{{Name: "a", Repository: "@stable"}, {Name: "b", Repository: "alias:x"}, {Name: "c", Repository: "oci://r/x"}, {Name: "d", Repository: "file://../d"}, {Name: "e"}}
		}, nil},
		{"bad alias", func(m *Metadata) { m.Dependencies = []*Dependency{{Name: "a", Alias: "a.b"}} }, []string{"dependencies[0] (a).alias"}},
		{"duplicate dependency", func(m *Metadata) { m.Dependencies = []*Dependency{{Name: "a"}, {Name: "a"}} }, []string{"dependencies[1] (a)"}},
		{"aliases make duplicates fine", func(m *Metadata) {
			m.Dependencies = []*Dependency{{Name: "a", Alias: "one"}, {Name: "a", Alias: "two"}}
		}, nil},
		{"several problems", func(m *Metadata) { m.Name = ""; m.Version = "x"; m.Type = "y" }, []string{"name", "version", "type"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			tc.edit(m)
			err := m.Validate()
			if len(tc.fields) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalidMetadata) {
				t.Errorf("error does not wrap ErrInvalidMetadata: %v", err)
			}
			for _, f := range tc.fields {
				if !strings.Contains(err.Error(), "Chart.yaml: "+f+":") {
					t.Errorf("error %q does not name field %s", err, f)
				}
			}
		})
	}
	var nilMD *Metadata
	if nilMD.Validate() == nil {
		t.Error("nil metadata validated")
	}
}

func TestSanitize(t *testing.T) {
	md := &Metadata{Description: "a\tb\nc\x07d", Maintainers: []*Maintainer{{Name: "x\ty"}}, Dependencies: []*Dependency{{Name: "n\u200bm"}}}
	md.Sanitize()
	if md.Description != "a b cd" || md.Maintainers[0].Name != "x y" {
		t.Errorf("got %q %q", md.Description, md.Maintainers[0].Name)
	}
}
