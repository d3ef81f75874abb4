package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestIndexYAMLBytesAsHelm: chartroom index writes, for the same archives, the index.yaml
// helm repo index (v3) writes, byte for byte but for the times each takes from its clock
// (created, generated): the same quoting of values YAML would misread (1.10, true, "", dates),
// the same block scalars for text with line breaks, the same escapes, the same folding of
// long lines, the same order of keys and chart names, urls before version.
func TestIndexYAMLBytesAsHelm(t *testing.T) {
	helm := need(t, helm3)
	e := newToolEnv(t)
	work := t.TempDir()
	ours, theirs := filepath.Join(work, "ours"), filepath.Join(work, "theirs")
	long := strings.Repeat("A description long enough to be folded at eighty columns. ", 4)
	annotations := "annotations:\n" +
		"  numeric: \"1.10\"\n  boolean: \"true\"\n  empty: \"\"\n  date: \"2024-01-02\"\n  time: \"12:30\"\n" +
		"  hash: \"#not a comment\"\n  colon: \"a: b\"\n  quotes: \"it's \\\"quoted\\\"\"\n  tab: \"a\\tb\"\n" +
		"  unicode: ünïcödé\n  emoji: \"🚀 launch\"\n  lead: \" leading space\"\n" +
		"  artifacthub.io/changes: |\n    - kind: added\n      description: " + long + "\n    - kind: fixed\n      description: a bug\n" +
		"  a10: ten\n  a9: nine\n  a_b: underscore\n  aB: upper\n"
	charts := map[string]string{
		"web-1.10.0.tgz": "apiVersion: v2\nname: web\nversion: 1.10.0\nappVersion: \"1.10\"\ndescription: " + long + "\n" +
			"keywords: [\"yes\", \"no\", web]\nhome: https://example.com/web\nsources: [https://example.com/src]\n" +
			"maintainers:\n- name: Jane\n  email: jane@example.com\n" +
			"dependencies:\n- name: redis\n  version: ~17.3.0\n  repository: https://charts.example.com\n  condition: redis.enabled\n  import-values: [data, {child: a, parent: b}]\n" +
			annotations,
		"web-1.9.0.tgz":         "apiVersion: v2\nname: web\nversion: 1.9.0\nappVersion: \"true\"\ndescription: \"#hash first\"\n",
		"app10-1.0.0.tgz":       "apiVersion: v2\nname: app10\nversion: 1.0.0\n",
		"app9-1.0.0.tgz":        "apiVersion: v2\nname: app9\nversion: 1.0.0\ndeprecated: true\n",
		"app_b-1.0.0.tgz":       "apiVersion: v2\nname: app_b\nversion: 1.0.0\ntype: library\n",
		"appB-0.1.0-rc.1.tgz":   "apiVersion: v2\nname: appB\nversion: 0.1.0-rc.1+build.7\nkubeVersion: \">=1.25.0-0\"\n",
		"legacy-0.1.0.tgz":      "name: legacy\nversion: 0.1.0\ndescription: \"Helm 2: a chart\"\n",
		"numeric-0.1.0.tgz":     "apiVersion: v2\nname: numeric\nversion: 0.1.0\nappVersion: 1.10\n",
		"sub/nested-2.0.0.tgz":  "apiVersion: v2\nname: nested\nversion: 2.0.0\nicon: https://example.com/icon with spaces.png\n",
		"sub/nested-2.0.1.tgz":  "apiVersion: v2\nname: nested\nversion: 2.0.1\ndescription: \"" + strings.Repeat("x", 90) + " y\"\n",
		"sub/true-1.0.0.tgz":    "apiVersion: v2\nname: \"true\"\nversion: 1.0.0\n",
		"sub/on-1.0.0.tgz":      "apiVersion: v2\nname: \"on\"\nversion: 1.0.0\n",
		"sub/a-b.c-1.0.0.tgz":   "apiVersion: v2\nname: a-b.c\nversion: 1.0.0\n",
		"sub/0chart-1.0.0.tgz":  "apiVersion: v2\nname: 0chart\nversion: 1.0.0\n",
		"sub/1.0-1.0.0.tgz":     "apiVersion: v2\nname: \"1.0\"\nversion: 1.0.0\n",
		"sub/dashes-1.0.0.tgz":  "apiVersion: v2\nname: dashes\nversion: 1.0.0\ndescription: \"- starts like a list\"\n",
		"sub/spaces-1.0.0.tgz":  "apiVersion: v2\nname: spaces\nversion: 1.0.0\ndescription: \"trailing space \"\n",
		"sub/ellipsis-1.0.tgz":  "apiVersion: v2\nname: ellipsis\nversion: 1.0.0\ndescription: \"...\"\n",
		"sub/backslash-1.0.tgz": "apiVersion: v2\nname: backslash\nversion: 1.0.0\ndescription: 'C:\\path'\n",
	}
	for file, chartYAML := range charts {
		name := strings.TrimSuffix(filepath.Base(file), ".tgz")
		for _, dir := range []string{ours, theirs} {
			p := filepath.Join(dir, filepath.FromSlash(file))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			offWriteTgz(t, p, name+"/Chart.yaml", chartYAML, name+"/values.yaml", "a: 1\n")
		}
	}
	offMust(t, e, "index", ours, "--url", "https://charts.example.com/stable")
	e.must(helm, "repo", "index", theirs, "--url", "https://charts.example.com/stable")

	times := regexp.MustCompile(`(?m)^(\s*(created|generated): ).*$`)
	read := func(dir string) string {
		b, err := os.ReadFile(filepath.Join(dir, "index.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		return times.ReplaceAllString(string(b), "${1}TIME")
	}
	got, want := read(ours), read(theirs)
	if got == want {
		return
	}
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			t.Fatalf("index.yaml line %d:\nchartroom index:  %q\nhelm repo index:  %q\n\nhelm's index:\n%s", i+1, g[i], w[i], want)
		}
	}
	t.Fatalf("index.yaml has %d lines; helm's has %d\n\nhelm's index:\n%s", len(g), len(w), want)
}
