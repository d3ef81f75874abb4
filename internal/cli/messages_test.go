package cli

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// version: 1.0 (a YAML number) gets the SemVer spelling at once; writing it is enough.
func TestNumericVersionSuggestsSemVer(t *testing.T) {
	for _, tc := range []struct{ written, want string }{{"1.0", "1.0.0"}, {"1.10", "1.10.0"}, {"2", "2.0.0"}} {
		dir := tcChart(t, filepath.Join(t.TempDir(), "myapp"), "myapp")
		tcWriteTree(t, dir, map[string]string{"Chart.yaml": "apiVersion: v2\nname: myapp\nversion: " + tc.written + "\n"})
		r := tcRun(t, "", "package", dir, "-d", t.TempDir())
		r.want(t, 2, "write it as a SemVer version: version: "+tc.want)
		if strings.Contains(r.stderr, "quote it") {
			t.Errorf("version: %s: still says to quote it: %s", tc.written, r.stderr)
		}
		tcWriteTree(t, dir, map[string]string{"Chart.yaml": "apiVersion: v2\nname: myapp\nversion: " + tc.want + "\n"})
		tcRun(t, "", "package", dir, "-d", t.TempDir()).want(t, 0)
	}
}

// Credentials from CHARTROOM_USERNAME and CHARTROOM_PASSWORD are named as such when the
// registry refuses them: they win over a stored login, which is what puzzles.
func TestRefusedCredentialsNameTheirSource(t *testing.T) {
	isolateHome(t)
	srv := newCLIServer(t)
	archive := cliArchive(t, t.TempDir(), "myapp", "1.0.0", "a")
	run(t, cliPassword+"\n", "login", srv.host, "-u", cliUser, "--password-stdin", "--plain-http").wantExit(t, 0)
	oci := "oci://" + srv.host + "/team"

	// The server throttles wrong passwords per user: each case has a user of its own.
	t.Setenv(envPassword, "stale token")
	const env = "rejected the credentials from CHARTROOM_USERNAME and CHARTROOM_PASSWORD (401 Unauthorized)"
	dir := tcChart(t, filepath.Join(t.TempDir(), "myapp"), "myapp")
	for i, args := range [][]string{
		{"push", archive, oci, "--plain-http"},
		{"push", archive, srv.url + "/team"},
		{"pull", oci + "/myapp", "--plain-http"},
		{"check", dir, "--against", oci + "/myapp", "--plain-http"},
		{"login", srv.host, "--plain-http"},
	} {
		t.Setenv(envUsername, fmt.Sprintf("ci%d", i))
		run(t, "", args...).wantExit(t, 2, env)
	}
	t.Setenv(envUsername, "ci")
	run(t, "", "push", archive, oci, "--plain-http").wantExit(t, 2, "check them; they are sent instead of any login stored by chartroom login")

	// Mixed: each part named where it came from.
	run(t, "", "push", archive, oci, "--plain-http", "-u", "ci-flag").
		wantExit(t, 2, "rejected the credentials from --username and CHARTROOM_PASSWORD")
	run(t, "stale\n", "push", archive, oci, "--plain-http", "--password-stdin").
		wantExit(t, 2, "rejected the credentials from CHARTROOM_USERNAME and --password-stdin")
	// All from flags: as before.
	run(t, "", "push", archive, oci, "--plain-http", "-u", "ci-flags", "-p", "stale").
		wantExit(t, 2, "rejected the given --username/--password")

	t.Setenv(envUsername, cliUser)
	t.Setenv(envPassword, cliPassword)
	run(t, "", "push", archive, oci, "--plain-http").wantExit(t, 0)
}
