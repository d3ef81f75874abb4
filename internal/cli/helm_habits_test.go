package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// helm's `dependency update` points to chartroom's two steps, whatever helm flags follow.
func TestDependencyUpdatePointsToLock(t *testing.T) {
	for _, args := range [][]string{
		{"dependency", "update"},
		{"dep", "up", "charts/myapp", "--skip-refresh"},
		{"dependency", "update", "-o", "json"},
	} {
		r := run(t, "", args...)
		dir := ""
		if len(args) > 2 && args[2] == "charts/myapp" {
			dir = " charts/myapp"
		}
		r.wantExit(t, 2, "what helm dependency update does takes two steps here, `chartroom lock"+dir+"`", "then `chartroom dependency build"+dir+"`")
	}
}

// package names chartroom's commands for a missing dependency and an out-of-sync lock.
func TestPackageNamesChartroomCommands(t *testing.T) {
	dir := tcChart(t, filepath.Join(t.TempDir(), "myapp"), "myapp")
	tcWriteTree(t, dir, map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: myapp\nversion: 1.0.0\ndependencies:\n  - name: db\n    version: 1.0.0\n    repository: https://charts.example.com\n",
	})
	r := tcRun(t, "", "package", dir, "-d", t.TempDir())
	r.want(t, 2, "run `chartroom dependency build` to fetch them")
	if strings.Contains(r.stderr, "helm dependency") {
		t.Errorf("package names helm's command: %s", r.stderr)
	}
}

// pull --untar and a .tgz URL, from the command line.
func TestPullUntarCLI(t *testing.T) {
	isolateHome(t)
	srv := newCLIServer(t)
	t.Setenv(envUsername, cliUser)
	t.Setenv(envPassword, cliPassword)
	archive := cliArchive(t, t.TempDir(), "myapp", "1.0.0", "a")
	run(t, "", "push", archive, srv.url+"/team").wantExit(t, 0)

	dest := t.TempDir()
	run(t, "", "pull", srv.url+"/team/charts/myapp-1.0.0.tgz", "-d", dest, "--untar", "--untardir", "vendor").
		wantExit(t, 0, "Expanded: "+filepath.Join(dest, "vendor", "myapp"))
	if _, err := os.Stat(filepath.Join(dest, "vendor", "myapp", "Chart.yaml")); err != nil {
		t.Error(err)
	}
	run(t, "", "pull", "myapp", "--repo", srv.url+"/team", "-d", dest, "--untar", "--untardir", "vendor").
		wantExit(t, 2, "already exists")
	run(t, "", "pull", srv.url+"/team/charts/myapp-1.0.0.tgz", "-d", dest).wantExit(t, 0, "Saved: "+filepath.Join(dest, "myapp-1.0.0.tgz"))
	run(t, "", "pull", srv.url+"/team/charts/myapp-1.0.0.tgz", "--untardir", "x").wantExit(t, 2, "--untardir applies to --untar")
}
