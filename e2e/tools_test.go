package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// tool is a peer binary the tests drive; its path comes from an environment variable that
// scripts/tools.sh prints.
type tool struct {
	name string
	env  string
}

var (
	helm3 = tool{"helm3", "CHARTROOM_HELM3"}
	helm4 = tool{"helm4", "CHARTROOM_HELM4"}
	oras  = tool{"oras", "CHARTROOM_ORAS"}
	crane = tool{"crane", "CHARTROOM_CRANE"}
)

// need returns the tool's path, or skips the test (fails it when CI is set).
func need(t testing.TB, tl tool) string {
	t.Helper()
	p := os.Getenv(tl.env)
	if p == "" {
		missing(t, fmt.Sprintf("%s is not set: export the paths scripts/tools.sh prints, or run make test", tl.env))
	}
	if _, err := os.Stat(p); err != nil {
		missing(t, fmt.Sprintf("%s=%s: %v", tl.env, p, err))
	}
	return p
}

// toolTimeout bounds one peer command.
const toolTimeout = 3 * time.Minute

// toolEnv runs peer binaries with a private HOME and XDG directories, so that their registry
// logins, caches and docker config belong to one test and never to the developer's account.
type toolEnv struct {
	t    testing.TB
	home string
	env  []string
}

func newToolEnv(t testing.TB) *toolEnv {
	home := t.TempDir()
	dirs := map[string]string{
		"HOME":             home,
		"XDG_CONFIG_HOME":  filepath.Join(home, ".config"),
		"XDG_CACHE_HOME":   filepath.Join(home, ".cache"),
		"XDG_DATA_HOME":    filepath.Join(home, ".local", "share"),
		"XDG_STATE_HOME":   filepath.Join(home, ".local", "state"),
		"HELM_CONFIG_HOME": filepath.Join(home, ".config", "helm"),
		"HELM_CACHE_HOME":  filepath.Join(home, ".cache", "helm"),
		"HELM_DATA_HOME":   filepath.Join(home, ".local", "share", "helm"),
		"DOCKER_CONFIG":    filepath.Join(home, ".docker"),
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"TMPDIR=" + os.TempDir(),
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost",
		"HELM_NO_PLUGINS=1",
		"HELM_REGISTRY_CONFIG=" + filepath.Join(home, ".config", "helm", "registry", "config.json"),
	}
	for k, v := range dirs {
		if err := os.MkdirAll(v, 0o700); err != nil {
			t.Fatal(err)
		}
		env = append(env, k+"="+v)
	}
	return &toolEnv{t: t, home: home, env: env}
}

// runIn runs bin with args in dir ("" for the test's HOME) and returns its combined output.
func (e *toolEnv) runIn(dir, bin string, args ...string) (string, error) {
	e.t.Helper()
	stdout, stderr, err := e.exec(dir, bin, args...)
	return stdout + stderr, err
}

// exec runs bin and returns stdout and stderr apart.
func (e *toolEnv) exec(dir, bin string, args ...string) (string, string, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = e.env
	cmd.Dir = dir
	if dir == "" {
		cmd.Dir = e.home
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	e.t.Logf("$ %s %s\n%s%s", filepath.Base(bin), redact(args), stdout.String(), stderr.String())
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s: %w", toolTimeout, err)
	}
	return stdout.String(), stderr.String(), err
}

// mustJSON runs bin in dir, fails the test if it fails, and decodes its stdout into v.
func (e *toolEnv) mustJSON(dir string, v any, bin string, args ...string) {
	e.t.Helper()
	stdout, stderr, err := e.exec(dir, bin, args...)
	if err != nil {
		e.t.Fatalf("%s %s: %v\n%s%s", filepath.Base(bin), redact(args), err, stdout, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), v); err != nil {
		e.t.Fatalf("%s %s: stdout is not the expected JSON: %v\n%s", filepath.Base(bin), redact(args), err, stdout)
	}
}

func (e *toolEnv) run(bin string, args ...string) (string, error) {
	e.t.Helper()
	return e.runIn("", bin, args...)
}

// must runs bin and fails the test if it fails.
func (e *toolEnv) must(bin string, args ...string) string {
	e.t.Helper()
	return e.mustIn("", bin, args...)
}

func (e *toolEnv) mustIn(dir, bin string, args ...string) string {
	e.t.Helper()
	out, err := e.runIn(dir, bin, args...)
	if err != nil {
		e.t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), redact(args), err, out)
	}
	return out
}

// redact hides the value after a password flag in logged command lines.
func redact(args []string) string {
	out := make([]string, len(args))
	copy(out, args)
	for i := range out {
		if (out[i] == "--password" || out[i] == "-p") && i+1 < len(out) {
			out[i+1] = "***"
		}
	}
	return strings.Join(out, " ")
}

var digestRE = regexp.MustCompile(`Digest: (sha256:[0-9a-f]{64})`)

// printedDigest is the digest a helm or oras command printed as "Digest: sha256:…".
func printedDigest(t testing.TB, out string) string {
	t.Helper()
	m := digestRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no \"Digest: sha256:…\" in the output:\n%s", out)
	}
	return m[1]
}

func fileSHA256(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256Hex(b)
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
