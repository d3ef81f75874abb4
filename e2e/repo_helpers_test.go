package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Helpers of the classic chart repository tests (repo_*_test.go).

// repoAPI is /api/<ns>/<rest>, or /api/<rest> for the root namespace.
func repoAPI(ns, rest string) string {
	if ns == "" {
		return "/api/" + rest
	}
	return "/api/" + ns + "/" + rest
}

// repoPath is /<ns>/<rest>, or /<rest> for the root namespace.
func repoPath(ns, rest string) string {
	if ns == "" {
		return "/" + rest
	}
	return "/" + ns + "/" + rest
}

// repoMultipart builds the multipart body helm cm-push and `curl -F` send: field → file.
// The file name is the path as given, as cm-push writes it.
func repoMultipart(t testing.TB, files map[string]string) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, field := range []string{"chart", "prov"} {
		path, ok := files[field]
		if !ok {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		fw, err := mw.CreateFormFile(field, path)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(data)
	}
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

// repoUploadFiles posts a chart (and its .prov, when prov is not "") to the upload API as
// multipart, and fails the test unless it answers 201 {"saved":true}.
func repoUploadFiles(t testing.TB, c *ociClient, ns, chart, prov string) {
	t.Helper()
	files := map[string]string{"chart": chart}
	if prov != "" {
		files["prov"] = prov
	}
	body, ct := repoMultipart(t, files)
	resp, out, err := c.do("POST", repoAPI(ns, "charts"), body, map[string]string{"Content-Type": ct})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated || strings.TrimSpace(string(out)) != `{"saved":true}` {
		t.Fatalf("upload %s: %d %s", filepath.Base(chart), resp.StatusCode, out)
	}
}

// repoIndex is the JSON form of a namespace's index, as helm reads it.
type repoIndex struct {
	APIVersion string                        `json:"apiVersion"`
	Entries    map[string][]repoIndexVersion `json:"entries"`
	Generated  string                        `json:"generated"`
}

type repoIndexVersion struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	AppVersion string   `json:"appVersion"`
	Digest     string   `json:"digest"`
	URLs       []string `json:"urls"`
	Created    string   `json:"created"`
}

// repoGetIndex fetches /<ns>/index.json and decodes it.
func repoGetIndex(t testing.TB, c *ociClient, ns string) repoIndex {
	t.Helper()
	resp, body, err := c.do("GET", repoPath(ns, "index.json"), nil, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET index.json of %q: %v %v %s", ns, err, resp, body)
	}
	var idx repoIndex
	if err := json.Unmarshal(body, &idx); err != nil {
		t.Fatalf("index.json of %q: %v", ns, err)
	}
	return idx
}

// repoGet fetches a path and fails the test unless it answers want.
func repoGet(t testing.TB, c *ociClient, path string, want int) []byte {
	t.Helper()
	resp, body, err := c.do("GET", path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d %s, want %d", path, resp.StatusCode, body, want)
	}
	return body
}

// repoChartDir writes a small chart directory whose ConfigMap shows its app version, with
// optional dependencies (name, version, repository triples), and returns its path.
func repoChartDir(t testing.TB, parent, name, version, appVersion string, deps ...[3]string) string {
	t.Helper()
	dir := filepath.Join(parent, name)
	chartYAML := fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\nappVersion: %q\ndescription: %s for the chartroom tests\ntype: application\n",
		name, version, appVersion, name)
	if len(deps) > 0 {
		chartYAML += "dependencies:\n"
		for _, d := range deps {
			chartYAML += fmt.Sprintf("- name: %s\n  version: %s\n  repository: %s\n", d[0], d[1], d[2])
		}
	}
	files := map[string]string{
		"Chart.yaml":               chartYAML,
		"values.yaml":              "greeting: hello\n",
		"templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-{{ .Chart.Name }}\ndata:\n  app: {{ .Chart.AppVersion | quote }}\n  greeting: {{ .Values.greeting | quote }}\n",
	}
	for f, content := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// repoArchive builds a minimal valid chart archive in memory; note makes archives of the
// same version differ.
func repoArchive(t testing.TB, name, version, note string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range []struct{ name, body string }{
		{"Chart.yaml", fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\nappVersion: \"1.0\"\n", name, version)},
		{"values.yaml", "note: " + fmt.Sprintf("%q", note) + "\n"},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: name + "/" + f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// signingKey is a throwaway OpenPGP key made by GnuPG, exported the way helm's docs say:
// a legacy binary secret keyring for helm package --sign, a public keyring for --verify.
type signingKey struct {
	name    string // the key's user ID, for --key
	secring string
	pubring string
}

// newSigningKey generates a key in a temporary GNUPGHOME (skipping the test without gpg).
func newSigningKey(t testing.TB) signingKey {
	t.Helper()
	gpg, err := exec.LookPath("gpg")
	if err != nil {
		missing(t, "gpg is not installed: helm package --sign needs a GnuPG-made keyring")
	}
	home, err := os.MkdirTemp("", "gpg") // short: gpg-agent's socket path has a length limit
	if err != nil {
		t.Fatal(err)
	}
	env := append(cleanEnv(), "GNUPGHOME="+home)
	run := func(args ...string) []byte {
		cmd := exec.Command(gpg, append([]string{"--batch", "--no-tty"}, args...)...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	t.Cleanup(func() {
		kill := exec.Command("gpgconf", "--kill", "gpg-agent")
		kill.Env = env
		kill.Run()
		os.RemoveAll(home)
	})
	k := signingKey{name: "Chart Signer", secring: filepath.Join(t.TempDir(), "secring.gpg"), pubring: filepath.Join(t.TempDir(), "pubring.gpg")}
	run("--passphrase", "", "--quick-gen-key", k.name+" <signer@example.com>", "default", "default", "never")
	if err := os.WriteFile(k.secring, run("--export-secret-keys"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k.pubring, run("--export"), 0o644); err != nil {
		t.Fatal(err)
	}
	return k
}
