package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestIndex(t *testing.T) {
	repo := t.TempDir()
	for _, name := range []string{"alpha", "beta"} {
		dir := tcChart(t, filepath.Join(t.TempDir(), name), name)
		tcRun(t, "", "package", dir, "-d", repo).want(t, 0)
		tcRun(t, "", "package", dir, "-d", filepath.Join(repo, "older"), "--version", "1.0.0").want(t, 0)
	}
	os.WriteFile(filepath.Join(repo, "broken-1.0.0.tgz"), []byte("not gzip"), 0o644)
	old := filepath.Join(t.TempDir(), "old.yaml")
	os.WriteFile(old, []byte(`apiVersion: v1
entries:
  gamma:
  - apiVersion: v2
    name: gamma
    version: 0.1.0
    created: "2020-01-01T00:00:00Z"
    digest: abc
    urls: [https://old.example/gamma-0.1.0.tgz]
generated: "2020-01-01T00:00:00Z"
`), 0o644)

	r := tcRun(t, "", "index", repo, "--url", "https://charts.example.com", "--merge", old, "-o", "json")
	r.want(t, 0)
	var res indexResult
	r.json(t, &res)
	if res.Path != filepath.Join(repo, "index.yaml") || res.Charts != 3 || res.Versions != 5 || res.Archives != 4 || res.Merged != 1 ||
		len(res.Skipped) != 1 || res.Skipped[0].Path != "broken-1.0.0.tgz" {
		t.Fatalf("result %+v", res)
	}
	data, err := os.ReadFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		Entries map[string][]struct {
			Version string   `json:"version"`
			URLs    []string `json:"urls"`
			Digest  string   `json:"digest"`
		} `json:"entries"`
	}
	if err := yaml.Unmarshal(data, &idx); err != nil {
		t.Fatal(err)
	}
	alpha := idx.Entries["alpha"]
	if len(alpha) != 2 || alpha[0].Version != "1.4.2" || alpha[1].URLs[0] != "https://charts.example.com/older/alpha-1.0.0.tgz" {
		t.Errorf("alpha entries %+v", alpha)
	}
	archive, _ := os.ReadFile(filepath.Join(repo, "alpha-1.4.2.tgz"))
	if alpha[0].Digest != sha256hex(archive) {
		t.Errorf("alpha 1.4.2 digest %s, want the archive's sha256", alpha[0].Digest)
	}
	if g := idx.Entries["gamma"]; len(g) != 1 || g[0].URLs[0] != "https://old.example/gamma-0.1.0.tgz" {
		t.Errorf("gamma (merged) %+v", g)
	}

	// Text output: a summary, and a warning per skipped archive on stderr.
	r = tcRun(t, "", "index", repo)
	r.want(t, 0, "indexed 4 versions of 2 charts", "warning: skipped broken-1.0.0.tgz")

	// --json writes the same index as JSON; a missing --merge file is an empty index when
	// --merge-allow-missing says this is the first publish.
	r = tcRun(t, "", "index", repo, "--json", "--merge", filepath.Join(t.TempDir(), "none.yaml"), "--merge-allow-missing")
	r.want(t, 0)
	data, _ = os.ReadFile(filepath.Join(repo, "index.yaml"))
	if !json.Valid(data) || !strings.Contains(string(data), `"alpha":[`) {
		t.Errorf("--json index:\n%s", data)
	}
}

func TestIndexErrors(t *testing.T) {
	dir := t.TempDir()
	badMerge := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badMerge, []byte("entries: {}\n"), 0o644)
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no argument", []string{"index"}, []string{"one argument"}},
		{"missing directory", []string{"index", filepath.Join(dir, "nope")}, []string{"is not a directory"}},
		{"a file", []string{"index", file}, []string{"is not a directory"}},
		{"merge of a non-index", []string{"index", dir, "--merge", badMerge}, []string{"bad.yaml", "no apiVersion"}},
		{"merge of a missing file", []string{"index", dir, "--merge", filepath.Join(dir, "gone.yaml")},
			[]string{"--merge " + filepath.Join(dir, "gone.yaml") + ": no such file", "download the published index.yaml", "--merge-allow-missing"}},
		{"allow missing without merge", []string{"index", dir, "--merge-allow-missing"}, []string{"--merge-allow-missing applies to --merge FILE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tcRun(t, "", tc.args...).want(t, 2, tc.want...)
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "index.yaml")); err == nil {
		t.Error("index.yaml written despite the error")
	}
}
