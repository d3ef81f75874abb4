package cli

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chartroom/chartroom/internal/chart"
)

// A chart never published fails check with exit 2 and a message naming --allow-new; with
// --allow-new it passes with a note, over OCI, a chart repository and git alike. Once the
// chart is published, --allow-new changes nothing.
func TestCheckAllowNew(t *testing.T) {
	isolateHome(t)
	srv := newCLIServer(t)
	t.Setenv(envUsername, cliUser)
	t.Setenv(envPassword, cliPassword)
	dir := tcChart(t, filepath.Join(t.TempDir(), "newapp"), "newapp")

	for name, against := range map[string][]string{
		"oci":        {"--against", "oci://" + srv.host + "/team/newapp", "--plain-http"},
		"repository": {"--against", srv.url + "/team"},
	} {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"check", dir}, against...)
			run(t, "", args...).wantExit(t, 2, "has no chart newapp", "if this is the first release of newapp, pass --allow-new")

			r := run(t, "", append(args, "--allow-new")...)
			r.wantExit(t, 0, "newapp 1.4.2: first release", "note: first release: "+against[1]+" has no published version", "verdict: ok")

			r = run(t, "", append(args, "--allow-new", "-o", "json")...)
			r.wantExit(t, 0)
			var rep struct {
				Verdict, Baseline, Suggested string
				FirstRelease                 bool
				Notes                        []string
			}
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || !rep.FirstRelease || rep.Verdict != "ok" || rep.Baseline != "" || rep.Suggested != "1.4.2" || len(rep.Notes) != 1 {
				t.Errorf("check --allow-new -o json: %+v %v\n%s", rep, err, r.stdout)
			}
			run(t, "", append(args, "--allow-new", "--suggest")...).wantExit(t, 0, "1.4.2")
		})
	}

	// The rules of a chart alone still hold for a first release.
	bad := tcChart(t, filepath.Join(t.TempDir(), "newapp"), "newapp")
	tcWriteTree(t, bad, map[string]string{"Chart.yaml": "apiVersion: v2\nname: newapp\nversion: \"1.0\"\n"})
	r := run(t, "", "check", bad, "--against", srv.url+"/team", "--allow-new")
	r.wantExit(t, 1, "version: \"1.0\" is not a strict SemVer 2 version: write it as 1.0.0")
	r = run(t, "", "check", bad, "--against", srv.url+"/team", "--allow-new", "--suggest")
	if r.stdout != "1.0.0\n" {
		t.Errorf("--suggest for version 1.0 printed %q", r.stdout)
	}

	// Published: a real baseline is compared as always, --allow-new or not.
	tgz, _, err := chart.PackageToDir(context.Background(), dir, t.TempDir(), chart.PackageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	run(t, "", "push", tgz, "oci://"+srv.host+"/team", "--plain-http").wantExit(t, 0)
	tcWriteTree(t, dir, map[string]string{"values.yaml": "replicas: 2\n"})
	run(t, "", "check", dir, "--against", "oci://"+srv.host+"/team/newapp", "--plain-http", "--allow-new").
		wantExit(t, 1, "content changed but version 1.4.2 did not")
	// A version that does not exist is not a first release.
	run(t, "", "check", dir, "--against", srv.url+"/team", "--baseline-version", "9.9.9", "--allow-new").wantExit(t, 2, "9.9.9")
	// Nor is a registry that cannot be reached.
	run(t, "", "check", dir, "--against", "oci://127.0.0.1:1/team/newapp", "--plain-http", "--allow-new").wantExit(t, 2, "cannot reach")
}

// Against a git revision before the chart directory existed.
func TestCheckAllowNewGit(t *testing.T) {
	isolateHome(t)
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	repo := t.TempDir()
	for _, args := range [][]string{
		{"init", "-q"},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "start"},
	} {
		if out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	dir := tcChart(t, filepath.Join(repo, "charts", "newapp"), "newapp")
	run(t, "", "check", dir, "--against", "HEAD").wantExit(t, 2, "did not exist at", "pass --allow-new")
	run(t, "", "check", dir, "--against", "HEAD", "--allow-new").
		wantExit(t, 0, "first release", "the chart directory did not exist at git revision HEAD", "verdict: ok")
	// A revision that does not exist is a mistake, not a first release.
	run(t, "", "check", dir, "--against", "no-such-branch", "--allow-new").wantExit(t, 2, "--against takes")
}
