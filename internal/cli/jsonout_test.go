package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wantJSONError fails unless the run printed exactly one JSON object {"error", "exit"} on
// stdout, matching its exit code and the one line on stderr.
func (r result) wantJSONError(t *testing.T, code int, want string) {
	t.Helper()
	r.wantExit(t, code, want)
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	var e struct {
		Error *string `json:"error"`
		Exit  *int    `json:"exit"`
	}
	if err := dec.Decode(&e); err != nil || e.Error == nil || e.Exit == nil {
		t.Fatalf("stdout is not a JSON error object: %v\n%s", err, r.stdout)
	}
	if dec.More() {
		t.Errorf("stdout holds more than one JSON document:\n%s", r.stdout)
	}
	if *e.Exit != code || "chartroom: "+*e.Error != strings.TrimSpace(r.stderr) {
		t.Errorf("JSON error %q (exit %d) differs from stderr %q (exit %d)", *e.Error, *e.Exit, r.stderr, code)
	}
}

// With -o json every command answers JSON on failure too, whatever failed: the arguments,
// the input, the registry or the check.
func TestJSONErrors(t *testing.T) {
	isolateHome(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such")
	archive := cliArchive(t, dir, "myapp", "1.0.0", "a")
	if err := os.WriteFile(archive+".prov", []byte("not a provenance file"), 0o644); err != nil {
		t.Fatal(err)
	}
	chartDir := tcChart(t, filepath.Join(dir, "chart"), "myapp")
	for _, tc := range []struct {
		name string
		code int
		want string
		args []string
	}{
		{"usage", 2, "accepts 2 arg(s)", []string{"push", "-o", "json"}},
		{"unknown flag", 2, "unknown flag: --bogus", []string{"pull", "-o", "json", "--bogus"}},
		{"flag after the error", 2, "unknown flag: --bogus", []string{"pull", "--bogus", "--output=json"}},
		{"unknown command", 2, `unknown command "nosuch"`, []string{"nosuch", "-o", "json"}},
		{"unreachable registry", 2, "cannot reach 127.0.0.1:1", []string{"pull", "oci://127.0.0.1:1/team/myapp", "--version", "1.0.0", "--plain-http", "-o", "json"}},
		{"push input", 2, "no such file", []string{"push", missing + ".tgz", "oci://127.0.0.1:1/team", "-o", "json"}},
		{"lock", 2, "no such file", []string{"lock", missing, "-o", "json"}},
		{"dependency build", 2, "no such file", []string{"dependency", "build", missing, "-o", "json"}},
		{"check", 2, "--against is required", []string{"check", chartDir, "-o", "json"}},
		{"check --format", 2, "--against is required", []string{"check", chartDir, "--format", "json"}},
		{"package", 2, "does not exist", []string{"package", missing, "-o", "json"}},
		{"sign", 2, "", []string{"sign", missing + ".tgz", "--key", "x", "-o", "json"}},
		{"verify failed", 1, "", []string{"verify", archive, "--keyring", missing, "-o", "json"}},
		{"index", 2, "is not a directory", []string{"index", missing, "-o", "json"}},
		{"bump", 2, "", []string{"bump", "patch", missing, "-o", "json"}},
		{"fsck", 2, "", []string{"fsck", "--data-dir", missing, "-o", "json"}},
		{"backup", 2, "", []string{"backup", "--data-dir", missing, filepath.Join(dir, "backup"), "-o", "json"}},
		{"version", 2, "unknown command", []string{"version", "extra", "-o", "json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, "", tc.args...)
			if tc.name == "verify failed" {
				// Which of 1 and 2 verify exits with depends on what it finds first; the
				// JSON must say the same as the exit code.
				tc.code = r.code
			}
			r.wantJSONError(t, tc.code, tc.want)
		})
	}

	// Text output stays text.
	r := run(t, "", "push")
	r.wantExit(t, 2)
	if r.stdout != "" {
		t.Errorf("text mode printed on stdout: %q", r.stdout)
	}
}

// A command that printed its JSON result before failing (a failed check's report, lock
// --check's differences) prints that one document, not an error object after it.
func TestJSONResultOnFailureIsOneDocument(t *testing.T) {
	isolateHome(t)
	base, changed := scenario("23-resource-removed-by-if-default-flip")
	r := run(t, "", "check", changed, "--against", base, "-o", "json")
	r.wantExit(t, 1)
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	var rep map[string]any
	if err := dec.Decode(&rep); err != nil || rep["verdict"] != "fail" {
		t.Fatalf("check -o json: %v %v\n%s", err, rep, r.stdout)
	}
	if dec.More() {
		t.Errorf("stdout holds more than the report:\n%s", r.stdout)
	}
}

// JSON output is plain JSON: "<" and ">" are written as they are, not as \u003c and \u003e.
func TestJSONDoesNotEscapeHTML(t *testing.T) {
	isolateHome(t)
	dir := t.TempDir()
	base := tcChart(t, filepath.Join(dir, "base"), "myapp")
	changed := tcChart(t, filepath.Join(dir, "changed"), "myapp")
	tcWriteTree(t, base, map[string]string{"values.yaml": "replicas: 1\n\"a<b>\": 1\n"})
	r := run(t, "", "check", changed, "--against", base, "-o", "json")
	if !strings.Contains(r.stdout, `a<b>`) || strings.Contains(r.stdout, `\u003c`) {
		t.Errorf("check -o json escapes HTML characters:\n%s", r.stdout)
	}
	r = run(t, "", "package", filepath.Join(dir, "<missing>"), "-o", "json")
	if !strings.Contains(r.stdout, "<missing>") || strings.Contains(r.stdout, `\u003c`) {
		t.Errorf("the JSON error escapes HTML characters:\n%s", r.stdout)
	}
}

// chartroom --version and chartroom version print one format: version and commit.
func TestVersionFormat(t *testing.T) {
	oldV, oldC := Version, Commit
	t.Cleanup(func() { Version, Commit = oldV, oldC })
	Version, Commit = "v9.8.7", "0123456789abcdef0123456789abcdef01234567"

	a, b := run(t, "", "--version"), run(t, "", "version")
	a.wantExit(t, 0)
	b.wantExit(t, 0)
	want := "chartroom v9.8.7 (commit 0123456789abcdef0123456789abcdef01234567, "
	if a.stdout != b.stdout || !strings.HasPrefix(a.stdout, want) || strings.Count(a.stdout, "\n") != 1 {
		t.Errorf("--version printed %q, version printed %q; want both to start with %q", a.stdout, b.stdout, want)
	}
	var info struct{ Version, Commit, Go, Platform string }
	r := run(t, "", "version", "-o", "json")
	r.wantExit(t, 0)
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil || info.Version != Version || info.Commit != Commit || info.Go == "" || info.Platform == "" {
		t.Errorf("version -o json: %+v %v\n%s", info, err, r.stdout)
	}

	// Without a commit set at link time, the build's own record is used, or it says so.
	Commit = ""
	r = run(t, "", "version")
	if want := versionLine(readBuildInfo()); r.stdout != want+"\n" || !strings.Contains(r.stdout, "commit ") {
		t.Errorf("version printed %q, want %q", r.stdout, want)
	}
}
