package chart

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// demoChart is a chart with a locked subchart archive and a subchart dir.
func demoChart(t *testing.T, dir string) {
	t.Helper()
	sub := makeTgz(t, reg("redis/Chart.yaml", "apiVersion: v2\nname: redis\nversion: 17.3.2\n"))
	deps := []*Dependency{
		{Name: "redis", Version: "~17.3.0", Repository: "https://charts.example.com"},
		{Name: "local", Version: ">=0.1.0"},
	}
	lockDeps := []*Dependency{
		{Name: "redis", Version: "17.3.2", Repository: "https://charts.example.com"},
		{Name: "local", Version: ">=0.1.0"},
	}
	digest, err := LockDigest(deps, lockDeps)
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string]string{
		"Chart.yaml": "# My chart\napiVersion: v2\nname: demo\nversion: 1.2.3 # release\nappVersion: \"1.0\"\n" +
			"dependencies:\n- name: redis\n  version: ~17.3.0\n  repository: https://charts.example.com\n- name: local\n  version: '>=0.1.0'\n",
		"Chart.lock": "dependencies:\n- name: redis\n  repository: https://charts.example.com\n  version: 17.3.2\n- name: local\n  repository: \"\"\n  version: '>=0.1.0'\n" +
			"digest: " + digest + "\ngenerated: \"2024-01-01T00:00:00Z\"\n",
		"values.yaml":             "replicas: 1\n",
		"values.schema.json":      `{"type":"object"}`,
		"README.md":               "# demo\n",
		"templates/z.yaml":        "kind: Z\n",
		"templates/a.yaml":        "kind: A\n",
		"templates/_helpers.tpl":  "{{/* */}}",
		"charts/redis-17.3.2.tgz": string(sub),
		"charts/local/Chart.yaml": "apiVersion: v2\nname: local\nversion: 0.2.0\n",
		"charts/_notes/x":         "left out, as Helm leaves it out",
		".helmignore":             "*.tmp\n",
		"scratch.tmp":             "ignored",
	})
}

func packageBytes(t *testing.T, dir string, opts PackageOptions) ([]byte, *Chart) {
	t.Helper()
	var buf bytes.Buffer
	ch, err := Package(context.Background(), dir, &buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), ch
}

func TestPackageReproducible(t *testing.T) {
	a := filepath.Join(t.TempDir(), "demo")
	b := filepath.Join(t.TempDir(), "elsewhere")
	demoChart(t, a)
	demoChart(t, b)
	// Different modes and mtimes in the source must not matter.
	os.Chmod(filepath.Join(b, "README.md"), 0o755)
	os.Chtimes(filepath.Join(b, "values.yaml"), time.Unix(1, 0), time.Unix(1, 0))
	mt := time.Date(2024, 3, 1, 12, 0, 0, 999, time.UTC)
	pa, _ := packageBytes(t, a, PackageOptions{ModTime: mt})
	pb, _ := packageBytes(t, b, PackageOptions{ModTime: mt})
	if !bytes.Equal(pa, pb) {
		t.Fatal("same chart packaged twice gives different bytes")
	}
	pc, _ := packageBytes(t, a, PackageOptions{ModTime: mt.Add(time.Hour)})
	if bytes.Equal(pa, pc) {
		t.Error("ModTime ignored")
	}
}

func TestPackageLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "src")
	demoChart(t, dir)
	data, ch := packageBytes(t, dir, PackageOptions{})
	if ch.Metadata.ArchiveName() != "demo-1.2.3.tgz" {
		t.Errorf("archive name %s", ch.Metadata.ArchiveName())
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() || zr.Comment != "Helm" || zr.OS != 255 {
		t.Errorf("gzip header: %+v", zr.Header)
	}
	tr := tar.NewReader(zr)
	var got []string
	for {
		hd, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, hd.Name)
		if hd.Typeflag != tar.TypeReg || hd.Mode != 0o644 || hd.Uid != 0 || hd.Gid != 0 || hd.Uname != "" || hd.Gname != "" || !hd.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: header %+v", hd.Name, hd)
		}
	}
	want := []string{
		"demo/Chart.yaml", "demo/Chart.lock", "demo/values.yaml", "demo/values.schema.json",
		"demo/templates/_helpers.tpl", "demo/templates/a.yaml", "demo/templates/z.yaml",
		"demo/.helmignore", "demo/README.md", "demo/charts/local/Chart.yaml", "demo/charts/redis-17.3.2.tgz",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The archive loads back with the same content.
	back, err := LoadArchive(bytes.NewReader(data), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if back.Root != "demo" || names(back.Files) != strings.ReplaceAll(strings.Join(sortedCopy(want), " "), "demo/", "") {
		t.Errorf("reloaded files: %s", names(back.Files))
	}
	if !bytes.Equal(back.ChartYAML(), ch.ChartYAML()) {
		t.Error("Chart.yaml bytes changed")
	}
}

func sortedCopy(s []string) []string {
	c := append([]string{}, s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}

func TestPackageVersionOverride(t *testing.T) {
	dir := t.TempDir()
	demoChart(t, dir)
	data, ch := packageBytes(t, dir, PackageOptions{Version: "2.0.0-rc.1", AppVersion: "1.10"})
	if ch.Metadata.Version != "2.0.0-rc.1" || ch.Metadata.AppVersion != "1.10" || ch.Metadata.ArchiveName() != "demo-2.0.0-rc.1.tgz" {
		t.Errorf("metadata %+v", ch.Metadata)
	}
	back, err := LoadArchive(bytes.NewReader(data), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	y := string(back.ChartYAML())
	if !strings.Contains(y, "# My chart\n") || !strings.Contains(y, "version: 2.0.0-rc.1 # release\n") || !strings.Contains(y, "appVersion: \"1.10\"\n") {
		t.Errorf("Chart.yaml not edited in place:\n%s", y)
	}
	var buf bytes.Buffer
	if _, err := Package(context.Background(), dir, &buf, PackageOptions{Version: "v2"}); !errors.Is(err, ErrInvalidMetadata) {
		t.Errorf("bad version override: %v", err)
	}
}

func TestPackageRefuses(t *testing.T) {
	tests := []struct {
		name   string
		change map[string]string
		remove string
		is     error
		want   string
	}{
		{"lock out of sync", map[string]string{"Chart.yaml": "apiVersion: v2\nname: demo\nversion: 1.2.3\ndependencies:\n- name: redis\n  version: ~17.4.0\n  repository: https://charts.example.com\n- name: local\n  version: '>=0.1.0'\n"},
			"", ErrLockOutOfSync, `redis: locked version 17.3.2 does not satisfy "~17.4.0"`},
		{"locked archive missing", nil, "charts/redis-17.3.2.tgz", ErrMissingDependency, "redis 17.3.2 is not in charts/"},
		{"wrong version in charts/", map[string]string{"charts/local/Chart.yaml": "apiVersion: v2\nname: local\nversion: 0.0.9\n"}, "", ErrMissingDependency, "local: charts/ has 0.0.9"},
		{"invalid schema", map[string]string{"values.schema.json": "{"}, "", ErrInvalidArchive, "not valid JSON"},
		{"invalid values", map[string]string{"values.yaml": "a: [\n"}, "", ErrInvalidArchive, "values.yaml:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			demoChart(t, dir)
			writeTree(t, dir, tc.change)
			if tc.remove != "" {
				os.Remove(filepath.Join(dir, tc.remove))
			}
			dest := t.TempDir()
			_, _, err := PackageToDir(context.Background(), dir, dest, PackageOptions{})
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v\nwant %v containing %q", err, tc.is, tc.want)
			}
			if entries, _ := os.ReadDir(dest); len(entries) != 0 {
				t.Errorf("left files behind: %v", entries)
			}
		})
	}
}

func TestPackageWithoutLock(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Chart.yaml":              "apiVersion: v2\nname: demo\nversion: 1.0.0\ndependencies:\n- name: local\n  version: ^0.2.0\n",
		"charts/local/Chart.yaml": "apiVersion: v2\nname: local\nversion: 0.2.5\n",
	})
	if _, err := Package(context.Background(), dir, io.Discard, PackageOptions{}); err != nil {
		t.Errorf("in range, no lock: %v", err)
	}
	writeTree(t, dir, map[string]string{"charts/local/Chart.yaml": "apiVersion: v2\nname: local\nversion: 0.3.0\n"})
	if _, err := Package(context.Background(), dir, io.Discard, PackageOptions{}); !errors.Is(err, ErrMissingDependency) {
		t.Errorf("out of range, no lock: %v", err)
	}
}

func TestPackageToDir(t *testing.T) {
	src := t.TempDir()
	demoChart(t, src)
	dest := filepath.Join(t.TempDir(), "out", "nested")
	p, ch, err := PackageToDir(context.Background(), src, dest, PackageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(dest, "demo-1.2.3.tgz") || ch.Metadata.Name != "demo" {
		t.Errorf("path %s", p)
	}
	want, _ := packageBytes(t, src, PackageOptions{})
	got, _ := os.ReadFile(p)
	if !bytes.Equal(got, want) {
		t.Error("PackageToDir and Package differ")
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode())
	}
	if entries, _ := os.ReadDir(dest); len(entries) != 1 {
		t.Errorf("dest holds %d entries, want only the archive", len(entries))
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("old"), 0o644)
	boom := errors.New("boom")
	err := WriteFileAtomic(context.Background(), p, 0o600, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WriteFileAtomic(ctx, p, 0o600, func(w io.Writer) error { _, err := w.Write([]byte("new")); return err }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("file changed to %q after failed writes", b)
	}
	if err := WriteFileAtomic(context.Background(), p, 0o600, func(w io.Writer) error { _, err := w.Write([]byte("new")); return err }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Errorf("content %q", b)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}
