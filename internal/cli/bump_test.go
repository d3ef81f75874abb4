package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/chart"
)

func TestBumpEditsInPlace(t *testing.T) {
	for _, tc := range []struct {
		name, chartYAML, args, want, out string
	}{
		{
			name: "comments, order and quoting kept; appVersion set quoted",
			chartYAML: "# My app\napiVersion: v2\nname: myapp # the name\n\n" +
				"version: '1.4.2'   # bumped by CI\nappVersion: \"2.3.0\"\ndescription: x\n",
			args: "minor --app-version 2.3.1",
			want: "# My app\napiVersion: v2\nname: myapp # the name\n\n" +
				"version: '1.5.0'   # bumped by CI\nappVersion: \"2.3.1\"\ndescription: x\n",
			out: "myapp 1.4.2 → 1.5.0 (appVersion 2.3.0 → 2.3.1)\n",
		},
		{
			name:      "unquoted appVersion is quoted, even when not set",
			chartYAML: "apiVersion: v2\nname: myapp\nversion: 1.4.2\nappVersion: 1.10 # read as 1.1 unquoted\n",
			args:      "patch",
			want:      "apiVersion: v2\nname: myapp\nversion: 1.4.3\nappVersion: \"1.10\" # read as 1.1 unquoted\n",
			out:       "myapp 1.4.2 → 1.4.3\n",
		},
		{
			name:      "unquoted appVersion replaced",
			chartYAML: "apiVersion: v2\nname: myapp\nversion: 1.4.2\nappVersion: 2.3.0\n",
			args:      "prerelease --app-version 2.4.0-beta.1",
			want:      "apiVersion: v2\nname: myapp\nversion: 1.4.3-rc.0\nappVersion: \"2.4.0-beta.1\"\n",
			out:       "myapp 1.4.2 → 1.4.3-rc.0 (appVersion 2.3.0 → 2.4.0-beta.1)\n",
		},
		{
			name:      "appVersion added",
			chartYAML: "apiVersion: v2\nname: myapp\nversion: 1.4.2\n",
			args:      "major --app-version 3",
			want:      "apiVersion: v2\nname: myapp\nversion: 2.0.0\nappVersion: \"3\"\n",
			out:       "myapp 1.4.2 → 2.0.0 (appVersion (none) → 3)\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "Chart.yaml")
			os.WriteFile(p, []byte(tc.chartYAML), 0o640)
			fields := strings.Fields(tc.args)
			r := tcRun(t, "", append([]string{"bump", fields[0], dir}, fields[1:]...)...)
			r.want(t, 0)
			if r.stdout != tc.out {
				t.Errorf("printed %q, want %q", r.stdout, tc.out)
			}
			got, _ := os.ReadFile(p)
			if string(got) != tc.want {
				t.Errorf("Chart.yaml:\n%s\nwant:\n%s", got, tc.want)
			}
			if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
				t.Errorf("mode %v, want 0640 kept", fi.Mode().Perm())
			}
			if _, err := chart.ParseMetadata(got); err != nil {
				t.Errorf("the result does not parse: %v", err)
			}
		})
	}
}

func TestBumpJSONAndDefaultDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Chart.yaml"), []byte("apiVersion: v2\nname: myapp\nversion: 1.4.2\nappVersion: \"2.3.0\"\n"), 0o644)
	wd, _ := os.Getwd()
	t.Cleanup(func() { os.Chdir(wd) })
	os.Chdir(dir)
	r := tcRun(t, "", "bump", "patch", "-o", "json")
	r.want(t, 0)
	var res bumpResult
	r.json(t, &res)
	if !reflect.DeepEqual(res, bumpResult{File: "Chart.yaml", Name: "myapp", OldVersion: "1.4.2", Version: "1.4.3", OldAppVersion: "2.3.0", AppVersion: "2.3.0"}) {
		t.Errorf("result %+v", res)
	}
}

// A prerelease bump to an identifier that sorts lower is made, with a warning that says so.
func TestBumpWarnsWhenTheResultSortsLower(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Chart.yaml"), []byte("apiVersion: v2\nname: myapp\nversion: 1.5.1-rc.1\n"), 0o644)
	r := tcRun(t, "", "bump", "prerelease", "--preid", "beta", dir)
	r.want(t, 0)
	if !strings.Contains(r.stdout, "1.5.1-rc.1 → 1.5.1-beta.0") || !strings.Contains(r.stderr, "warning: 1.5.1-beta.0 sorts lower than 1.5.1-rc.1") {
		t.Fatalf("stdout %q stderr %q: want the bump and a warning that it sorts lower", r.stdout, r.stderr)
	}
	r = tcRun(t, "", "bump", "prerelease", "--preid", "rc", dir, "-o", "json")
	r.want(t, 0)
	var res bumpResult
	r.json(t, &res)
	if res.Version != "1.5.1-rc.0" || len(res.Warnings) != 0 {
		t.Fatalf("beta.0 → rc: %+v; want 1.5.1-rc.0 without warnings", res)
	}
}

func TestBumpRefuses(t *testing.T) {
	root := t.TempDir()
	mk := func(name, content string) string {
		d := filepath.Join(root, name)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "Chart.yaml"), []byte(content), 0o644)
		return d
	}
	loose := mk("loose", "apiVersion: v2\nname: x\nversion: v1.2.3\n")
	short := mk("short", "apiVersion: v2\nname: x\nversion: \"1.2\"\n")
	none := mk("none", "apiVersion: v2\nname: x\n")
	bad := mk("bad", "apiVersion: v2\nname: x\nversion: 1.0.0\n  oops: [\n")
	good := mk("good", "apiVersion: v2\nname: x\nversion: 1.0.0\n")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no kind", []string{"bump"}, []string{"major, minor, patch or prerelease"}},
		{"unknown kind", []string{"bump", "huge", good}, []string{`"huge"`, "major, minor, patch or prerelease"}},
		{"leading v", []string{"bump", "patch", loose}, []string{"not a strict SemVer", "drop the leading v"}},
		{"short version", []string{"bump", "patch", short}, []string{"not a strict SemVer", "1.2.0"}},
		{"no version", []string{"bump", "patch", none}, []string{"has no version"}},
		{"invalid YAML", []string{"bump", "patch", bad}, []string{filepath.Join(bad, "Chart.yaml") + ":4:"}},
		{"no Chart.yaml", []string{"bump", "patch", root}, []string{"has no Chart.yaml"}},
		{"missing directory", []string{"bump", "patch", filepath.Join(root, "nope")}, []string{"does not exist"}},
		{"preid on patch", []string{"bump", "patch", good, "--preid", "beta"}, []string{"--preid"}},
		{"bad preid", []string{"bump", "prerelease", good, "--preid", "a.b"}, []string{"--preid"}},
		{"empty app version", []string{"bump", "patch", good, "--app-version", ""}, []string{"--app-version"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := os.ReadFile(filepath.Join(good, "Chart.yaml"))
			tcRun(t, "", tc.args...).want(t, 2, tc.want...)
			after, _ := os.ReadFile(filepath.Join(good, "Chart.yaml"))
			if string(before) != string(after) {
				t.Error("Chart.yaml changed despite the error")
			}
		})
	}
}
