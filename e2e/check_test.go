package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// checkChart is a chart whose Service renders only while service.enabled defaults to true.
var checkChart = map[string]string{
	"Chart.yaml": "apiVersion: v2\nname: webapp\nversion: 1.4.2\nappVersion: \"1.25.3\"\nkubeVersion: \">=1.19.0-0\"\n",
	"values.yaml": `image:
  repository: nginx
  tag: "1.25.3"
service:
  enabled: true
  port: 80
`,
	"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-webapp
spec:
  template:
    spec:
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
`,
	"templates/service.yaml": `{{- if .Values.service.enabled }}
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-webapp
spec:
  ports:
    - port: {{ .Values.service.port }}
{{- end }}
`,
}

func checkWriteChart(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkEditFile replaces old (which must occur) in a chart file.
func checkEditFile(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s lacks %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkRun runs chartroom check and returns stdout, stderr and the exit code.
func checkRun(t *testing.T, e *toolEnv, bin string, args ...string) (string, string, int) {
	t.Helper()
	stdout, stderr, err := e.exec("", bin, append([]string{"check"}, args...)...)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout, stderr, 0
	case errors.As(err, &ee):
		return stdout, stderr, ee.ExitCode()
	}
	t.Fatalf("chartroom check: %v", err)
	return "", "", -1
}

// TestCheckAgainstPublished publishes a chart to a running chartroom with helm push, changes
// it, and checks the change against the published version over OCI and over the classic
// repository (index.yaml), then against a git revision.
func TestCheckAgainstPublished(t *testing.T) {
	bin := chartroomBin(t)
	helm := need(t, helm3)
	srv := StartServer(t)
	e := newToolEnv(t)
	host := srv.Host()
	creds := []string{"--username", "admin", "--password", srv.Password}

	work := t.TempDir()
	dir := filepath.Join(work, "webapp")
	checkWriteChart(t, dir, checkChart)
	e.must(helm, "registry", "login", host, "--username", "admin", "--password", srv.Password, "--plain-http")
	e.must(helm, "package", dir, "--destination", work)
	e.must(helm, "push", filepath.Join(work, "webapp-1.4.2.tgz"), "oci://"+host+"/team", "--plain-http")

	oci := append([]string{"--against", "oci://" + host + "/team/webapp", "--plain-http"}, creds...)
	classic := append([]string{"--against", srv.URL("/team")}, creds...)
	baselines := map[string][]string{"oci": oci, "classic": classic}

	t.Log("the published chart against itself: nothing to release")
	for name, b := range baselines {
		out, _, code := checkRun(t, e, bin, append([]string{dir}, b...)...)
		if code != 0 || !strings.Contains(out, "no changes") {
			t.Errorf("%s: unchanged chart: exit %d\n%s", name, code, out)
		}
	}

	t.Log("flip a default behind an if, remove a values key, bump only the patch version")
	checkEditFile(t, filepath.Join(dir, "values.yaml"), "service:\n  enabled: true", "service:\n  enabled: false")
	checkEditFile(t, filepath.Join(dir, "values.yaml"), "  repository: nginx\n", "")
	checkEditFile(t, filepath.Join(dir, "templates", "deployment.yaml"), "{{ .Values.image.repository }}", "nginx")
	checkEditFile(t, filepath.Join(dir, "Chart.yaml"), "version: 1.4.2", "version: 1.4.3")
	for name, b := range baselines {
		out, stderr, code := checkRun(t, e, bin, append([]string{dir}, b...)...)
		if code != 1 {
			t.Fatalf("%s: exit %d, want 1\n%s%s", name, code, out, stderr)
		}
		for _, want := range []string{"against 1.4.2", "values: .image.repository removed", "resources: Service/release-name-webapp removed", "bump to 2.0.0", "verdict: fail"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: report lacks %q:\n%s", name, want, out)
			}
		}
		out, _, code = checkRun(t, e, bin, append([]string{dir, "-o", "json"}, b...)...)
		var rep struct{ Required, Verdict, Suggested, Baseline string }
		if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || rep.Required != "major" || rep.Verdict != "fail" || rep.Suggested != "2.0.0" || rep.Baseline != "1.4.2" {
			t.Errorf("%s: -o json: exit %d %+v %v\n%s", name, code, rep, err, out)
		}
		out, _, code = checkRun(t, e, bin, append([]string{dir, "--suggest"}, b...)...)
		if code != 0 || out != "2.0.0\n" {
			t.Errorf("%s: --suggest: exit %d %q", name, code, out)
		}
		out, _, _ = checkRun(t, e, bin, append([]string{dir, "--format", "github"}, b...)...)
		if !strings.Contains(out, "::error file=") || !strings.Contains(out, "bump-too-small") {
			t.Errorf("%s: --format github:\n%s", name, out)
		}
	}

	t.Log("with the major bump the check passes")
	checkEditFile(t, filepath.Join(dir, "Chart.yaml"), "version: 1.4.3", "version: 2.0.0")
	for name, b := range baselines {
		out, stderr, code := checkRun(t, e, bin, append([]string{dir}, b...)...)
		if code != 0 || !strings.Contains(out, "verdict: ok") {
			t.Errorf("%s: exit %d, want 0\n%s%s", name, code, out, stderr)
		}
	}

	t.Log("a git revision of the chart directory is a baseline too")
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	repo := filepath.Join(work, "repo")
	gdir := filepath.Join(repo, "charts", "webapp")
	checkWriteChart(t, gdir, checkChart)
	git := func(args ...string) {
		t.Helper()
		e.mustIn(repo, "git", append([]string{"-c", "user.name=e2e", "-c", "user.email=e2e@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "webapp 1.4.2")
	checkEditFile(t, filepath.Join(gdir, "values.yaml"), "  port: 80", "  port: \"80\"")
	out, _, code := checkRun(t, e, bin, gdir, "--against", "HEAD")
	if code != 1 || !strings.Contains(out, "values: .service.port type changed from number to string") || !strings.Contains(out, "a published version never changes: bump to 2.0.0") {
		t.Errorf("git baseline: exit %d\n%s", code, out)
	}
}
