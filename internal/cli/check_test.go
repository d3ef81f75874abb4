package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/chart"
)

// scenario names a chart pair of internal/release's corpus.
func scenario(name string) (base, changed string) {
	dir := filepath.Join("..", "release", "testdata", "scenarios", name)
	return filepath.Join(dir, "base"), filepath.Join(dir, "changed")
}

func TestCheckLocalBaselines(t *testing.T) {
	isolateHome(t)
	base, changed := scenario("23-resource-removed-by-if-default-flip")
	tgz, _, err := chart.PackageToDir(context.Background(), base, t.TempDir(), chart.PackageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, against := range []string{base, tgz} {
		r := run(t, "", "check", changed, "--against", against)
		r.wantExit(t, 1, "major (breaking): 1", "resources: Service/release-name-webapp removed", "verdict: fail",
			"bump to 2.0.0")

		r = run(t, "", "check", changed, "--against", against, "-o", "json")
		r.wantExit(t, 1)
		var rep struct {
			Required, Verdict, Suggested, Current, Baseline string
			Changes                                         []struct{ Severity, Area, Path, Message, File string }
			Problems                                        []struct{ Level, Rule string }
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("json: %v\n%s", err, r.stdout)
		}
		if rep.Required != "major" || rep.Verdict != "fail" || rep.Suggested != "2.0.0" || len(rep.Changes) != 2 || rep.Problems[0].Rule != "bump-too-small" {
			t.Errorf("json report: %+v", rep)
		}

		r = run(t, "", "check", changed, "--against", against, "--suggest")
		r.wantExit(t, 0)
		if r.stdout != "2.0.0\n" {
			t.Errorf("--suggest printed %q", r.stdout)
		}
	}

	r := run(t, "", "check", changed, "--against", base, "--format", "github")
	r.wantExit(t, 1)
	if !strings.Contains(r.stdout, "::error file=") || !strings.Contains(r.stdout, "/Chart.yaml,line=5,title=chartroom check%3A bump-too-small::") {
		t.Errorf("github annotations:\n%s", r.stdout)
	}

	// Passing and warning checks exit 0.
	base, changed = scenario("27-resource-enabled-by-default")
	run(t, "", "check", changed, "--against", base).wantExit(t, 0, "verdict: ok")
	base, changed = scenario("38-frozen-appversion-warn")
	run(t, "", "check", changed, "--against", base).wantExit(t, 0, "warning: values.yaml:6: frozen appVersion", "verdict: warn")
	run(t, "", "check", changed, "--against", base, "--strict").wantExit(t, 1, "frozen appVersion")
	run(t, "", "check", changed, "--against", base, "--image-tag-key", "nothing.here").wantExit(t, 0, "verdict: ok")
}

func TestCheckUsageErrors(t *testing.T) {
	isolateHome(t)
	base, changed := scenario("01-identical")
	for name, tt := range map[string]struct {
		args []string
		want string
	}{
		"no baseline":      {[]string{"check", changed}, "--against is required"},
		"bad output":       {[]string{"check", changed, "--against", base, "-o", "xml"}, "use text, json or github"},
		"formats disagree": {[]string{"check", changed, "--against", base, "-o", "json", "--format", "github"}, "disagree"},
		"missing archive":  {[]string{"check", changed, "--against", "nope-1.0.0.tgz"}, "no such file"},
		"not a revision":   {[]string{"check", changed, "--against", "no-such-revision"}, "--against takes"},
		"no chart":         {[]string{"check", t.TempDir(), "--against", base}, "Chart.yaml"},
		"two dirs":         {[]string{"check", changed, base, "--against", base}, "at most one chart directory"},
		"version flag":     {[]string{"check", changed, "--against", base, "--baseline-version", "1.0.0"}, "oci:// and https://"},
	} {
		t.Run(name, func(t *testing.T) {
			run(t, "", tt.args...).wantExit(t, 2, tt.want)
		})
	}
}

// TestCheckAgainstRegistry publishes the baseline to a chartroom server and
// checks against it over OCI and the classic repository.
func TestCheckAgainstRegistry(t *testing.T) {
	isolateHome(t)
	srv := newCLIServer(t)
	t.Setenv(envUsername, cliUser)
	t.Setenv(envPassword, cliPassword)
	base, changed := scenario("05-values-key-removed-patch-bump")
	tgz, _, err := chart.PackageToDir(context.Background(), base, t.TempDir(), chart.PackageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	run(t, "", "push", tgz, "oci://"+srv.host+"/team", "--plain-http").wantExit(t, 0)

	for _, args := range [][]string{
		{"--against", "oci://" + srv.host + "/team/webapp", "--plain-http"},
		{"--against", "oci://" + srv.host + "/team/webapp:1.4.2", "--plain-http"},
		{"--against", srv.url + "/team"},
		{"--against", srv.url + "/team", "--baseline-version", "^1.4"},
	} {
		r := run(t, "", append([]string{"check", changed}, args...)...)
		r.wantExit(t, 1, "values: .image.repository removed", "against 1.4.2", "bump to 2.0.0")
	}
	run(t, "", "check", changed, "--against", srv.url+"/team", "--baseline-version", "9.9.9").wantExit(t, 2, "9.9.9")
	// The published chart compared with its own directory: nothing to release.
	run(t, "", "check", base, "--against", "oci://"+srv.host+"/team/webapp", "--plain-http").wantExit(t, 0, "no changes", "verdict: ok")
}

func TestBumpAuto(t *testing.T) {
	isolateHome(t)
	base, changed := scenario("23-resource-removed-by-if-default-flip")
	dir := filepath.Join(t.TempDir(), "webapp")
	if err := os.CopyFS(dir, os.DirFS(changed)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "Chart.yaml"))

	r := run(t, "", "bump", "auto", dir, "--against", base)
	r.wantExit(t, 0)
	if r.stdout != "webapp 1.4.3 → 2.0.0\n" || !strings.Contains(r.stderr, "require a major bump") {
		t.Errorf("bump auto printed %q / %q", r.stdout, r.stderr)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if want := strings.Replace(string(before), "version: 1.4.3", "version: 2.0.0", 1); string(after) != want {
		t.Errorf("Chart.yaml after bump auto:\n%s\nwant\n%s", after, want)
	}
	run(t, "", "check", dir, "--against", base).wantExit(t, 0, "verdict: ok")

	// Already enough: nothing written.
	r = run(t, "", "bump", "auto", dir, "--against", base)
	r.wantExit(t, 0)
	if r.stdout != "webapp 2.0.0: already a valid version after 1.4.2 (required bump: major)\n" {
		t.Errorf("second bump auto printed %q", r.stdout)
	}
	r = run(t, "", "bump", "auto", dir, "--against", base, "-o", "json")
	r.wantExit(t, 0)
	var res struct{ OldVersion, Version string }
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.OldVersion != "2.0.0" || res.Version != "2.0.0" {
		t.Errorf("bump auto -o json: %+v %v\n%s", res, err, r.stdout)
	}

	run(t, "", "bump", "auto", dir).wantExit(t, 2, "--against is required")
	run(t, "", "bump", "auto", dir, "--against", base, "--app-version", "1.2.3").wantExit(t, 2, "no --app-version")
}
