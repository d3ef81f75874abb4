package e2e

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The networked half of the toolchain against the real helm v3 and v4: chartroom push,
// pull, login, lock and dependency build interoperate with helm push, pull, registry login,
// repo add and dependency update/build over both transports.

// tcResult is one chartroom run.
type tcResult struct {
	stdout, stderr string
	code           int
}

// chartroom runs the binary under test in e's environment plus extra variables, in dir
// ("" for the test's HOME), with stdin.
func (e *toolEnv) tcRun(dir, stdin string, extraEnv []string, args ...string) tcResult {
	e.t.Helper()
	bin := chartroomBin(e.t)
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(append([]string{}, e.env...), extraEnv...)
	cmd.Dir = dir
	if dir == "" {
		cmd.Dir = e.home
	}
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		e.t.Fatalf("run chartroom: %v", err)
	}
	e.t.Logf("$ chartroom %s\n%s%s[exit %d]", redact(args), stdout.String(), stderr.String(), code)
	return tcResult{stdout.String(), stderr.String(), code}
}

// mustChartroom runs chartroom and fails the test unless it exits 0.
func (e *toolEnv) tcMust(args ...string) string {
	e.t.Helper()
	r := e.tcRun("", "", nil, args...)
	if r.code != 0 {
		e.t.Fatalf("chartroom %s: exit %d\n%s%s", redact(args), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// wantFailure fails the test unless r exited with code and printed exactly one line on
// stderr (no stack trace) containing each of want.
func (r tcResult) wantFailure(t *testing.T, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "chartroom: ") || strings.Contains(r.stderr, "goroutine ") {
		t.Errorf("stderr is not one line:\n%s", r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
}

// helmChart creates and packages a chart with helm, returning the archive.
func tcHelmChart(t *testing.T, e *toolEnv, helm, dir, name, version string) string {
	t.Helper()
	src := filepath.Join(dir, "src", name)
	if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
		t.Fatal(err)
	}
	e.must(helm, "create", src)
	chartYAML := filepath.Join(src, "Chart.yaml")
	b, err := os.ReadFile(chartYAML)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("version: 0.1.0"), []byte("version: "+version), 1)
	os.WriteFile(chartYAML, b, 0o644)
	// Content of its own: charts of the same name and version made in different
	// directories differ.
	f, err := os.OpenFile(filepath.Join(src, "values.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\n# made in " + dir + "\n")
	f.Close()
	out := filepath.Join(dir, "dist")
	e.must(helm, "package", src, "--destination", out)
	return filepath.Join(out, name+"-"+version+".tgz")
}

func tcSameFile(t *testing.T, got, want string) {
	t.Helper()
	if g, w := fileSHA256(t, got), fileSHA256(t, want); g != w {
		t.Errorf("%s has sha256 %s; %s has %s", got, g, want, w)
	}
}

// TestToolchainPushPullInterop: chartroom push → helm pull and helm push → chartroom pull,
// over OCI and the classic repository, with the login helm registry login stored.
func TestToolchainPushPullInterop(t *testing.T) {
	for _, h := range helmVersions {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			helm := need(t, h)
			srv := StartServer(t)
			e := newToolEnv(t)
			host, plain := srv.Host(), "--plain-http"
			work := t.TempDir()

			t.Log("helm registry login; chartroom push uses that stored login")
			e.must(helm, "registry", "login", host, "--username", "admin", "--password", srv.Password, plain)
			demo := tcHelmChart(t, e, helm, work, "demo", "0.1.0")
			out := e.tcMust("push", demo, "oci://"+host+"/team", plain)
			crDigest := printedDigest(t, out)

			t.Log("the manifest is helm push's: the same archive pushed by helm has the same manifest digest")
			out = e.must(helm, "push", demo, "oci://"+host+"/helmpushed", plain)
			if d := printedDigest(t, out); d != crDigest {
				t.Errorf("helm push made manifest %s; chartroom push made %s", d, crDigest)
			}

			t.Log("chartroom push (OCI) → helm pull (OCI), byte-identical")
			dest := t.TempDir()
			e.must(helm, "pull", "oci://"+host+"/team/demo", "--version", "0.1.0", plain, "--destination", dest)
			tcSameFile(t, filepath.Join(dest, "demo-0.1.0.tgz"), demo)

			t.Log("chartroom push (upload API) → helm pull --repo, byte-identical")
			web := tcHelmChart(t, e, helm, work, "web", "1.2.3")
			e.tcMust("push", web, srv.URL("/team"))
			dest = t.TempDir()
			e.must(helm, "pull", "web", "--repo", srv.URL("/team"), "--version", "1.2.3", "--username", "admin", "--password", srv.Password, "--destination", dest)
			tcSameFile(t, filepath.Join(dest, "web-1.2.3.tgz"), web)
			dest = t.TempDir()
			e.must(helm, "pull", "oci://"+host+"/team/web", "--version", "1.2.3", plain, "--destination", dest)
			tcSameFile(t, filepath.Join(dest, "web-1.2.3.tgz"), web)

			t.Log("helm push → chartroom pull over both transports, byte-identical")
			api := tcHelmChart(t, e, helm, work, "api", "2.0.0")
			e.must(helm, "push", api, "oci://"+host+"/team", plain)
			for name, args := range map[string][]string{
				"oci":    {"pull", "oci://" + host + "/team/api", "--version", "^2", plain},
				"https":  {"pull", srv.URL("/team"), "api", "--version", "2.0.0"},
				"--repo": {"pull", "api", "--repo", srv.URL("/team")},
			} {
				dest := t.TempDir()
				e.tcMust(append(args, "-d", dest)...)
				t.Run(name, func(t *testing.T) { tcSameFile(t, filepath.Join(dest, "api-2.0.0.tgz"), api) })
			}
		})
	}
}

// TestToolchainLoginForHelm: chartroom login stores the login where helm pull and helm push
// find it.
func TestToolchainLoginForHelm(t *testing.T) {
	for _, h := range helmVersions {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			helm := need(t, h)
			srv := StartServer(t)
			e := newToolEnv(t)
			host, plain := srv.Host(), "--plain-http"
			demo := tcHelmChart(t, e, helm, t.TempDir(), "demo", "0.1.0")

			e.tcRun("", "wrong", nil, "login", host, "-u", "admin", "--password-stdin", plain).
				wantFailure(t, 2, "rejected the username and password", "401")
			r := e.tcRun("", srv.Password+"\n", nil, "login", host, "-u", "admin", "--password-stdin", plain)
			if r.code != 0 || !strings.Contains(r.stdout, "Login Succeeded") {
				t.Fatalf("chartroom login: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			e.must(helm, "push", demo, "oci://"+host+"/team", plain)
			dest := t.TempDir()
			e.must(helm, "pull", "oci://"+host+"/team/demo", "--version", "0.1.0", plain, "--destination", dest)
			tcSameFile(t, filepath.Join(dest, "demo-0.1.0.tgz"), demo)

			e.tcMust("logout", host)
			if out, err := e.run(helm, "pull", "oci://"+host+"/team/demo", "--version", "0.1.0", plain, "--destination", t.TempDir()); err == nil {
				t.Errorf("helm pull succeeded after chartroom logout:\n%s", out)
			}
		})
	}
}

// tcLockFile is what the test compares of Chart.lock.
type tcLockFile struct {
	Digest       string
	Dependencies []tcLockDep
}

type tcLockDep struct{ Name, Version, Repository string }

func tcReadLock(t *testing.T, path string) tcLockFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Chart.lock as helm and chartroom write it: digest, generated, and dependencies as a
	// list of name/repository/version maps. Parsed by hand: the e2e module has no YAML library.
	var l tcLockFile
	for _, line := range strings.Split(string(b), "\n") {
		key, value, _ := strings.Cut(strings.TrimLeft(strings.TrimSpace(line), "- "), ": ")
		value = strings.Trim(value, `"'`)
		if strings.HasPrefix(line, "- ") {
			l.Dependencies = append(l.Dependencies, tcLockDep{})
		}
		switch {
		case key == "digest" && !strings.HasPrefix(line, " "):
			l.Digest = value
		case len(l.Dependencies) == 0:
		case key == "name":
			l.Dependencies[len(l.Dependencies)-1].Name = value
		case key == "version":
			l.Dependencies[len(l.Dependencies)-1].Version = value
		case key == "repository":
			l.Dependencies[len(l.Dependencies)-1].Repository = value
		}
	}
	if l.Digest == "" {
		t.Fatalf("%s has no digest:\n%s", path, b)
	}
	return l
}

// copyDir copies a directory tree of regular files.
func tcCopyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, fi.Mode())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestToolchainLockMatchesHelm: chartroom lock writes the Chart.lock helm dependency update
// writes (versions and digest) for dependencies on a chartroom https repository, an OCI
// namespace, an @name repository and a file:// chart; each tool builds from the other's lock;
// lock --check fails once Chart.yaml changes.
func TestToolchainLockMatchesHelm(t *testing.T) {
	for _, h := range helmVersions {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			helm := need(t, h)
			srv := StartServer(t)
			e := newToolEnv(t)
			host, plain := srv.Host(), "--plain-http"
			work := t.TempDir()
			repoURL := srv.URL("/deps")

			e.tcMust("push", tcHelmChart(t, e, helm, work, "lib", "0.3.0"), repoURL, "-u", "admin", "-p", srv.Password)
			for _, v := range []string{"1.0.0", "1.1.0", "2.0.0"} {
				e.tcMust("push", tcHelmChart(t, e, helm, filepath.Join(work, v), "redis", v), repoURL, "-u", "admin", "-p", srv.Password)
			}
			for _, v := range []string{"3.0.0", "3.1.0", "3.2.0-beta.1"} {
				e.tcMust("push", tcHelmChart(t, e, helm, filepath.Join(work, v), "pg", v), "oci://"+host+"/deps", plain, "-u", "admin", "-p", srv.Password)
			}
			// Both tools read the same logins: helm's registry login and helm repo add's.
			e.must(helm, "registry", "login", host, "--username", "admin", "--password", srv.Password, plain)
			e.must(helm, "repo", "add", "deps", repoURL, "--username", "admin", "--password", srv.Password)

			base := filepath.Join(work, "base")
			os.MkdirAll(base, 0o755)
			e.must(helm, "create", filepath.Join(base, "app"))
			e.must(helm, "create", filepath.Join(base, "local"))
			chartYAML := filepath.Join(base, "app", "Chart.yaml")
			b, _ := os.ReadFile(chartYAML)
			b = append(b, []byte("dependencies:\n"+
				"  - name: redis\n    version: ^1.0.0\n    repository: "+repoURL+"\n    condition: redis.enabled\n"+
				"  - name: pg\n    version: ~3\n    repository: oci://"+host+"/deps\n"+
				"  - name: pg\n    alias: pg-old\n    version: 3.0.0\n    repository: oci://"+host+"/deps\n"+
				"  - name: redis\n    alias: cache\n    version: \"1.0.0\"\n    repository: \"@deps\"\n    tags: [cache]\n"+
				"  - name: local\n    version: \">=0.1.0\"\n    repository: file://../local\n")...)
			os.WriteFile(chartYAML, b, 0o644)
			helmDir, crDir := filepath.Join(work, "helm"), filepath.Join(work, "chartroom")
			tcCopyDir(t, base, helmDir)
			tcCopyDir(t, base, crDir)

			e.must(helm, "dependency", "update", filepath.Join(helmDir, "app"), plain)
			e.tcMust("lock", filepath.Join(crDir, "app"), plain)
			hl := tcReadLock(t, filepath.Join(helmDir, "app", "Chart.lock"))
			cl := tcReadLock(t, filepath.Join(crDir, "app", "Chart.lock"))
			if hl.Digest != cl.Digest {
				t.Errorf("Chart.lock digest: helm %s, chartroom %s", hl.Digest, cl.Digest)
			}
			if len(hl.Dependencies) != 5 || len(cl.Dependencies) != len(hl.Dependencies) {
				t.Fatalf("dependencies: helm %+v, chartroom %+v", hl.Dependencies, cl.Dependencies)
			}
			for i := range hl.Dependencies {
				if hl.Dependencies[i] != cl.Dependencies[i] {
					t.Errorf("dependency %d: helm %+v, chartroom %+v", i, hl.Dependencies[i], cl.Dependencies[i])
				}
			}
			if v := cl.Dependencies[0].Version + " " + cl.Dependencies[1].Version; v != "1.1.0 3.1.0" {
				t.Errorf("resolved %s, want 1.1.0 3.1.0", v)
			}

			t.Log("each builds from the other's lock; charts/ end up with the same archives")
			e.must(helm, "dependency", "build", filepath.Join(crDir, "app"), plain)
			os.RemoveAll(filepath.Join(helmDir, "app", "charts"))
			e.tcMust("dependency", "build", filepath.Join(helmDir, "app"), plain)
			for _, f := range []string{"redis-1.1.0.tgz", "redis-1.0.0.tgz", "pg-3.1.0.tgz", "pg-3.0.0.tgz"} {
				tcSameFile(t, filepath.Join(helmDir, "app", "charts", f), filepath.Join(crDir, "app", "charts", f))
			}
			e.tcMust("lock", filepath.Join(crDir, "app"), "--check")

			t.Log("Chart.yaml changes without a new lock: lock --check exits 1")
			b = bytes.Replace(b, []byte("version: ~3\n"), []byte("version: ~3.0.0\n"), 1)
			os.WriteFile(filepath.Join(crDir, "app", "Chart.yaml"), b, 0o644)
			r := e.tcRun("", "", nil, "lock", filepath.Join(crDir, "app"), "--check")
			r.wantFailure(t, 1, "out of sync", "chartroom lock")
			if !strings.Contains(r.stdout, `pg: locked version 3.1.0 does not satisfy "~3.0.0"`) {
				t.Errorf("lock --check does not list the difference:\n%s", r.stdout)
			}
			e.tcRun("", "", nil, "dependency", "build", filepath.Join(crDir, "app"), plain).wantFailure(t, 1, "out of sync")
		})
	}
}

// TestToolchainSignedInterop: a chart signed by helm package --sign keeps its .prov through
// chartroom push; helm pull --verify and chartroom pull --verify accept it, and chartroom
// pull --verify refuses it (exit 1) against another key.
func TestToolchainSignedInterop(t *testing.T) {
	gpg, err := exec.LookPath("gpg")
	if err != nil {
		missing(t, "gpg is not installed; it makes the signing keys")
	}
	keys := newToolEnv(t)
	gnupg := filepath.Join(keys.home, ".gnupg")
	os.MkdirAll(gnupg, 0o700)
	keys.env = append(keys.env, "GNUPGHOME="+gnupg)
	secring, pubring, other := filepath.Join(keys.home, "secring.gpg"), filepath.Join(keys.home, "pubring.gpg"), filepath.Join(keys.home, "other.gpg")
	keys.must(gpg, "--batch", "--passphrase", "", "--quick-gen-key", "Chart Signer <signer@example.com>", "rsa2048", "sign", "never")
	keys.must(gpg, "--batch", "--export-secret-keys", "--output", secring, "signer@example.com")
	keys.must(gpg, "--batch", "--export", "--output", pubring, "signer@example.com")
	keys.must(gpg, "--batch", "--passphrase", "", "--quick-gen-key", "Someone Else <other@example.com>", "rsa2048", "sign", "never")
	keys.must(gpg, "--batch", "--export", "--output", other, "other@example.com")

	for _, h := range helmVersions {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			helm := need(t, h)
			srv := StartServer(t)
			e := newToolEnv(t)
			host, plain := srv.Host(), "--plain-http"
			work := t.TempDir()
			e.must(helm, "create", filepath.Join(work, "signed"))
			e.must(helm, "package", filepath.Join(work, "signed"), "--sign", "--key", "Chart Signer", "--keyring", secring, "--destination", work)
			archive := filepath.Join(work, "signed-0.1.0.tgz")
			e.tcMust("push", archive, "oci://"+host+"/team", plain, "-u", "admin", "-p", srv.Password)
			e.tcMust("push", archive, srv.URL("/classic"), "-u", "admin", "-p", srv.Password)

			e.must(helm, "registry", "login", host, "--username", "admin", "--password", srv.Password, plain)
			dest := t.TempDir()
			e.must(helm, "pull", "oci://"+host+"/team/signed", "--version", "0.1.0", plain, "--verify", "--keyring", pubring, "--destination", dest)
			tcSameFile(t, filepath.Join(dest, "signed-0.1.0.tgz"), archive)
			dest = t.TempDir()
			e.must(helm, "pull", "signed", "--repo", srv.URL("/classic"), "--username", "admin", "--password", srv.Password, "--verify", "--keyring", pubring, "--destination", dest)
			tcSameFile(t, filepath.Join(dest, "signed-0.1.0.tgz"), archive)
			for _, ref := range [][]string{{"oci://" + host + "/team/signed", plain}, {srv.URL("/classic"), "signed"}} {
				dest := t.TempDir()
				e.tcMust(append([]string{"pull"}, append(ref, "--verify", "--keyring", pubring, "-d", dest)...)...)
				tcSameFile(t, filepath.Join(dest, "signed-0.1.0.tgz.prov"), archive+".prov")
				refused := filepath.Join(dest, "refused")
				e.tcRun("", "", nil, append([]string{"pull"}, append(ref, "--verify", "--keyring", other, "-d", refused)...)...).
					wantFailure(t, 1, "unknown key")
				if entries, _ := os.ReadDir(refused); len(entries) != 0 {
					t.Errorf("a refused pull left %d files", len(entries))
				}
			}
		})
	}
}

// TestToolchainClientErrors: wrong password (401), changed content (409) and an unreachable
// host each give one line that says what to do, with exit code 2, and leave nothing behind.
func TestToolchainClientErrors(t *testing.T) {
	helm := need(t, helm3)
	srv := StartServer(t)
	e := newToolEnv(t)
	host, plain := srv.Host(), "--plain-http"
	work := t.TempDir()
	demo := tcHelmChart(t, e, helm, work, "demo", "0.1.0")
	creds := []string{"CHARTROOM_USERNAME=admin", "CHARTROOM_PASSWORD=" + srv.Password}

	for _, dest := range []string{"oci://" + host + "/team", srv.URL("/team")} {
		e.tcRun("", "wrong\n", nil, "push", demo, dest, plain, "-u", "admin", "--password-stdin").
			wantFailure(t, 2, "401", "check the username and password")
		e.tcRun("", "", nil, "push", demo, dest, plain).
			wantFailure(t, 2, "requires a login", "chartroom login "+host)
		if r := e.tcRun("", "", creds, "push", demo, dest, plain); r.code != 0 {
			t.Fatalf("push with CHARTROOM_USERNAME/CHARTROOM_PASSWORD: exit %d\n%s", r.code, r.stderr)
		}
	}
	changed := tcHelmChart(t, e, helm, filepath.Join(work, "changed"), "demo", "0.1.0")
	for _, dest := range []string{"oci://" + host + "/team", srv.URL("/team")} {
		e.tcRun("", "", creds, "push", changed, dest, plain).
			wantFailure(t, 2, "demo 0.1.0 is already published", "bump the chart's version")
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	e.tcRun("", "", creds, "push", demo, "oci://"+closed+"/team", plain).wantFailure(t, 2, "cannot reach "+closed)
	dest := t.TempDir()
	e.tcRun("", "", creds, "pull", "http://"+closed+"/team", "demo", "-d", dest).wantFailure(t, 2, "cannot reach "+closed)
	e.tcRun("", "", creds, "push", demo, "oci://"+host+"/team").wantFailure(t, 2, "plain HTTP", "--plain-http")
	e.tcRun("", "", creds, "pull", "oci://"+host+"/team/demo", "--version", "9.9.9", plain, "-d", dest).
		wantFailure(t, 2, "no version 9.9.9", "0.1.0")
	if entries, _ := os.ReadDir(dest); len(entries) != 0 {
		t.Errorf("failed pulls left %d files in the destination", len(entries))
	}
}
