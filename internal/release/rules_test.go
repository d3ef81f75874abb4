package release

import (
	"slices"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
)

func TestRangeCompare(t *testing.T) {
	tests := []struct {
		base, changed string
		want          string // narrowed, widened, both, same
	}{
		{">=1.19.0-0", ">=1.21.0-0", "narrowed"},
		{">=1.19.0-0", ">=1.16.0-0", "widened"},
		{">=1.19.0-0", ">=1.19.0", "narrowed"}, // vendor prereleases (1.27.3-gke.100) dropped
		{">=1.19.0", ">=1.19.0-0", "widened"},
		{">= 1.21", ">=1.21.0", "same"},
		{">= 1.21", ">=1.21", "same"},
		{"^1.2", ">=1.2.0, <2.0.0", "same"},
		{"^1.2", "~1.2", "narrowed"},
		{"~1.2", "^1.2", "widened"},
		{"<1.30", "<1.31", "widened"},
		{"<1.30", "<1.29.5", "narrowed"},
		{"<=1.29", "<1.30.0", "same"},
		{">=1.21 <1.30", ">=1.21 <1.30 || >=2.0.0", "widened"},
		{">=1.21 <1.30 || >=2.0.0", ">=1.21 <1.30", "narrowed"},
		{">=1.21, <1.30", ">=1.22, <1.31", "both"},
		{"1.2.x", "~1.2.0", "same"},
		{"", ">=1.19.0-0", "narrowed"},
		{">=1.19.0-0", "", "widened"},
		{">=1.20.0-0", ">=1.20.0-0, !=1.25.3", "narrowed"},
		{"1.19 - 1.25", ">=1.19.0 <=1.25.x", "same"},
		{"=1.25.0", "1.25.0", "same"},
		{"*", ">=0.0.0", "same"},
	}
	for _, tt := range tests {
		t.Run(tt.base+" → "+tt.changed, func(t *testing.T) {
			n, w, err := rangeCompare(tt.base, tt.changed)
			if err != nil {
				t.Fatal(err)
			}
			got := "same"
			switch {
			case len(n) > 0 && len(w) > 0:
				got = "both"
			case len(n) > 0:
				got = "narrowed"
			case len(w) > 0:
				got = "widened"
			}
			if got != tt.want {
				t.Errorf("got %s (narrowed at %v, widened at %v), want %s", got, n, w, tt.want)
			}
		})
	}
	if _, _, err := rangeCompare(">=1.19", ">=>1.2"); err == nil {
		t.Error("a malformed constraint compared without error")
	}
}

func TestBumpOfAndNextVersion(t *testing.T) {
	tests := []struct {
		base, cur string
		bump      Severity
	}{
		{"1.4.2", "1.4.2", None},
		{"1.4.2", "1.4.1", None},
		{"1.4.2", "1.4.3", Patch},
		{"1.4.2", "1.5.0", Minor},
		{"1.4.2", "1.5.1", Minor},
		{"1.4.2", "2.0.0", Major},
		{"1.4.2", "1.4.3-rc.1", Patch},
		{"1.4.2", "2.0.0-rc.1", Major},
		{"2.0.0-rc.1", "2.0.0-rc.2", Major},
		{"2.0.0-rc.1", "2.0.0", Major},
		{"0.3.1", "0.3.2", Minor},
		{"0.3.1", "0.4.0", Major},
		{"0.3.1", "1.0.0", Major},
		{"1.4.2", "1.4.2+build.7", None},
	}
	for _, tt := range tests {
		got := BumpOf(semver.MustParse(tt.base), semver.MustParse(tt.cur))
		if got != tt.bump {
			t.Errorf("BumpOf(%s, %s) = %s, want %s", tt.base, tt.cur, got, tt.bump)
		}
	}
	next := []struct {
		base string
		req  Severity
		want string
	}{
		{"1.4.2", None, "1.4.2"},
		{"1.4.2", Patch, "1.4.3"},
		{"1.4.2", Minor, "1.5.0"},
		{"1.4.2", Major, "2.0.0"},
		{"0.3.1", Major, "0.4.0"},
		{"0.3.1", Minor, "0.3.2"},
		{"0.3.1", Patch, "0.3.2"},
		{"2.0.0-rc.1", Major, "2.0.0-rc.2"},
		{"2.0.0-beta", Patch, "2.0.0-beta.1"},
	}
	for _, tt := range next {
		got := NextVersion(semver.MustParse(tt.base), tt.req)
		if got.String() != tt.want {
			t.Errorf("NextVersion(%s, %s) = %s, want %s", tt.base, tt.req, got, tt.want)
		}
		// The suggestion always satisfies the requirement.
		if tt.req > None && BumpOf(semver.MustParse(tt.base), got) < tt.req {
			t.Errorf("NextVersion(%s, %s) = %s does not allow %s", tt.base, tt.req, got, tt.req)
		}
	}
}

func TestMatchKey(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"**.image.tag", "image.tag", true},
		{"**.image.tag", "controller.image.tag", true},
		{"**.image.tag", "a.b.image.tag", true},
		{"**.image.tag", "image.tags", false},
		{"*.image.tag", "image.tag", false},
		{"*.image.tag", "controller.image.tag", true},
		{"image.tag", "controller.image.tag", false},
		{"**.imageTag", "imageTag", true},
		{"**.*Tag", "app.imageTag", true},
		{"server.version", "server.version", true},
	}
	for _, tt := range tests {
		if got := matchKey(strings.Split(tt.pattern, "."), strings.Split(tt.path, ".")); got != tt.want {
			t.Errorf("matchKey(%s, %s) = %v", tt.pattern, tt.path, got)
		}
	}
	if err := checkImageTagKeys([]string{"image.[tag"}); err == nil {
		t.Error("bad glob accepted")
	}
}

func TestFindImageTag(t *testing.T) {
	data := []byte("sidecar:\n  image:\n    tag: \"9.9\"\nimage:\n  tag: v1.2.3\nother:\n  imageTag: 5\n")
	vals, err := parseValues(data)
	if err != nil {
		t.Fatal(err)
	}
	tag, ok := findImageTag(vals, DefaultImageTagKeys, indexLines(data))
	if !ok || tag.value != "v1.2.3" || tag.line != 5 || valuesPath(tag.segs) != ".image.tag" {
		t.Errorf("got %+v %v, want the shallowest .image.tag on line 5", tag, ok)
	}
	if !sameVersion("v1.2.3", "1.2.3") || !sameVersion("1.2.3@sha256:abc", "1.2.3") || sameVersion("1.2.4", "1.2.3") {
		t.Error("sameVersion")
	}
}

func TestValuesDiff(t *testing.T) {
	base := []byte(`a: 1
enabled: yes
flag: true
m:
  x: longvalue
  y: 2
list: [1, 2]
nn:
old:
  deep: {k: v}
annotations:
  prometheus.io/scrape: "true"
`)
	cur := []byte(`a: 1.0
enabled: true
flag: "true"
m:
  z: longvalue
  y: 2
list: [1, 3]
nn:
  k: v
moved:
  deep: {k: v}
annotations: {}
`)
	b, _ := parseValues(base)
	c, _ := parseValues(cur)
	var got []string
	for _, ch := range diffValues(b, c, base, cur) {
		got = append(got, ch.Severity.String()+" "+ch.String())
	}
	want := []string{
		"major values: .flag type changed from bool to string",
		"patch values: .list default changed from [1,2] to [1,3]",
		"major values: .m.x renamed to .m.z",
		"major values: .old renamed to .moved",
		`major values: .annotations["prometheus.io/scrape"] removed`,
		"minor values: .nn.k added",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestSchemaRefsAndCombinators(t *testing.T) {
	base := []byte(`{"definitions": {"port": {"type": ["integer", "string"]}},
  "properties": {"a": {"$ref": "#/definitions/port"}, "b": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
  "c": {"type": "array", "items": {"type": "string", "maxLength": 10}}}}`)
	cur := []byte(`{"definitions": {"port": {"type": "integer"}},
  "properties": {"a": {"$ref": "#/definitions/port"}, "b": {"anyOf": [{"type": "string"}]},
  "c": {"type": "array", "items": {"type": "string", "maxLength": 5}}}}`)
	changes, err := diffSchema(base, cur)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changes {
		got = append(got, c.Severity.String()+" "+c.String())
	}
	want := []string{
		`major schema: .a type narrowed from ["integer","string"] to integer`,
		"major schema: .b 1 anyOf alternative(s) removed",
		"major schema: .c[] maxLength tightened from 10 to 5",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if _, err := diffSchema(base, []byte("{not json")); err == nil {
		t.Error("invalid JSON accepted")
	}
}
