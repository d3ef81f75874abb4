package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// Pushing to oci://HOST/team/myapp, the chart's own reference, creates team/myapp/myapp as
// helm push would, and says so on stderr with what to type instead.
func TestPushWarnsOfNameInNamespace(t *testing.T) {
	isolateHome(t)
	srv := newCLIServer(t)
	t.Setenv(envUsername, cliUser)
	t.Setenv(envPassword, cliPassword)
	archive := cliArchive(t, t.TempDir(), "myapp", "1.0.0", "a")
	oci := "oci://" + srv.host

	r := run(t, "", "push", archive, oci+"/team/myapp", "--plain-http")
	r.wantExit(t, 0, "Pushed: "+srv.host+"/team/myapp/myapp:1.0.0")
	want := "warning: created " + oci + "/team/myapp/myapp: the destination is a namespace and push adds the chart's name to it, as helm push does; to publish " +
		oci + "/team/myapp, push to " + oci + "/team instead\n"
	if r.stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
	}
	// The push happened, where helm would have put it.
	run(t, "", "pull", oci+"/team/myapp/myapp", "--version", "1.0.0", "--plain-http", "-d", t.TempDir()).wantExit(t, 0)

	// In the root namespace too; the JSON result carries the warning.
	r = run(t, "", "push", archive, oci+"/myapp", "--plain-http", "-o", "json")
	r.wantExit(t, 0)
	var res struct {
		Ref      string
		Warnings []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Ref != srv.host+"/myapp/myapp:1.0.0" || len(res.Warnings) != 1 ||
		!strings.Contains(res.Warnings[0], "push to "+oci+" instead") || !strings.Contains(r.stderr, "warning: ") {
		t.Errorf("push -o json: %+v %v\nstdout: %s\nstderr: %s", res, err, r.stdout, r.stderr)
	}

	// No warning where the namespace does not end with the chart's name.
	for _, dest := range []string{oci + "/team", oci + "/myapp-charts", srv.url + "/myapp"} {
		r = run(t, "", "push", archive, dest, "--plain-http")
		r.wantExit(t, 0)
		if r.stderr != "" {
			t.Errorf("push to %s warned: %s", dest, r.stderr)
		}
	}
}
