package chart

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func names(files []*File) string {
	var out []string
	for _, f := range files {
		out = append(out, f.Name)
	}
	return strings.Join(out, " ")
}

func TestLoadDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	sub := makeTgz(t, reg("packed/Chart.yaml", "apiVersion: v2\nname: packed\nversion: 2.0.0\n"))
	writeTree(t, dir, map[string]string{
		"Chart.yaml":              "\xEF\xBB\xBF" + minimalChartYAML,
		"values.yaml":             "a: 1\n",
		".helmignore":             "# comment\n*.bak\nsecrets/\n/TODO.txt\n",
		"TODO.txt":                "x",
		"docs/TODO.txt":           "kept: anchored rule only matches the top",
		"templates/a.yaml":        "kind: A\n",
		"templates/a.yaml.bak":    "old",
		"templates/.editor.swp":   "x",
		"secrets/key":             "k",
		"charts/sub/Chart.yaml":   "apiVersion: v2\nname: sub\nversion: 1.0.0\n",
		"charts/sub/templates/x":  "x",
		"charts/_skipped/x":       "x",
		"charts/packed-2.0.0.tgz": string(sub),
		"charts/.gitkeep":         "",
	})
	ch, err := LoadDir(context.Background(), dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := ".helmignore Chart.yaml charts/.gitkeep charts/_skipped/x charts/packed-2.0.0.tgz charts/sub/Chart.yaml charts/sub/templates/x docs/TODO.txt templates/a.yaml values.yaml"
	if got := names(ch.Files); got != want {
		t.Errorf("files:\n got %s\nwant %s", got, want)
	}
	if ch.Root != "demo" || string(ch.ChartYAML()) != minimalChartYAML {
		t.Errorf("root %q, Chart.yaml %q", ch.Root, ch.ChartYAML())
	}
	if len(ch.Dependencies) != 2 || ch.Dependencies[0].Path != "charts/packed-2.0.0.tgz" || ch.Dependencies[1].Metadata.Name != "sub" {
		t.Fatalf("dependencies: %+v", ch.Dependencies)
	}
	if got := names(ch.Dependencies[1].Files); got != "Chart.yaml templates/x" {
		t.Errorf("subchart files: %s", got)
	}
}

func TestLoadDirSymlinks(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(root, "shared")
	writeTree(t, outside, map[string]string{"common.tpl": "{{/* shared */}}", "more/x.yaml": "x"})
	dir := filepath.Join(root, "demo")
	writeTree(t, dir, map[string]string{"Chart.yaml": minimalChartYAML})
	if err := os.Symlink(filepath.Join(outside, "common.tpl"), filepath.Join(dir, "common.tpl")); err != nil {
		t.Skip("symlinks unsupported:", err)
	}
	if err := os.Symlink(filepath.Join(outside, "more"), filepath.Join(dir, "templates")); err != nil {
		t.Fatal(err)
	}
	ch, err := LoadDir(context.Background(), dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(ch.Files); got != "Chart.yaml common.tpl templates/x.yaml" {
		t.Errorf("files: %s (links are followed, as Helm does)", got)
	}

	if err := os.Symlink(dir, filepath.Join(outside, "more", "loop")); err != nil {
		t.Fatal(err)
	}
	_, err = LoadDir(context.Background(), dir, Limits{})
	if !errors.Is(err, ErrInvalidArchive) || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("link cycle: err = %v", err)
	}
}

func TestLoadDirRefuses(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		lim   Limits
		want  string
	}{
		{"no Chart.yaml", map[string]string{"values.yaml": "a: 1\n"}, Limits{}, "Chart.yaml\": is missing"},
		{"invalid Chart.yaml", map[string]string{"Chart.yaml": "name: x\nversion: 1\n"}, Limits{}, "Chart.yaml:2"},
		{"file too big", map[string]string{"Chart.yaml": minimalChartYAML, "big": strings.Repeat("x", 100)}, Limits{MaxFileSize: 99}, "per-file limit"},
		{"chart too big", map[string]string{"Chart.yaml": minimalChartYAML, "a": strings.Repeat("x", 60), "b": strings.Repeat("x", 60)}, Limits{MaxTotalSize: 150}, "total limit"},
		{"too many files", map[string]string{"Chart.yaml": minimalChartYAML, "a": "", "b": ""}, Limits{MaxEntries: 2}, "more than 2 files"},
		{"bad .helmignore", map[string]string{"Chart.yaml": minimalChartYAML, ".helmignore": "**/x\n"}, Limits{}, ".helmignore:1"},
		{"stray file in charts/", map[string]string{"Chart.yaml": minimalChartYAML, "charts/README.md": "x"}, Limits{}, "is not a chart"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tc.files)
			_, err := LoadDir(context.Background(), dir, tc.lim)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("not a directory", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "x.tgz")
		os.WriteFile(f, []byte("x"), 0o644)
		if _, err := LoadDir(context.Background(), f, Limits{}); err == nil || !strings.Contains(err.Error(), "not a directory") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"Chart.yaml": minimalChartYAML})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := LoadDir(ctx, dir, Limits{}); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v", err)
		}
	})
}
