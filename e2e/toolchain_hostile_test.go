package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// The toolchain facing stale, hostile or careless input: a .prov that does not vouch for its
// archive, a chart repository reached over plain HTTP, a missing --merge file, a crafted git
// tree and names in an archive made to fool a terminal or a CI runner.

// TestToolchainPushRefusesStaleProv: an archive rebuilt after signing, pushed with the old
// .prov beside it, is refused before anything is uploaded — helm finds no such version —
// and once signed again it is published and helm pull --verify accepts it.
func TestToolchainPushRefusesStaleProv(t *testing.T) {
	helm := need(t, helm3)
	keys := offMakeKeys(t)
	srv := StartServer(t)
	e := newToolEnv(t)
	host := srv.Host()
	work := t.TempDir()
	e.must(helm, "registry", "login", host, "--username", "admin", "--password", srv.Password, "--plain-http")

	archive := tcHelmChart(t, e, helm, work, "demo", "0.1.0")
	e.tcMust("sign", archive, "--keyring", keys.helmSec)
	t.Log("rebuild the archive after signing: its .prov is now stale")
	values := filepath.Join(work, "src", "demo", "values.yaml")
	f, err := os.OpenFile(values, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("# changed after signing\n")
	f.Close()
	e.must(helm, "package", filepath.Join(work, "src", "demo"), "--destination", filepath.Dir(archive))

	for _, dest := range []string{"oci://" + host + "/team", srv.URL("/team")} {
		e.tcRun("", "", nil, "push", archive, dest, "--plain-http").wantFailure(t, 2,
			"refusing to push "+archive+" with "+archive+".prov", "nothing was uploaded", "chartroom sign "+archive)
	}
	if out, err := e.run(helm, "pull", "oci://"+host+"/team/demo", "--version", "0.1.0", "--plain-http", "--destination", t.TempDir()); err == nil {
		t.Fatalf("helm pulled a version whose push was refused:\n%s", out)
	} else if !strings.Contains(out, "not found") {
		t.Errorf("helm pull of the refused version: %s", out)
	}

	t.Log("signed again, it goes through and helm pull --verify accepts it")
	e.tcMust("sign", archive, "--keyring", keys.helmSec)
	if out := e.tcMust("push", archive, "oci://"+host+"/team", "--plain-http"); !strings.Contains(out, "Provenance: sent") {
		t.Errorf("push output:\n%s", out)
	}
	e.must(helm, "pull", "oci://"+host+"/team/demo", "--version", "0.1.0", "--plain-http", "--verify", "--keyring", keys.helmPub, "--destination", t.TempDir())
}

// recordingProxy is an HTTP forward proxy to one chartroom server that records the URL and
// Authorization header of each request it forwards.
type recordingProxy struct {
	*httptest.Server
	mu   sync.Mutex
	seen []proxied
}

type proxied struct{ url, auth string }

func newRecordingProxy(t *testing.T, upstream string) *recordingProxy {
	p := &recordingProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.seen = append(p.seen, proxied{r.URL.String(), r.Header.Get("Authorization")})
		p.mu.Unlock()
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.URL.Scheme, out.URL.Host = "http", upstream
		out.Host = r.Host // the name the client asked for: the server's links keep it
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(p.Close)
	return p
}

// take returns the requests recorded since the last take.
func (p *recordingProxy) take() []proxied {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.seen
	p.seen = nil
	return s
}

// TestToolchainStoredLoginsStayOffPlainHTTP: a chart depending on an http:// repository of a
// host the user has a docker login for. lock, dependency build and pull send that login in
// clear text to no one (helm sends nothing either) unless --insecure-send-credentials-over-http
// says to. The repository is a real chartroom reached under a non-loopback name through an
// HTTP proxy that records what crosses the "network".
func TestToolchainStoredLoginsStayOffPlainHTTP(t *testing.T) {
	helm := need(t, helm3)
	srv := StartServer(t)
	e := newToolEnv(t)
	work := t.TempDir()
	const name = "charts.example.test"
	repoURL := "http://" + name + "/team"

	dep := tcHelmChart(t, e, helm, work, "dep", "1.0.0")
	e.tcRun("", srv.Password, nil, "push", dep, srv.URL("/team"), "-u", "admin", "--password-stdin").wantExit(t, 0)

	proxy := newRecordingProxy(t, srv.Host())
	e.env = append(e.env, "HTTP_PROXY="+proxy.URL, "http_proxy="+proxy.URL)
	login := base64.StdEncoding.EncodeToString([]byte("admin:" + srv.Password))
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{name: map[string]string{"auth": login}}})
	if err := os.WriteFile(filepath.Join(e.home, ".docker", "config.json"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	parent := filepath.Join(work, "parent")
	offWriteFiles(t, parent, map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: parent\nversion: 1.0.0\ndependencies:\n  - name: dep\n    version: ^1\n    repository: " + repoURL + "\n",
		"values.yaml": "{}\n",
	})
	noCredentials := func(what string, reqs []proxied) {
		t.Helper()
		if len(reqs) == 0 {
			t.Errorf("%s sent nothing through the proxy: the test does not test", what)
		}
		for _, r := range reqs {
			if r.auth != "" {
				t.Errorf("%s sent Authorization %q to %s over plain HTTP", what, r.auth, r.url)
			}
		}
	}
	withheld := []string{name + " requires a login", "not sent over plain HTTP", "--insecure-send-credentials-over-http"}

	t.Log("without the opt-in: lock, pull and dependency build send no login")
	e.tcRun(parent, "", nil, "lock").wantFailure(t, 2, withheld...)
	noCredentials("chartroom lock", proxy.take())
	e.tcRun("", "", nil, "pull", repoURL, "dep", "-d", t.TempDir()).wantFailure(t, 2, withheld...)
	noCredentials("chartroom pull", proxy.take())

	t.Log("helm dependency update sends nothing either")
	e.runIn(parent, helm, "dependency", "update")
	noCredentials("helm dependency update", proxy.take())

	t.Log("with --insecure-send-credentials-over-http the login goes, and the chart locks and builds")
	e.tcRun(parent, "", nil, "lock", "--insecure-send-credentials-over-http").wantExit(t, 0)
	want := "Basic " + login
	sent := proxy.take()
	if len(sent) == 0 || sent[0].auth != want {
		t.Errorf("lock --insecure-send-credentials-over-http sent %+v", sent)
	}
	e.tcRun(parent, "", nil, "dependency", "build").wantFailure(t, 2, withheld...)
	noCredentials("chartroom dependency build", proxy.take())
	e.tcRun(parent, "", nil, "dependency", "build", "--insecure-send-credentials-over-http").wantExit(t, 0)
	tcSameFile(t, filepath.Join(parent, "charts", "dep-1.0.0.tgz"), dep)
}

// wantExit fails the test unless r exited with code.
func (r tcResult) wantExit(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
}

// TestToolchainIndexMergeMissing: index --merge with a missing file fails and writes
// nothing (a GitHub Pages repository would lose every older version); on the first publish
// --merge-allow-missing says there is nothing to merge yet.
func TestToolchainIndexMergeMissing(t *testing.T) {
	helm := need(t, helm3)
	e := newToolEnv(t)
	work := t.TempDir()
	archive := tcHelmChart(t, e, helm, work, "site", "1.0.0")
	public := filepath.Dir(archive)
	missingIndex := filepath.Join(work, "downloaded-index.yaml")

	e.tcRun("", "", nil, "index", public, "--merge", missingIndex).wantFailure(t, 2,
		"--merge "+missingIndex+": no such file", "--merge-allow-missing")
	if _, err := os.Stat(filepath.Join(public, "index.yaml")); err == nil {
		t.Fatal("index.yaml written despite the missing --merge file")
	}
	e.tcRun("", "", nil, "index", public, "--merge", missingIndex, "--merge-allow-missing").wantExit(t, 0)
	if _, err := os.Stat(filepath.Join(public, "index.yaml")); err != nil {
		t.Fatalf("first publish wrote no index: %v", err)
	}
}

// hostilePayload rewrites a terminal line, reverses text and, on a line of its own, would
// be a GitHub Actions workflow command.
const hostilePayload = "\r\x1b[2Kall good\u202e\n::error file=a::pwned"

// ourAnnotationRE matches the workflow commands check --format github writes itself.
var ourAnnotationRE = regexp.MustCompile(`^::(error|warning|notice) (file=[^,:]*,)?(line=\d+,)?title=chartroom check%3A [a-z-]+( change)?::`)

// wantPrintable fails when out holds a control (other than line breaks) or bidi character,
// or a line starting with "::" that chartroom did not write.
func wantPrintable(t *testing.T, what, out string) {
	t.Helper()
	for _, r := range out {
		if r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r <= 0x9f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
			t.Errorf("%s holds the raw character %U:\n%q", what, r, out)
			break
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "::") && !ourAnnotationRE.MatchString(line) {
			t.Errorf("%s has a line a CI runner would execute: %q", what, line)
		}
	}
}

// TestCheckHostileBaselines: check --against a commit whose tree no git client writes (a
// symbolic link to a directory outside, with a file "below" it) refuses it and writes
// nothing outside; names in a baseline archive made to fool a terminal or a CI runner are
// printed escaped in the text and GitHub outputs.
func TestCheckHostileBaselines(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		missing(t, "git is not installed")
	}
	e := newToolEnv(t)
	repo := t.TempDir()
	git := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	git("", "init", "-q")
	chartDir := filepath.Join(repo, "webapp")
	offWriteFiles(t, chartDir, map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: webapp\nversion: 1.0.1\n",
		"values.yaml": "replicas: 1\n",
	})

	outside := t.TempDir()
	target := filepath.Join(outside, "target.txt")
	os.WriteFile(target, []byte("precious\n"), 0o644)
	blob := func(data string) string { return git(data, "hash-object", "-w", "--stdin") }
	below := git("100644 blob "+blob("overwritten\n")+"\ttarget.txt\n", "mktree")
	chartTree := git(fmt.Sprintf("100644 blob %s\tChart.yaml\n120000 blob %s\ta\n040000 tree %s\ta\n",
		blob("apiVersion: v2\nname: webapp\nversion: 1.0.0\n"), blob(outside), below), "mktree")
	commit := git("", "commit-tree", git("040000 tree "+chartTree+"\twebapp\n", "mktree"), "-m", "crafted")

	r := e.tcRun(chartDir, "", nil, "check", "--against", commit)
	r.wantFailure(t, 2, "baseline "+commit, `lists "a/target.txt" below "a"`, "refusing")
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Errorf("check wrote %q outside its temporary directory", b)
	}

	t.Log("names made to fool a terminal or a CI runner")
	base := filepath.Join(t.TempDir(), "webapp-1.0.0.tgz")
	offWriteTgz(t, base,
		"webapp/Chart.yaml", "apiVersion: v2\nname: webapp\nversion: 1.0.0\n",
		"webapp/values.yaml", "replicas: 1\n"+fmt.Sprintf("%q", hostilePayload)+": 2\n",
		"webapp/files/x"+hostilePayload+".txt", "gone since\n")
	for _, format := range []string{"text", "github"} {
		r := e.tcRun(chartDir, "", nil, "check", "--against", base, "--format", format)
		if r.code != 1 {
			t.Fatalf("%s: exit %d, want 1 (a removed values key needs a major bump)\n%s%s", format, r.code, r.stdout, r.stderr)
		}
		wantPrintable(t, format+" stdout", r.stdout)
		wantPrintable(t, format+" stderr", r.stderr)
		if !strings.Contains(r.stdout, `\r\x1b[2Kall good\u202e\n::error file=a::pwned`) {
			t.Errorf("%s: the hostile name is not shown escaped:\n%s", format, r.stdout)
		}
	}
}
