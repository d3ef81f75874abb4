package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/server/servertest"
)

// The networked commands run against a real chartroom server in-process (OCI under /v2/, the
// classic repository elsewhere) with helm's and docker's credential files in a temporary
// directory.

const (
	cliUser     = "admin"
	cliPassword = "s3cret password"
)

type cliServer struct {
	url, host string
}

func newCLIServer(t *testing.T) *cliServer {
	t.Helper()
	srv := servertest.Start(t, cliPassword)
	return &cliServer{url: srv.URL, host: srv.Host}
}

// isolateHome points helm's, docker's and gpg's files into a temporary directory, unsets
// the credential variables and sets CI (no progress bars). It returns helm's registry config.
func isolateHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("HELM_CONFIG_HOME", filepath.Join(home, "helm"))
	t.Setenv("HELM_REGISTRY_CONFIG", filepath.Join(home, "helm", "registry", "config.json"))
	t.Setenv("HELM_REPOSITORY_CONFIG", filepath.Join(home, "helm", "repositories.yaml"))
	t.Setenv("DOCKER_CONFIG", filepath.Join(home, "docker"))
	t.Setenv("GNUPGHOME", filepath.Join(home, "gnupg"))
	t.Setenv(envUsername, "")
	t.Setenv(envPassword, "")
	t.Setenv("CI", "true")
	return filepath.Join(home, "helm", "registry", "config.json")
}

// result is one run of chartroom.
type result struct {
	code           int
	stdout, stderr string
}

// run runs chartroom as main does, with stdin.
func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := execute(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// execute is Execute with a standard input.
func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	old := os.Stdin
	r, w, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	go func() {
		io.Copy(w, stdin)
		w.Close()
	}()
	os.Stdin = r
	defer func() { os.Stdin = old; r.Close() }()
	return Execute(ctx, args, stdout, stderr)
}

// wantExit fails unless the run exited with code and, for failures, printed one line on
// stderr containing each of want.
func (r result) wantExit(t *testing.T, code int, want ...string) {
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
	for _, w := range want {
		if !strings.Contains(r.stderr+r.stdout, w) {
			t.Errorf("output lacks %q\nstdout: %s\nstderr: %s", w, r.stdout, r.stderr)
		}
	}
}

// cliArchive packages a small chart into dir and returns the archive's path.
func cliArchive(t *testing.T, dir, name, version, extra string) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), name)
	os.MkdirAll(filepath.Join(src, "templates"), 0o755)
	os.WriteFile(filepath.Join(src, "Chart.yaml"), []byte("apiVersion: v2\nname: "+name+"\nversion: "+version+"\n"), 0o644)
	os.WriteFile(filepath.Join(src, "values.yaml"), []byte("x: 1\n"), 0o644)
	os.WriteFile(filepath.Join(src, "templates", "cm.yaml"), []byte("# "+extra+"\n"), 0o644)
	path, _, err := chart.PackageToDir(context.Background(), src, dir, chart.PackageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoginLogout(t *testing.T) {
	helmConfig := isolateHome(t)
	srv := newCLIServer(t)
	archive := cliArchive(t, t.TempDir(), "myapp", "1.0.0", "a")

	run(t, "wrong\n", "login", srv.host, "-u", cliUser, "--password-stdin", "--plain-http").
		wantExit(t, 2, "rejected the username and password")
	run(t, "", "login", srv.host, "--plain-http").
		wantExit(t, 2, "no credentials for "+srv.host, "--password-stdin")
	run(t, "", "login", srv.host, "-u", cliUser, "-p", "x", "--password-stdin").
		wantExit(t, 2, "give the password once")

	r := run(t, cliPassword+"\n", "login", srv.host, "-u", cliUser, "--password-stdin", "--plain-http")
	r.wantExit(t, 0, "Login Succeeded", helmConfig)
	if _, err := os.Stat(helmConfig); err != nil {
		t.Fatalf("helm's registry config not written: %v", err)
	}
	run(t, "", "push", archive, "oci://"+srv.host+"/team", "--plain-http").wantExit(t, 0, "Pushed: "+srv.host+"/team/myapp:1.0.0")
	run(t, "", "push", archive, srv.url+"/team").wantExit(t, 0)

	run(t, "", "logout", srv.host).wantExit(t, 0, "Removed the login for "+srv.host)
	run(t, "", "logout", srv.host).wantExit(t, 2, "no login for "+srv.host)
	run(t, "", "push", archive, "oci://"+srv.host+"/team", "--plain-http").
		wantExit(t, 2, "requires a login", "chartroom login "+srv.host)

	// The environment, for CI.
	t.Setenv(envUsername, cliUser)
	t.Setenv(envPassword, cliPassword)
	run(t, "", "login", "http://"+srv.host).wantExit(t, 0, "Login Succeeded")
}

// Every networked command documents an example and its exit codes.
func TestClientCommandsHelp(t *testing.T) {
	for _, args := range [][]string{{"login"}, {"logout"}, {"push"}, {"pull"}, {"lock"}, {"dependency", "build"}} {
		r := run(t, "", append(args, "--help")...)
		r.wantExit(t, 0, "Examples:", "Exit codes:", "chartroom "+args[0])
	}
}
