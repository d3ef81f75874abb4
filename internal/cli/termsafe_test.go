package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/chartroom/chartroom/internal/chart"
)

// payload is what a hostile server or archive slips into a string chartroom prints: a
// carriage return and an ANSI sequence that rewrite the line, a C1 control, a bidi
// override, and a new line that a GitHub Actions runner would read as a workflow command.
const payload = "\r\x1b[2Kall good\u009b31m\u202e\n::error file=a::pwned"

// ourAnnotation is a workflow command chartroom check --format github writes itself.
var ourAnnotation = regexp.MustCompile(`^::(error|warning|notice) (file=[^,:]*,)?(line=\d+,)?title=chartroom check%3A [a-z-]+( change)?::`)

// wantSafe fails when out holds a control (other than the line breaks), C1 or bidi
// character, or a line starting with "::" that is not one of chartroom's annotations.
func wantSafe(t *testing.T, what, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s is not UTF-8: %q", what, out)
	}
	for _, r := range out {
		if r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r <= 0x9f ||
			r == 0x061c || r == 0x200e || r == 0x200f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
			t.Errorf("%s holds the raw character %U: %q", what, r, out)
			return
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "::") && !ourAnnotation.MatchString(line) {
			t.Errorf("%s has a line a CI runner reads as a command: %q", what, line)
		}
	}
}

// writeTgz writes a gzipped tar of files (name → content), names taken as they are.
func writeTgz(t *testing.T, path string, files [][2]string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f[1]))
	}
	tw.Close()
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Text that servers, index files and archives supply reaches the terminal (and a CI log)
// with every control, C1 and bidi character escaped, in errors and in output alike.
func TestForeignTextIsPrintedSafe(t *testing.T) {
	isolateHome(t)
	archivePath, _, err := chart.PackageToDir(context.Background(), tcChart(t, filepath.Join(t.TempDir(), "myapp"), "myapp"), t.TempDir(), chart.PackageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	archive, _ := os.ReadFile(archivePath)
	yamlPayload := fmt.Sprintf("%q", payload) // a YAML double-quoted string holding it
	jsonPayload, _ := json.Marshal(payload)

	t.Run("index digest", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/team/index.yaml":
				fmt.Fprintf(w, "apiVersion: v1\nentries:\n  myapp:\n  - name: myapp\n    version: 1.4.2\n    digest: %s\n    urls: [charts/myapp-1.4.2.tgz]\n", yamlPayload)
			case "/team/charts/myapp-1.4.2.tgz":
				w.Write(archive)
			default:
				http.NotFound(w, r)
			}
		}))
		defer srv.Close()
		r := run(t, "", "pull", srv.URL+"/team", "myapp", "--version", "1.4.2", "-d", t.TempDir())
		r.wantExit(t, 2, `but `+srv.URL+`/team/index.yaml says \r\x1b[2Kall good\u009b31m\u202e\n::error file=a::pwned`)
		wantSafe(t, "stderr", r.stderr)
	})

	t.Run("server error bodies", func(t *testing.T) {
		for _, tc := range []struct {
			name, contentType, body string
			status                  int
		}{
			{"json", "application/json", `{"error": ` + string(jsonPayload) + `}`, http.StatusInternalServerError},
			{"text", "text/plain", "denied " + payload, http.StatusForbidden},
		} {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			r := run(t, "", "pull", srv.URL+"/team", "myapp", "-d", t.TempDir())
			srv.Close()
			r.wantExit(t, 2, `all good\u009b31m\u202e`)
			wantSafe(t, tc.name+" stderr", r.stderr)
		}
	})

	t.Run("OCI error", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2/" {
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `{"errors":[{"code":"DENIED","message":%s}]}`, jsonPayload)
		}))
		defer srv.Close()
		r := run(t, "", "pull", "oci://"+strings.TrimPrefix(srv.URL, "http://")+"/team/myapp", "--plain-http", "-d", t.TempDir())
		r.wantExit(t, 2, `(the server said: \r\x1b[2Kall good`)
		wantSafe(t, "stderr", r.stderr)
	})

	t.Run("index --merge warnings", func(t *testing.T) {
		dir := t.TempDir()
		merge := filepath.Join(t.TempDir(), "index.yaml")
		os.WriteFile(merge, []byte(fmt.Sprintf(`apiVersion: v1
entries:
  other:
  - apiVersion: v2
    name: other
    version: 1.0.0
    urls: [%s, https://b.example/other-1.0.0.tgz]
  broken:
  - apiVersion: v2
    name: broken
    version: %s
    urls: [https://b.example/broken.tgz]
`, yamlPayload, yamlPayload)), 0o644)
		r := run(t, "", "index", dir, "--merge", merge)
		r.wantExit(t, 0, `kept only the first of its 2 urls (\r\x1b[2Kall good`)
		wantSafe(t, "stderr", r.stderr)
		wantSafe(t, "stdout", r.stdout)
	})

	t.Run("check: names inside the baseline archive", func(t *testing.T) {
		base := filepath.Join(t.TempDir(), "webapp-1.0.0.tgz")
		writeTgz(t, base, [][2]string{
			{"webapp/Chart.yaml", "apiVersion: v2\nname: webapp\nversion: 1.0.0\n"},
			{"webapp/values.yaml", "replicas: 1\n" + yamlPayload + ": 2\n"}, // a key removed since: major
			{"webapp/files/x" + payload + ".txt", "gone in the new version\n"},
			{"webapp/files/\u202eevil.txt", "gone too\n"},
		})
		cur := filepath.Join(t.TempDir(), "webapp")
		tcWriteTree(t, cur, map[string]string{
			"Chart.yaml":  "apiVersion: v2\nname: webapp\nversion: 1.0.1\n",
			"values.yaml": "replicas: 1\n",
		})
		r := run(t, "", "check", cur, "--against", base)
		r.wantExit(t, 1, `files/x\r\x1b[2Kall good\u009b31m\u202e\n::error file=a::pwned.txt`, "bump to 2.0.0\n  values: ")
		wantSafe(t, "check stdout", r.stdout)
		wantSafe(t, "check stderr", r.stderr)

		r = run(t, "", "check", cur, "--against", base, "--format", "github")
		r.wantExit(t, 1)
		wantSafe(t, "check --format github stdout", r.stdout)
		wantSafe(t, "check --format github stderr", r.stderr)
		if n := strings.Count("\n"+r.stdout, "\n::"); n != 4 { // bump-too-small, 3 changes
			t.Errorf("expected chartroom's own annotations, got:\n%s", r.stdout)
		}
	})
}
