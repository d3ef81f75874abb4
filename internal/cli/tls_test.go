package cli

import (
	"path/filepath"
	"testing"

	"github.com/chartroom/chartroom/internal/server/servertest"
)

// Every command that talks to a server takes helm's TLS flags: --ca-file, --cert-file,
// --key-file (mutual TLS) and --insecure-skip-tls-verify.
func TestTLSFlags(t *testing.T) {
	isolateHome(t)
	srv := servertest.StartTLS(t, cliPassword, true)
	tlsFlags := []string{"--ca-file", srv.CAFile, "--cert-file", srv.CertFile, "--key-file", srv.KeyFile}
	archive := cliArchive(t, t.TempDir(), "myapp", "1.0.0", "a")
	oci := "oci://" + srv.Host

	run(t, cliPassword+"\n", append([]string{"login", srv.Host, "-u", cliUser, "--password-stdin"}, tlsFlags...)...).wantExit(t, 0, "Login Succeeded")
	run(t, "", append([]string{"push", archive, oci + "/team"}, tlsFlags...)...).wantExit(t, 0, "Pushed: ")
	run(t, "", append([]string{"push", archive, srv.URL + "/team"}, tlsFlags...)...).wantExit(t, 0, "Pushed: ")
	run(t, "", append([]string{"pull", oci + "/team/myapp", "-d", t.TempDir()}, tlsFlags...)...).wantExit(t, 0, "Saved: ")
	run(t, "", append([]string{"pull", "myapp", "--repo", srv.URL + "/team", "-d", t.TempDir()}, tlsFlags...)...).wantExit(t, 0, "Saved: ")
	run(t, "", "pull", oci+"/team/myapp", "-d", t.TempDir(), "--insecure-skip-tls-verify", "--cert-file", srv.CertFile, "--key-file", srv.KeyFile).wantExit(t, 0)
	dir := tcChart(t, filepath.Join(t.TempDir(), "myapp"), "myapp")
	run(t, "", append([]string{"check", dir, "--against", oci + "/team/myapp"}, tlsFlags...)...).wantExit(t, 1, "against 1.0.0")

	// What goes wrong says what to do.
	run(t, "", "pull", oci+"/team/myapp", "--ca-file", srv.CAFile).wantExit(t, 2, "requires a client certificate", "pass --cert-file and --key-file")
	run(t, "", "pull", oci+"/team/myapp", "--cert-file", srv.CertFile, "--key-file", srv.KeyFile).wantExit(t, 2, "unknown authority", "--ca-file")
	run(t, "", "pull", oci+"/team/myapp", "--cert-file", srv.CertFile).wantExit(t, 2, "--cert-file and --key-file go together")
	run(t, "", append([]string{"push", archive, oci + "/team", "--plain-http"}, tlsFlags...)...).wantExit(t, 2, srv.Host+" speaks HTTPS: drop --plain-http")
	run(t, "", append([]string{"login", srv.Host, "-u", cliUser, "-p", cliPassword, "--plain-http"}, tlsFlags...)...).wantExit(t, 2, "speaks HTTPS: drop --plain-http")
}
