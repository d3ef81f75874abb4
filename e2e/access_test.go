package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Access control with the real binary and the real clients: users, API tokens, grants made
// with the chartroom admin commands on the data directory of a running server, then used by
// helm v3 and v4, oras and crane as they sign in to any registry (a token is the password).

// chartroomIn runs the binary with stdin and fails the test unless it exits 0.
func chartroomIn(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(chartroomBin(t), args...)
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chartroom %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// accessToken is what chartroom token create -o json prints.
type accessToken struct {
	ID      string     `json:"id"`
	Token   string     `json:"token"`
	Expires *time.Time `json:"expires"`
}

func createToken(t *testing.T, srv *Server, args ...string) accessToken {
	t.Helper()
	var tok accessToken
	out := chartroomIn(t, "", append([]string{"token", "create", "--data-dir", srv.DataDir, "-o", "json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &tok); err != nil || tok.ID == "" || tok.Token == "" {
		t.Fatalf("token create printed %q (%v); want JSON with id and token", out, err)
	}
	return tok
}

// awaitStatus polls GET path with Basic credentials until it answers want: a running server
// picks up the admin commands' changes within a second.
func awaitStatus(t *testing.T, srv *Server, user, pass, path string, want int) {
	t.Helper()
	c := newOCIClient(srv, user, pass)
	var got int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, _, err := c.do("GET", path, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got = resp.StatusCode; got == want {
			return
		}
	}
	t.Fatalf("GET %s as %s: %d; want %d", path, user, got, want)
}

// accessFixture is a server with two users and their tokens:
// ci is publisher on team/*, its token pub is limited to team/a:push;
// deploy is reader on team/a, its token read has no scopes.
// Chart secret 1.0.0 is published in team/b, which neither token may read.
type accessFixture struct {
	srv       *Server
	pub, read accessToken
	work      string // packaged charts: demo-0.1.0.tgz, secret-1.0.0.tgz
}

func newAccessFixture(t *testing.T, helm string) *accessFixture {
	t.Helper()
	srv := StartServer(t)
	dd := []string{"--data-dir", srv.DataDir}
	chartroomIn(t, "ci-password-1\n", append([]string{"user", "add", "ci", "--password-stdin"}, dd...)...)
	chartroomIn(t, "deploy-password-1\n", append([]string{"user", "add", "deploy", "--password-stdin"}, dd...)...)
	chartroomIn(t, "", append([]string{"grant", "ci", "team/*", "publisher"}, dd...)...)
	chartroomIn(t, "", append([]string{"grant", "deploy", "team/a", "reader"}, dd...)...)
	f := &accessFixture{
		srv:  srv,
		pub:  createToken(t, srv, "--user", "ci", "--scope", "team/a:push", "--expires", "90d"),
		read: createToken(t, srv, "--user", "deploy"),
		work: t.TempDir(),
	}
	awaitStatus(t, srv, "ci", f.pub.Token, "/v2/", http.StatusOK)
	awaitStatus(t, srv, "deploy", f.read.Token, "/v2/", http.StatusOK)

	e := newToolEnv(t)
	for _, c := range []string{"demo", "secret"} {
		e.must(helm, "create", filepath.Join(f.work, c))
	}
	e.must(helm, "package", filepath.Join(f.work, "demo"), "--version", "0.1.0", "--destination", f.work)
	e.must(helm, "package", filepath.Join(f.work, "secret"), "--version", "1.0.0", "--destination", f.work)
	e.must(helm, "registry", "login", srv.Host(), "--username", "admin", "--password", srv.Password, "--plain-http")
	e.must(helm, "push", filepath.Join(f.work, "secret-1.0.0.tgz"), "oci://"+srv.Host()+"/team/b", "--plain-http")
	return f
}

// wantRefused checks that a client command failed and says why in the registry's words.
func wantRefused(t *testing.T, what, out string, err error, words ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s succeeded:\n%s", what, out)
	}
	for _, w := range words {
		if strings.Contains(strings.ToLower(out), strings.ToLower(w)) {
			return
		}
	}
	t.Errorf("%s failed without saying %q:\n%s", what, words, out)
}

// TestAccessHelm: with helm v3 and v4, a publisher token logs in and pushes to its
// namespace and not to another its user could publish to; a reader token pulls and cannot
// push; helm repo add with a token on a private namespace sees its charts and nothing of a
// namespace it may not read (answered as a missing one); a revoked or expired token stops
// working.
func TestAccessHelm(t *testing.T) {
	for _, h := range helmVersions {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			helm := need(t, h)
			f := newAccessFixture(t, helm)
			srv, host, plain := f.srv, f.srv.Host(), "--plain-http"
			demo := filepath.Join(f.work, "demo-0.1.0.tgz")

			t.Log("publisher token: login, push to team/a; team/b (outside its scope) refused")
			pub := newToolEnv(t)
			pub.must(helm, "registry", "login", host, "--username", "ci", "--password", f.pub.Token, plain)
			digest := printedDigest(t, pub.must(helm, "push", demo, "oci://"+host+"/team/a", plain))
			out, err := pub.run(helm, "push", demo, "oci://"+host+"/team/b", plain)
			wantRefused(t, "push with a team/a token to team/b", out, err, "403", "denied", "forbidden")

			t.Log("reader token: pull works, push refused")
			rd := newToolEnv(t)
			rd.must(helm, "registry", "login", host, "--username", "deploy", "--password", f.read.Token, plain)
			pulled := t.TempDir()
			if d := printedDigest(t, rd.must(helm, "pull", "oci://"+host+"/team/a/demo", "--version", "0.1.0", plain, "--destination", pulled)); d != digest {
				t.Errorf("pulled digest %s; pushed %s", d, digest)
			}
			if got, want := fileSHA256(t, filepath.Join(pulled, "demo-0.1.0.tgz")), fileSHA256(t, demo); got != want {
				t.Errorf("pulled archive sha256 %s; pushed %s", got, want)
			}
			out, err = rd.run(helm, "push", demo, "oci://"+host+"/team/a", plain)
			wantRefused(t, "push with a reader token", out, err, "403", "denied", "forbidden")
			// A namespace it may not read answers as a missing one.
			out, err = rd.run(helm, "pull", "oci://"+host+"/team/b/secret", "--version", "1.0.0", plain, "--destination", t.TempDir())
			wantRefused(t, "pull of team/b/secret with a team/a reader token", out, err, "not found")

			t.Log("helm repo add with a token on a private namespace")
			rd.must(helm, "repo", "add", "team-a", srv.URL("/team/a"), "--username", "deploy", "--password", f.read.Token)
			search := rd.must(helm, "search", "repo", "team-a/", "--versions")
			if v := searchVersions(t, search); !slices.Equal(v, [][2]string{{"0.1.0", "1.16.0"}}) || !strings.Contains(search, "team-a/demo") {
				t.Errorf("helm search repo team-a/ = %v; want only demo 0.1.0:\n%s", v, search)
			}
			anon := newToolEnv(t)
			out, err = anon.run(helm, "repo", "add", "team-a", srv.URL("/team/a"))
			wantRefused(t, "helm repo add of a private namespace without credentials", out, err, "401", "unauthorized")
			// team/b's index.yaml is answered to the reader exactly as a namespace that does
			// not exist: secret is nowhere in it.
			c := newOCIClient(srv, "deploy", f.read.Token)
			resp, hidden, err := c.do("GET", "/team/b/index.yaml", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp2, missing, err := c.do("GET", "/team/no-such-namespace/index.yaml", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != resp2.StatusCode || bytes.Contains(hidden, []byte("secret")) {
				t.Errorf("team/b/index.yaml for a reader of team/a: %d %s; a missing namespace: %d %s", resp.StatusCode, hidden, resp2.StatusCode, missing)
			}
			if out, err := rd.run(helm, "repo", "add", "team-b", srv.URL("/team/b"), "--username", "deploy", "--password", f.read.Token); err == nil {
				if s := rd.must(helm, "search", "repo", "team-b/"); strings.Contains(s, "secret") {
					t.Errorf("helm search of team/b with a team/a reader token lists secret:\n%s", s)
				}
			} else if !strings.Contains(out, "404") {
				t.Errorf("helm repo add of team/b with a team/a reader token: %v\n%s; want it to fail as for a missing repository (404)", err, out)
			}

			t.Log("a revoked token and an expired token are refused")
			// Each of its own user: failed sign-ins are throttled per user.
			for _, u := range []string{"rev", "exp"} {
				chartroomIn(t, u+"-password-1\n", "user", "add", u, "--password-stdin", "--data-dir", srv.DataDir)
				chartroomIn(t, "", "grant", u, "team/a", "publisher", "--data-dir", srv.DataDir)
			}
			revoked := createToken(t, srv, "--user", "rev", "--scope", "team/a:push")
			awaitStatus(t, srv, "rev", revoked.Token, "/v2/", http.StatusOK)
			chartroomIn(t, "", "token", "revoke", revoked.ID, "--data-dir", srv.DataDir)
			awaitStatus(t, srv, "rev", revoked.Token, "/v2/", http.StatusUnauthorized)
			out, err = newToolEnv(t).run(helm, "registry", "login", host, "--username", "rev", "--password", revoked.Token, plain)
			wantRefused(t, "login with a revoked token", out, err, "401", "unauthorized")

			expired := createToken(t, srv, "--user", "exp", "--expires", "1s")
			if expired.Expires == nil {
				t.Fatal("token create --expires 1s printed no expiry")
			}
			time.Sleep(time.Until(*expired.Expires) + time.Second) // past its expiry
			out, err = newToolEnv(t).run(helm, "registry", "login", host, "--username", "exp", "--password", expired.Token, plain)
			wantRefused(t, "login with an expired token", out, err, "401", "unauthorized")

			t.Log("every refusal is in the audit log, and no token in it")
			audit := chartroomIn(t, "", "audit", "--data-dir", srv.DataDir, "--output", "json")
			for _, tok := range []string{f.pub.Token, f.read.Token, revoked.Token, expired.Token} {
				if strings.Contains(audit, tok) || strings.Contains(srv.Logs(), tok) {
					t.Errorf("a token's secret is in the audit log or the server log")
				}
			}
			for _, want := range []string{`"denied"`, `"team/b/demo"`, f.pub.ID} {
				if !strings.Contains(audit, want) {
					t.Errorf("the audit log lacks %s:\n%s", want, audit)
				}
			}
		})
	}
}

// TestAccessOrasCrane: the same tokens with oras and crane: the publisher token pushes to
// its namespace only, the reader token pulls, cannot push, and sees in the catalog only
// the repositories it may read.
func TestAccessOrasCrane(t *testing.T) {
	t.Parallel()
	orasBin, craneBin := need(t, oras), need(t, crane)
	f := newAccessFixture(t, need(t, helm3))
	host, plain := f.srv.Host(), "--plain-http"

	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "payload.txt"), []byte("access e2e\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pub := newToolEnv(t)
	pub.must(orasBin, "login", host, "--username", "ci", "--password", f.pub.Token, plain)
	pub.mustIn(work, orasBin, "push", host+"/team/a/files:v1", plain, "payload.txt:text/plain")
	out, err := pub.runIn(work, orasBin, "push", host+"/team/b/files:v1", plain, "payload.txt:text/plain")
	wantRefused(t, "oras push with a team/a token to team/b", out, err, "403", "denied", "forbidden")

	rd := newToolEnv(t)
	rd.must(orasBin, "login", host, "--username", "deploy", "--password", f.read.Token, plain)
	pulled := t.TempDir()
	rd.must(orasBin, "pull", host+"/team/a/files:v1", plain, "--output", pulled)
	if b, err := os.ReadFile(filepath.Join(pulled, "payload.txt")); err != nil || string(b) != "access e2e\n" {
		t.Errorf("oras pull with a reader token: %q, %v", b, err)
	}
	out, err = rd.runIn(work, orasBin, "push", host+"/team/a/files:v2", plain, "payload.txt:text/plain")
	wantRefused(t, "oras push with a reader token", out, err, "403", "denied", "forbidden")

	cr := newToolEnv(t)
	cr.must(craneBin, "auth", "login", host, "--username", "deploy", "--password", f.read.Token)
	if tags := strings.Fields(cr.must(craneBin, "ls", host+"/team/a/files", "--insecure")); !slices.Equal(tags, []string{"v1"}) {
		t.Errorf("crane ls with a reader token = %v; want [v1]", tags)
	}
	repos := strings.Fields(cr.must(craneBin, "catalog", host, "--insecure"))
	if !slices.Equal(repos, []string{"team/a/files"}) {
		t.Errorf("crane catalog with a team/a reader token = %v; want only [team/a/files] (team/b/secret is private)", repos)
	}
	out, err = cr.run(craneBin, "ls", host+"/team/b/secret", "--insecure")
	wantRefused(t, "crane ls of team/b/secret with a team/a reader token", out, err, "NAME_UNKNOWN", "404")
	layer := filepath.Join(t.TempDir(), "layer.tar")
	writeTar(t, layer, map[string][]byte{"a.txt": []byte("a\n")})
	out, err = cr.run(craneBin, "append", "--new_layer", layer, "--new_tag", host+"/team/a/img:v1", "--insecure")
	wantRefused(t, "crane append with a reader token", out, err, "403", "denied", "forbidden")
}
