package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLockAndDependencyBuildCLI(t *testing.T) {
	isolateHome(t)
	srv := newCLIServer(t)
	run(t, cliPassword, "login", srv.host, "-u", cliUser, "--password-stdin", "--plain-http").wantExit(t, 0)
	for _, v := range []string{"1.0.0", "1.1.0"} {
		run(t, "", "push", cliArchive(t, t.TempDir(), "redis", v, "x"), srv.url+"/deps").wantExit(t, 0)
		run(t, "", "push", cliArchive(t, t.TempDir(), "pg", v, "x"), "oci://"+srv.host+"/deps", "--plain-http").wantExit(t, 0)
	}
	app := filepath.Join(t.TempDir(), "app")
	os.MkdirAll(app, 0o755)
	chartYAML := "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n" +
		"  - name: redis\n    version: ^1.0.0\n    repository: " + srv.url + "/deps\n" +
		"  - name: pg\n    version: ~1.0.0\n    repository: oci://" + srv.host + "/deps\n"
	os.WriteFile(filepath.Join(app, "Chart.yaml"), []byte(chartYAML), 0o644)

	run(t, "", "lock", app, "--check").wantExit(t, 1, "Chart.lock is missing", "run `chartroom lock")
	run(t, "", "dependency", "build", app).wantExit(t, 1, "out of sync")

	r := run(t, "", "lock", app, "--plain-http", "-o", "json")
	r.wantExit(t, 0)
	var locked struct {
		File, Digest string
		Changed      bool
		Dependencies []struct{ Name, Version, Repository string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &locked); err != nil || !locked.Changed || len(locked.Dependencies) != 2 ||
		locked.Dependencies[0].Version != "1.1.0" || locked.Dependencies[1].Version != "1.0.0" {
		t.Fatalf("lock -o json: %+v %v\n%s", locked, err, r.stdout)
	}
	run(t, "", "lock", app, "--plain-http").wantExit(t, 0, "Chart.lock is up to date")
	run(t, "", "lock", app, "--check").wantExit(t, 0, "matches Chart.yaml")

	r = run(t, "", "dep", "build", app, "--plain-http")
	r.wantExit(t, 0, "redis 1.1.0 -> "+filepath.Join(app, "charts", "redis-1.1.0.tgz"), "pg 1.0.0")

	// Chart.yaml changes without a new lock: the CI guard fails with the difference.
	os.WriteFile(filepath.Join(app, "Chart.yaml"), bytes.Replace([]byte(chartYAML), []byte("~1.0.0"), []byte("~1.1.0"), 1), 0o644)
	r = run(t, "", "lock", app, "--check")
	r.wantExit(t, 1, `pg: locked version 1.0.0 does not satisfy "~1.1.0" from Chart.yaml`, "out of sync with Chart.yaml (1 difference(s))")
	r = run(t, "", "lock", app, "--check", "-o", "json")
	var check lockCheckResult
	if err := json.Unmarshal([]byte(r.stdout), &check); err != nil || check.InSync || len(check.Differences) != 1 || r.code != 1 {
		t.Errorf("lock --check -o json: %+v %v exit %d", check, err, r.code)
	}
	run(t, "", "dependency", "build", app, "--plain-http").wantExit(t, 1, "out of sync")

	// Nothing satisfies: exit 2, Chart.lock untouched.
	before, _ := os.ReadFile(filepath.Join(app, "Chart.lock"))
	os.WriteFile(filepath.Join(app, "Chart.yaml"), []byte(strings.Replace(chartYAML, "^1.0.0", "^5", 1)), 0o644)
	run(t, "", "lock", app, "--plain-http").wantExit(t, 2, `redis "^5"`, "1.1.0, 1.0.0")
	if after, _ := os.ReadFile(filepath.Join(app, "Chart.lock")); !bytes.Equal(before, after) {
		t.Error("a failed lock changed Chart.lock")
	}
}
