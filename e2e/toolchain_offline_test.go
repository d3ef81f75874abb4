package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// The offline release toolchain (chartroom package, sign, verify, index, bump) against the
// real helm v3 and v4: every interop pair of archives, provenance files and indexes.

// offlineChart is a chart with files .helmignore leaves out, a dependency kept in charts/,
// and metadata in most Chart.yaml fields, so that archives and index entries are not trivial.
var offlineChart = map[string]string{
	"Chart.yaml": `# Release toolchain test chart
apiVersion: v2
name: toolapp
description: A chart   with	odd whitespace
version: 0.3.1 # released by CI
appVersion: "1.10"
kubeVersion: ">=1.19.0-0"
home: https://example.com/toolapp
sources: [https://github.com/example/toolapp]
keywords: [web, tools]
maintainers:
  - name: Jane Doe
    email: jane@example.com
annotations:
  example.com/team: platform
dependencies:
  - name: sidecar
    version: ">=0.1.0"
`,
	"values.yaml":        "replicas: 2\nimage: nginx\n",
	"values.schema.json": `{"type":"object","properties":{"replicas":{"type":"integer"}}}`,
	"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels:
      app: {{ include "toolapp.name" . }}
  template:
    metadata:
      labels:
        app: {{ include "toolapp.name" . }}
    spec:
      containers:
        - name: app
          image: {{ .Values.image }}
`,
	"templates/_helpers.tpl":     "{{- define \"toolapp.name\" -}}toolapp{{- end -}}\n",
	"templates/NOTES.txt":        "Installed {{ .Chart.Name }}.\n",
	"charts/sidecar/Chart.yaml":  "apiVersion: v2\nname: sidecar\nversion: 0.2.0\n",
	"charts/sidecar/values.yaml": "enabled: true\n",
	"README.md":                  "# toolapp\n",
	".helmignore":                "# editor files\n*.swp\n.git/\nbuild/\n/notes.md\n",
	"x.swp":                      "ignored",
	"build/out.bin":              "ignored",
	"notes.md":                   "ignored",
	"docs/notes.md":              "kept: /notes.md is anchored",
	".git/HEAD":                  "ignored",
}

// offKeys are keyrings made with the real gpg: helm reads only binary keyrings, so every
// key exists in binary form; chartroom's armored forms are exported too.
type offKeys struct {
	helmSec, helmPub, helmPubArmored string // "Helm Signer", no passphrase
	lockedSecArmored, lockedPub      string // "Locked Signer", passphrase in passFile
	otherPub                         string // a third key, signing nothing here
	passFile                         string
}

func offMakeKeys(t *testing.T) offKeys {
	t.Helper()
	gpg, err := exec.LookPath("gpg")
	if err != nil {
		missing(t, "gpg is not installed: it makes the keys helm signs with (apt-get install gnupg)")
	}
	// A short GNUPGHOME: gpg-agent's socket path must fit in 108 bytes.
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(home, 0o700)
	out := t.TempDir()
	env := append(os.Environ(), "GNUPGHOME="+home)
	t.Cleanup(func() {
		kill := exec.Command("gpgconf", "--kill", "gpg-agent")
		kill.Env = env
		kill.Run()
		os.RemoveAll(home)
	})
	run := func(stdout string, args ...string) {
		t.Helper()
		cmd := exec.Command(gpg, append([]string{"--batch", "--pinentry-mode", "loopback"}, args...)...)
		cmd.Env = env
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Run(); err != nil {
			t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, e.String())
		}
		if stdout != "" {
			if err := os.WriteFile(filepath.Join(out, stdout), o.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	run("", "--passphrase", "", "--quick-gen-key", "Helm Signer <helm@example.com>", "rsa2048", "sign", "never")
	run("", "--passphrase", "s3cret", "--quick-gen-key", "Locked Signer <locked@example.com>", "rsa2048", "sign", "never")
	run("", "--passphrase", "", "--quick-gen-key", "Other Signer <other@example.com>", "rsa2048", "sign", "never")
	run("helm-sec.gpg", "--passphrase", "", "--export-secret-keys", "helm@example.com")
	run("helm-pub.gpg", "--export", "helm@example.com")
	run("helm-pub.asc", "--armor", "--export", "helm@example.com")
	run("locked-sec.asc", "--passphrase", "s3cret", "--armor", "--export-secret-keys", "locked@example.com")
	run("locked-pub.gpg", "--export", "locked@example.com")
	run("other-pub.gpg", "--export", "other@example.com")
	pass := filepath.Join(out, "pass.txt")
	os.WriteFile(pass, []byte("s3cret\n"), 0o600)
	p := func(n string) string { return filepath.Join(out, n) }
	return offKeys{helmSec: p("helm-sec.gpg"), helmPub: p("helm-pub.gpg"), helmPubArmored: p("helm-pub.asc"),
		lockedSecArmored: p("locked-sec.asc"), lockedPub: p("locked-pub.gpg"), otherPub: p("other-pub.gpg"), passFile: pass}
}

// offRun runs chartroom and returns stdout, stderr and the exit code.
func offRun(t *testing.T, e *toolEnv, args ...string) (string, string, int) {
	t.Helper()
	stdout, stderr, err := e.exec("", chartroomBin(t), args...)
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout, stderr, 0
	case errors.As(err, &exit):
		return stdout, stderr, exit.ExitCode()
	}
	t.Fatalf("chartroom %s: %v", strings.Join(args, " "), err)
	return "", "", -1
}

// offMust runs chartroom and fails the test unless it exits 0.
func offMust(t *testing.T, e *toolEnv, args ...string) string {
	t.Helper()
	stdout, stderr, code := offRun(t, e, args...)
	if code != 0 {
		t.Fatalf("chartroom %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

// offWantFailure fails the test unless chartroom exits with code and a one-line message
// containing each of want.
func offWantFailure(t *testing.T, e *toolEnv, code int, want []string, args ...string) {
	t.Helper()
	_, stderr, got := offRun(t, e, args...)
	if got != code {
		t.Errorf("chartroom %s: exit %d, want %d\n%s", strings.Join(args, " "), got, code, stderr)
	}
	if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 {
		t.Errorf("chartroom %s: stderr is not one line:\n%s", strings.Join(args, " "), stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("chartroom %s: stderr lacks %q:\n%s", strings.Join(args, " "), w, stderr)
		}
	}
}

func offTarNames(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			names = append(names, h.Name)
		}
	}
	slices.Sort(names)
	return names
}

// offWriteFiles writes files (slash path → content) under dir.
func offWriteFiles(t *testing.T, dir string, files map[string]string) {
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

// offWriteTgz writes a gzip tar of name, content pairs.
func offWriteTgz(t *testing.T, path string, files ...string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for i := 0; i+1 < len(files); i += 2 {
		if err := tw.WriteHeader(&tar.Header{Name: files[i], Mode: 0o644, Size: int64(len(files[i+1]))}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(files[i+1]))
	}
	tw.Close()
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func offCopyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestToolchainOfflineReproducible: the same chart packaged in two directories, at two
// times, with different file times and modes, gives byte-identical archives.
func TestToolchainOfflineReproducible(t *testing.T) {
	e := newToolEnv(t)
	a := filepath.Join(t.TempDir(), "toolapp")
	b := filepath.Join(t.TempDir(), "src", "renamed")
	offWriteFiles(t, a, offlineChart)
	offWriteFiles(t, b, offlineChart)
	then := time.Date(2003, 4, 5, 6, 7, 8, 0, time.UTC)
	filepath.Walk(b, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, then, then) })
	os.Chmod(filepath.Join(b, "templates", "NOTES.txt"), 0o755)

	outA, outB := t.TempDir(), t.TempDir()
	var first struct{ Path, Digest string }
	e.mustJSON("", &first, chartroomBin(t), "package", a, "-d", outA, "-o", "json")
	time.Sleep(1100 * time.Millisecond) // a different second on the clock
	var second struct{ Path, Digest string }
	e.mustJSON("", &second, chartroomBin(t), "package", b, "-d", outB, "-o", "json")
	if filepath.Base(first.Path) != "toolapp-0.3.1.tgz" || filepath.Base(second.Path) != "toolapp-0.3.1.tgz" {
		t.Fatalf("archive names %s, %s", first.Path, second.Path)
	}
	ha, hb := fileSHA256(t, first.Path), fileSHA256(t, second.Path)
	if ha != hb {
		t.Fatalf("the same chart packaged to sha256 %s and %s", ha, hb)
	}
	if first.Digest != ha {
		t.Errorf("package -o json digest %s, file sha256 %s", first.Digest, ha)
	}
	t.Logf("both archives: sha256 %s", ha)
}

func TestToolchainOffline(t *testing.T) {
	chartroomBin(t)
	keys := offMakeKeys(t)
	for _, h := range helmVersions {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			helm := need(t, h)
			work := t.TempDir()
			src := filepath.Join(work, "toolapp")
			offWriteFiles(t, src, offlineChart)

			t.Run("package: helm lint, template and show accept the archive; .helmignore as helm applies it", func(t *testing.T) {
				e := newToolEnv(t)
				out := filepath.Join(work, "cr")
				offMust(t, e, "package", src, "-d", out)
				archive := filepath.Join(out, "toolapp-0.3.1.tgz")
				e.must(helm, "lint", archive)
				rendered := e.must(helm, "template", "rel", archive)
				if !strings.Contains(rendered, "name: rel") || !strings.Contains(rendered, "replicas: 2") {
					t.Errorf("helm template output:\n%s", rendered)
				}
				show := e.must(helm, "show", "chart", archive)
				for _, w := range []string{"name: toolapp", "version: 0.3.1", "appVersion: \"1.10\""} {
					if !strings.Contains(show, w) {
						t.Errorf("helm show chart lacks %q:\n%s", w, show)
					}
				}
				e.must(helm, "package", src, "-d", filepath.Join(work, "helm"))
				if got, want := offTarNames(t, archive), offTarNames(t, filepath.Join(work, "helm", "toolapp-0.3.1.tgz")); !slices.Equal(got, want) {
					t.Errorf("chartroom packaged %v\nhelm packaged      %v", got, want)
				}
			})

			t.Run("chartroom-signed archives pass helm verify", func(t *testing.T) {
				e := newToolEnv(t)
				out := filepath.Join(work, "signed")
				offMust(t, e, "package", src, "-d", out, "--version", "0.4.0", "--sign", "--key", "helm@example.com", "--keyring", keys.helmSec)
				archive := filepath.Join(out, "toolapp-0.4.0.tgz")
				e.must(helm, "verify", archive, "--keyring", keys.helmPub)

				// A passphrase-protected, ASCII-armored secret key (helm cannot read either).
				out2 := filepath.Join(work, "signed-locked")
				offMust(t, e, "package", src, "-d", out2, "--version", "0.4.1")
				archive2 := filepath.Join(out2, "toolapp-0.4.1.tgz")
				offMust(t, e, "sign", archive2, "--key", "Locked Signer", "--keyring", keys.lockedSecArmored, "--passphrase-file", keys.passFile)
				e.must(helm, "verify", archive2, "--keyring", keys.lockedPub)
				if out, err := e.run(helm, "verify", archive2, "--keyring", keys.helmPub); err == nil {
					t.Errorf("helm verify accepted a signature by a key not in its keyring:\n%s", out)
				}
			})

			t.Run("helm-signed archives pass chartroom verify", func(t *testing.T) {
				e := newToolEnv(t)
				out := filepath.Join(work, "helm-signed")
				e.must(helm, "package", src, "-d", out, "--sign", "--key", "helm@example.com", "--keyring", keys.helmSec)
				archive := filepath.Join(out, "toolapp-0.3.1.tgz")
				for _, ring := range []string{keys.helmPub, keys.helmPubArmored} {
					var v struct{ Signer, Hash string }
					e.mustJSON("", &v, chartroomBin(t), "verify", archive, "--keyring", ring, "-o", "json")
					if v.Signer != "Helm Signer <helm@example.com>" || v.Hash != "sha256:"+fileSHA256(t, archive) {
						t.Errorf("verify with %s: %+v", filepath.Base(ring), v)
					}
				}
			})

			t.Run("tampered archive, tampered .prov and wrong key fail in both", func(t *testing.T) {
				e := newToolEnv(t)
				base := filepath.Join(work, "tamper")
				offMust(t, e, "package", src, "-d", base, "--sign", "--keyring", keys.helmSec)
				good := filepath.Join(base, "toolapp-0.3.1.tgz")
				prov, _ := os.ReadFile(good + ".prov")
				data, _ := os.ReadFile(good)

				cases := []struct {
					name          string
					archive, prov []byte
					keyring       string
					want          string
				}{
					{"tampered archive", append(append([]byte{}, data...), '\n'), prov, keys.helmPub, "archive was modified"},
					{"tampered .prov", data, bytes.Replace(prov, []byte("version: 0.3.1"), []byte("version: 0.3.2"), 1), keys.helmPub, ".prov was modified"},
					{"wrong key", data, prov, keys.otherPub, "not in the keyring"},
				}
				for _, c := range cases {
					t.Run(c.name, func(t *testing.T) {
						if bytes.Equal(c.prov, prov) && bytes.Equal(c.archive, data) && c.keyring == keys.helmPub {
							t.Fatal("test setup: nothing was changed")
						}
						dir := t.TempDir()
						p := filepath.Join(dir, "toolapp-0.3.1.tgz")
						os.WriteFile(p, c.archive, 0o644)
						os.WriteFile(p+".prov", c.prov, 0o644)
						if out, err := e.run(helm, "verify", p, "--keyring", c.keyring); err == nil {
							t.Errorf("helm verify passed:\n%s", out)
						}
						offWantFailure(t, e, 1, []string{c.want}, "verify", p, "--keyring", c.keyring)
					})
				}
			})

			t.Run("index: same entries as helm repo index; helm repo add and search on a file server", func(t *testing.T) {
				e := newToolEnv(t)
				repo := filepath.Join(work, "repo")
				for _, v := range []string{"0.1.0", "0.2.0", "0.3.1-rc.1"} {
					offMust(t, e, "package", src, "-d", repo, "--version", v)
				}
				offMust(t, e, "package", src, "-d", filepath.Join(repo, "archive"), "--version", "0.0.9", "--app-version", "0.9")
				other := filepath.Join(work, "other")
				e.must(helm, "create", other)
				e.must(helm, "package", other, "-d", repo)
				os.WriteFile(filepath.Join(repo, "broken-1.0.0.tgz"), []byte("not a chart"), 0o644)
				// Archives no helm package makes today, which helm repo index still reads:
				// apiVersion v1 with requirements.yaml, a loose version, an unquoted numeric appVersion.
				offWriteTgz(t, filepath.Join(repo, "legacy-0.1.0.tgz"),
					"legacy/Chart.yaml", "name: legacy\nversion: 0.1.0\ndescription: Helm 2 chart\n",
					"legacy/values.yaml", "a: 1\n",
					"legacy/requirements.yaml", "dependencies:\n- name: redis\n  version: ~1.0.0\n  repository: https://charts.example.com\n")
				offWriteTgz(t, filepath.Join(repo, "loose-v1.2.0.tgz"), "loose/Chart.yaml", "apiVersion: v2\nname: loose\nversion: v1.2.0\nappVersion: 1.10\n")

				srv := httptest.NewServer(http.FileServer(http.Dir(repo)))
				defer srv.Close()

				// Field by field against helm repo index on a copy of the same archives.
				helmRepo := filepath.Join(work, "helm-repo")
				filepath.Walk(repo, func(p string, fi os.FileInfo, err error) error {
					if err == nil && !fi.IsDir() {
						rel, _ := filepath.Rel(repo, p)
						offCopyFile(t, p, filepath.Join(helmRepo, rel))
					}
					return nil
				})
				oldIndex := filepath.Join(work, "old-index.yaml")
				os.WriteFile(oldIndex, []byte(`apiVersion: v1
entries:
  toolapp:
  - apiVersion: v2
    name: toolapp
    version: 0.2.0
    created: "2020-01-01T00:00:00Z"
    digest: "1111111111111111111111111111111111111111111111111111111111111111"
    urls: [https://old.example/toolapp-0.2.0.tgz]
  - apiVersion: v2
    name: toolapp
    version: 0.0.1
    description: only in the old index
    created: "2019-05-06T07:08:09Z"
    digest: "2222222222222222222222222222222222222222222222222222222222222222"
    urls: [https://old.example/toolapp-0.0.1.tgz]
generated: "2020-01-01T00:00:00Z"
`), 0o644)
				for _, merge := range []bool{false, true} {
					args := []string{"--url", srv.URL + "/", "--json"}
					if merge {
						args = append(args, "--merge", oldIndex)
					}
					started := time.Now().Add(-time.Second)
					offMust(t, e, append([]string{"index", repo}, args...)...)
					e.must(helm, append([]string{"repo", "index", helmRepo}, args...)...)
					ours := offReadIndex(t, filepath.Join(repo, "index.yaml"))
					theirs := offReadIndex(t, filepath.Join(helmRepo, "index.yaml"))
					offCompareIndexes(t, ours, theirs, started)
					if got := len(ours.Entries["toolapp"]); merge && got != 5 || !merge && got != 4 {
						t.Errorf("merge %v: %d toolapp versions", merge, got)
					}
				}

				// The YAML form, served, read by helm.
				var res struct{ Versions, Charts int }
				e.mustJSON("", &res, chartroomBin(t), "index", repo, "--url", srv.URL, "-o", "json")
				if res.Versions != 7 || res.Charts != 4 {
					t.Errorf("index -o json: %+v, want 7 versions of 4 charts", res)
				}
				e.must(helm, "repo", "add", "static", srv.URL)
				var found []struct{ Name, Version string }
				e.mustJSON("", &found, helm, "search", "repo", "static/toolapp", "--versions", "--devel", "-o", "json")
				var versions []string
				for _, f := range found {
					versions = append(versions, f.Version)
				}
				if got, want := strings.Join(versions, " "), "0.3.1-rc.1 0.2.0 0.1.0 0.0.9"; got != want {
					t.Errorf("helm search repo lists %q, want %q", got, want)
				}
				pulled := t.TempDir()
				e.must(helm, "pull", "static/toolapp", "--version", "0.0.9", "-d", pulled)
				if got, want := fileSHA256(t, filepath.Join(pulled, "toolapp-0.0.9.tgz")), fileSHA256(t, filepath.Join(repo, "archive", "toolapp-0.0.9.tgz")); got != want {
					t.Errorf("helm pulled sha256 %s from the static repository; the archive is %s", got, want)
				}
			})

			t.Run("bump: helm reads the edited Chart.yaml", func(t *testing.T) {
				e := newToolEnv(t)
				dir := filepath.Join(work, "bumped")
				offWriteFiles(t, dir, offlineChart)
				out := offMust(t, e, "bump", "minor", dir, "--app-version", "2.0")
				if out != "toolapp 0.3.1 → 0.4.0 (appVersion 1.10 → 2.0)\n" {
					t.Errorf("bump printed %q", out)
				}
				e.must(helm, "lint", dir)
				show := e.must(helm, "show", "chart", dir)
				if !strings.Contains(show, "version: 0.4.0") || !strings.Contains(show, `appVersion: "2.0"`) {
					t.Errorf("helm show chart:\n%s", show)
				}
				raw, _ := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
				if !strings.Contains(string(raw), "# Release toolchain test chart\n") || !strings.Contains(string(raw), "version: 0.4.0 # released by CI\n") {
					t.Errorf("bump lost comments:\n%s", raw)
				}
			})
		})
	}
}

// offIndex is an index written with --json.
type offIndex struct {
	APIVersion string                      `json:"apiVersion"`
	Entries    map[string][]map[string]any `json:"entries"`
	Generated  time.Time                   `json:"generated"`
}

func offReadIndex(t *testing.T, path string) offIndex {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var idx offIndex
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatalf("%s is not a JSON index: %v\n%s", path, err, data)
	}
	return idx
}

// offCompareIndexes checks every field of every entry, in order. created is the time of
// indexing for new entries (so it only has to fall within the run), and the same instant
// for entries kept from a merged index.
func offCompareIndexes(t *testing.T, ours, theirs offIndex, started time.Time) {
	t.Helper()
	if ours.APIVersion != theirs.APIVersion {
		t.Errorf("apiVersion %q, helm %q", ours.APIVersion, theirs.APIVersion)
	}
	var names, helmNames []string
	for n := range ours.Entries {
		names = append(names, n)
	}
	for n := range theirs.Entries {
		helmNames = append(helmNames, n)
	}
	slices.Sort(names)
	slices.Sort(helmNames)
	if !slices.Equal(names, helmNames) {
		t.Fatalf("charts %v, helm %v", names, helmNames)
	}
	for _, n := range names {
		a, b := ours.Entries[n], theirs.Entries[n]
		if len(a) != len(b) {
			t.Errorf("%s: %d versions, helm %d", n, len(a), len(b))
			continue
		}
		for i := range a {
			ca, cb := a[i]["created"], b[i]["created"]
			ta, erra := time.Parse(time.RFC3339Nano, ca.(string))
			tb, errb := time.Parse(time.RFC3339Nano, cb.(string))
			switch {
			case erra != nil || errb != nil:
				t.Errorf("%s %v: created %v / helm %v", n, a[i]["version"], ca, cb)
			case tb.Before(started):
				if !ta.Equal(tb) {
					t.Errorf("%s %v: kept entry created %v, helm %v", n, a[i]["version"], ca, cb)
				}
			case ta.Before(started) || ta.After(time.Now()):
				t.Errorf("%s %v: created %v is not the time of indexing", n, a[i]["version"], ca)
			}
			delete(a[i], "created")
			delete(b[i], "created")
			if !reflect.DeepEqual(a[i], b[i]) {
				ja, _ := json.Marshal(a[i])
				jb, _ := json.Marshal(b[i])
				t.Errorf("%s entry %d differs:\nchartroom %s\nhelm      %s", n, i, ja, jb)
			}
		}
	}
}
