package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chartroom/chartroom/internal/chart"
)

// Helpers of the release toolchain tests (package, sign, verify, index, bump) are
// prefixed tc, to stay apart from other commands' test helpers in this package.

// tcResult is one run of chartroom.
type tcResult struct {
	code           int
	stdout, stderr string
}

// tcRun runs chartroom as main does, with stdin as standard input.
func tcRun(t *testing.T, stdin string, args ...string) tcResult {
	t.Helper()
	old := os.Stdin
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		io.WriteString(w, stdin)
		w.Close()
	}()
	os.Stdin = r
	defer func() { os.Stdin = old; r.Close() }()
	var stdout, stderr bytes.Buffer
	code := Execute(context.Background(), args, &stdout, &stderr)
	return tcResult{code, stdout.String(), stderr.String()}
}

// want fails unless the run exited with code and, on failure, printed exactly one line
// "chartroom: …" on stderr; each of texts must appear in the output.
func (r tcResult) want(t *testing.T, code int, texts ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	if code != 0 {
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "chartroom: ") {
			t.Errorf("stderr is not one line: %q", r.stderr)
		}
	}
	for _, w := range texts {
		if !strings.Contains(r.stderr+r.stdout, w) {
			t.Errorf("output lacks %q\nstdout: %s\nstderr: %s", w, r.stdout, r.stderr)
		}
	}
}

// tcJSON decodes the run's --output json.
func (r tcResult) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
}

// tcWriteTree writes files (slash path → content) under dir.
func tcWriteTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// tcChart writes a small chart named name at dir and returns dir.
func tcChart(t *testing.T, dir, name string) string {
	t.Helper()
	tcWriteTree(t, dir, map[string]string{
		"Chart.yaml":             "# The chart\napiVersion: v2\nname: " + name + "\nversion: 1.4.2 # release\nappVersion: \"2.3.0\"\n",
		"values.yaml":            "replicas: 1\n",
		"templates/deploy.yaml":  "kind: Deployment\nreplicas: {{ .Values.replicas }}\n",
		"templates/_helpers.tpl": "{{/* helpers */}}\n",
		"README.md":              "# " + name + "\n",
		".helmignore":            "*.tmp\nsecret/\n",
		"scratch.tmp":            "ignored",
		"secret/key":             "ignored",
	})
	return dir
}

// tcEntries lists an archive's entries: name, mode, mtime.
func tcEntries(t *testing.T, data []byte) ([]*tar.Header, *gzip.Header) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out []*tar.Header
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
	return out, &zr.Header
}

func TestPackageReproducible(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	a := tcChart(t, filepath.Join(t.TempDir(), "myapp"), "myapp")
	b := tcChart(t, filepath.Join(t.TempDir(), "elsewhere", "myapp"), "myapp")
	// Different modification times and modes must not matter.
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(b, "values.yaml"), old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(b, "README.md"), 0o755); err != nil {
		t.Fatal(err)
	}

	var archives [][]byte
	for _, dir := range []string{a, b} {
		out := t.TempDir()
		r := tcRun(t, "", "package", dir, "-d", out, "-o", "json")
		r.want(t, 0)
		var res packageResult
		r.json(t, &res)
		data, err := os.ReadFile(res.Path)
		if err != nil {
			t.Fatal(err)
		}
		if res.Path != filepath.Join(out, "myapp-1.4.2.tgz") || res.Name != "myapp" || res.Version != "1.4.2" || res.AppVersion != "2.3.0" || res.Digest != sha256hex(data) {
			t.Errorf("result %+v", res)
		}
		archives = append(archives, data)
	}
	if !bytes.Equal(archives[0], archives[1]) {
		t.Fatal("the same chart in two directories packaged to different bytes")
	}

	hdrs, gz := tcEntries(t, archives[0])
	var names []string
	for _, h := range hdrs {
		names = append(names, h.Name)
		if h.Mode != 0o644 || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || !h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: mode %o uid %d gid %d uname %q mtime %v", h.Name, h.Mode, h.Uid, h.Gid, h.Uname, h.ModTime)
		}
	}
	if got, want := strings.Join(names, " "), "myapp/Chart.yaml myapp/values.yaml myapp/templates/_helpers.tpl myapp/templates/deploy.yaml myapp/.helmignore myapp/README.md"; got != want {
		t.Errorf("entries %s, want %s (.helmignore applied)", got, want)
	}
	if !gz.ModTime.IsZero() || gz.Name != "" {
		t.Errorf("gzip header has time %v name %q", gz.ModTime, gz.Name)
	}

	// SOURCE_DATE_EPOCH sets every timestamp, and only the timestamps.
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	out := t.TempDir()
	tcRun(t, "", "package", a, "-d", out).want(t, 0, "packaged myapp 1.4.2")
	data, _ := os.ReadFile(filepath.Join(out, "myapp-1.4.2.tgz"))
	hdrs, _ = tcEntries(t, data)
	for _, h := range hdrs {
		if !h.ModTime.Equal(time.Unix(1700000000, 0)) {
			t.Errorf("%s mtime %v, want SOURCE_DATE_EPOCH", h.Name, h.ModTime)
		}
	}
}

func sha256hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func TestPackageOverrides(t *testing.T) {
	dir := tcChart(t, filepath.Join(t.TempDir(), "myapp"), "myapp")
	out := t.TempDir()
	r := tcRun(t, "", "package", dir, "--destination", out, "--version", "2.0.0-rc.1", "--app-version", "3.1", "-o", "json")
	r.want(t, 0)
	var res packageResult
	r.json(t, &res)
	if res.Version != "2.0.0-rc.1" || res.AppVersion != "3.1" || filepath.Base(res.Path) != "myapp-2.0.0-rc.1.tgz" {
		t.Fatalf("result %+v", res)
	}
	data, _ := os.ReadFile(res.Path)
	ch, err := chart.LoadArchive(bytes.NewReader(data), chart.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(ch.ChartYAML()); !strings.Contains(got, "# The chart\n") || !strings.Contains(got, "version: 2.0.0-rc.1 # release\n") || !strings.Contains(got, `appVersion: "3.1"`) {
		t.Errorf("Chart.yaml in the archive lost its comments or quoting:\n%s", got)
	}
	// The source is not modified.
	src, _ := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if !strings.Contains(string(src), "version: 1.4.2") {
		t.Errorf("package edited the source Chart.yaml:\n%s", src)
	}
}

func TestPackageRefuses(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	root := t.TempDir()
	good := tcChart(t, filepath.Join(root, "good"), "good")
	noChart := filepath.Join(root, "empty")
	os.MkdirAll(noChart, 0o755)
	badYAML := filepath.Join(root, "badyaml")
	tcWriteTree(t, badYAML, map[string]string{"Chart.yaml": "apiVersion: v2\nname: bad\nversion: 1.0.0\n  oops: [\n"})
	badVersion := filepath.Join(root, "badversion")
	tcWriteTree(t, badVersion, map[string]string{"Chart.yaml": "apiVersion: v2\nname: bad\nversion: \"1.2\"\n"})
	numVersion := filepath.Join(root, "numversion")
	tcWriteTree(t, numVersion, map[string]string{"Chart.yaml": "apiVersion: v2\nname: bad\nversion: 1.0\n"})
	unlocked := filepath.Join(root, "unlocked")
	tcWriteTree(t, unlocked, map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: unlocked\nversion: 1.0.0\ndependencies:\n- name: redis\n  version: ~17.3.0\n  repository: https://charts.example.com\n",
		"Chart.lock": "dependencies:\n- name: redis\n  repository: https://charts.example.com\n  version: 16.0.0\ndigest: sha256:0000\ngenerated: \"2024-01-01T00:00:00Z\"\n",
	})
	missingDep := filepath.Join(root, "missingdep")
	tcWriteTree(t, missingDep, map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: missingdep\nversion: 1.0.0\ndependencies:\n- name: local\n  version: '>=0.1.0'\n",
	})
	file := filepath.Join(root, "file.tgz")
	os.WriteFile(file, []byte("x"), 0o644)

	for _, tc := range []struct {
		name string
		env  string
		args []string
		want []string
	}{
		{"no argument", "", []string{"package"}, []string{"one argument, the chart directory"}},
		{"missing directory", "", []string{"package", filepath.Join(root, "nope")}, []string{"does not exist"}},
		{"a file", "", []string{"package", file}, []string{"is an archive, not a chart directory"}},
		{"no Chart.yaml", "", []string{"package", noChart}, []string{"has no Chart.yaml"}},
		{"invalid YAML", "", []string{"package", badYAML}, []string{filepath.Join(badYAML, "Chart.yaml") + ":4:"}},
		{"non-SemVer version in Chart.yaml", "", []string{"package", badVersion}, []string{`"1.2" is not a strict SemVer 2 version`, "1.2.0"}},
		{"version read as a number", "", []string{"package", numVersion}, []string{"Chart.yaml:3:", "write it as a SemVer version: version: 1.0.0"}},
		{"non-SemVer --version", "", []string{"package", good, "--version", "v1.2.3"}, []string{"--version", "drop the leading v"}},
		{"lock out of sync", "", []string{"package", unlocked}, []string{"Chart.lock is out of sync", "16.0.0", "run `chartroom lock`"}},
		{"dependency not in charts/", "", []string{"package", missingDep}, []string{"local", "not in charts/", "run `chartroom dependency build`"}},
		{"bad SOURCE_DATE_EPOCH", "yesterday", []string{"package", good}, []string{"SOURCE_DATE_EPOCH", "Unix time"}},
		{"signing flags without --sign", "", []string{"package", good, "--key", "x"}, []string{"need --sign"}},
		{"bad output", "", []string{"package", good, "-o", "yaml"}, []string{"text or json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SOURCE_DATE_EPOCH", tc.env)
			out := t.TempDir()
			args := append(tc.args, "-d", out)
			if len(tc.args) == 1 {
				args = tc.args
			}
			tcRun(t, "", args...).want(t, 2, tc.want...)
			if left, _ := os.ReadDir(out); len(left) != 0 {
				t.Errorf("left behind in the destination: %v", left)
			}
		})
	}
}
