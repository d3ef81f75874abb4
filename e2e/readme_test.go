package e2e

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The README's examples, run as a user would run them: every ```sh block of README.md, in
// order, in one bash (-euo pipefail) with a HOME of its own, starting in a directory that
// holds a copy of examples/ (as a clone does), against a real chartroom server, with the real
// helm (v3), oras, crane, curl, git and sqlite3. A README example that stops working fails
// this test, which names the README line of the failing command.
//
// The README is written for a reader with the quick start's server on 127.0.0.1:8080 and a
// production server at https://charts.example.com; the test rewrites those names (and the
// production paths) to what it runs, with the rewrites of readmeRewrites, and nothing else.
//
// A block that cannot run here carries, on the line right before its fence,
//
//	<!-- readme-test: skip (why) -->
//
// with the reason, which the test logs. Use it sparingly: for commands that would run the
// test itself (make test), build the binary, or stop the server; a block a test elsewhere
// mirrors one to one says which.
//
// A command that starts a server (`chartroom serve …`) is checked instead of used: it starts
// with its flags, environment and --config on a free port and an empty data directory, must
// become ready, and is stopped; the examples are served by the test's own server.

// readmeMarker is a directive on the line before a fence.
var readmeMarker = regexp.MustCompile(`^<!--\s*readme-test:\s*(.*?)\s*-->$`)

var readmeSkip = regexp.MustCompile(`^skip \((.+)\)$`)

// readmeBlock is one fenced block of the README.
type readmeBlock struct {
	fence int      // line number (1-based) of the opening fence
	lang  string   // the fence's info string: sh, json, …
	lines []string // the block's lines; lines[i] is README line fence+1+i
	skip  string   // why the block is not run ("" when it runs)
}

// runs reports whether the test runs the block: every sh block without a skip marker.
func (b readmeBlock) runs() bool {
	return (b.lang == "sh" || b.lang == "bash") && b.skip == ""
}

// parseReadme splits a Markdown text into its fenced blocks and checks the markers: each
// names a reason and stands right before the sh block it skips.
func parseReadme(text string) ([]readmeBlock, error) {
	lines := strings.Split(text, "\n")
	var (
		blocks []readmeBlock
		cur    *readmeBlock
		skip   string
		skipAt int
	)
	for i, line := range lines {
		n := i + 1
		if cur != nil {
			if strings.TrimSpace(line) == "```" {
				blocks = append(blocks, *cur)
				cur = nil
				continue
			}
			cur.lines = append(cur.lines, line)
			continue
		}
		if m := readmeMarker.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			s := readmeSkip.FindStringSubmatch(m[1])
			if s == nil {
				return nil, fmt.Errorf("README.md:%d: %q is not a readme-test directive: write <!-- readme-test: skip (the reason) -->", n, line)
			}
			skip, skipAt = s[1], n
			continue
		}
		if strings.HasPrefix(line, "```") {
			cur = &readmeBlock{fence: n, lang: strings.TrimSpace(strings.TrimPrefix(line, "```"))}
			if skip != "" {
				if skipAt != n-1 || (cur.lang != "sh" && cur.lang != "bash") {
					return nil, fmt.Errorf("README.md:%d: a readme-test skip marker must stand on the line right before a ```sh fence", skipAt)
				}
				cur.skip, skip = skip, ""
			}
			continue
		}
		if skip != "" {
			return nil, fmt.Errorf("README.md:%d: a readme-test skip marker must stand on the line right before a ```sh fence", skipAt)
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("README.md:%d: the block opened here is never closed", cur.fence)
	}
	if skip != "" {
		return nil, fmt.Errorf("README.md:%d: a readme-test skip marker must stand on the line right before a ```sh fence", skipAt)
	}
	return blocks, nil
}

// readmeScript is the bash script of the README's runnable blocks, rewritten: its line n is
// README line n (or empty), so bash's $LINENO is the README's line number. Line 1 sources the
// prologue.
func readmeScript(text string, blocks []readmeBlock, rewrite func(string) string) (string, error) {
	lines := make([]string, len(strings.Split(text, "\n")))
	for _, b := range blocks {
		if !b.runs() {
			continue
		}
		if b.fence < 2 {
			return "", errors.New("README.md:1 must not be a fence: the script's first line sources the prologue")
		}
		for i, l := range b.lines {
			lines[b.fence+i] = rewrite(l)
		}
	}
	lines[0] = `source "$READMETEST_PROLOGUE"`
	return strings.Join(lines, "\n") + "\n", nil
}

// readmePrologue sets the shell up: strict mode, every command traced with its README line,
// the failing README line reported, and `chartroom serve` checked rather than used.
const readmePrologue = `set -euo pipefail
PS4='+ ${BASH_SOURCE[0]##*/}:${LINENO}: '
exec 3>&2

# The prologue's own commands are not traced: { set +x; } 2>/dev/null hides even itself, and
# local - restores tracing when the function returns.
readme_failed() {
	{ local -; set +x; } 2>/dev/null
	printf '\nreadme-test: README.md:%s: exit %s\n' "$2" "$1" >&3
}
trap '{ readme_failed $? $LINENO; } 2>/dev/null' ERR

readme_cleanup() {
	local p
	for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done
}
trap '{ readme_cleanup; } 2>/dev/null' EXIT

# A function's failure is reported at its call, in the README: each one returns its command's
# status instead of letting set -e stop the shell inside it.
chartroom() {
	{ local -; set +x; } 2>/dev/null
	if [ "${1-}" = serve ]; then
		shift
		readme_serve "$@" || return
		return 0
	fi
	command chartroom "$@" || return
}

# readme_serve checks a README command that starts the server: with its flags, environment
# and --config, on a free port and an empty data directory, it must become ready and stop
# cleanly on SIGTERM.
readme_serve() {
	local dir pid addr="" i rc=0
	dir=$(mktemp -d "$READMETEST_TMP/serve.XXXXXX") || return
	command chartroom serve "$@" --listen 127.0.0.1:0 --data-dir "$dir/data" --shutdown-delay=0s >"$dir/log" 2>&1 &
	pid=$!
	for ((i = 0; i < 600; i++)); do
		if [ -z "$addr" ]; then
			addr=$(grep -Eo 'addr[":= ]+127\.0\.0\.1:[0-9]+' "$dir/log" | grep -Eo '127\.0\.0\.1:[0-9]+' | head -n 1) || true
		fi
		if [ -n "$addr" ] && curl -fsS -o /dev/null "http://$addr/readyz" 2>/dev/null; then
			break
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" || rc=$?
			echo "readme-test: chartroom serve $* exited ($rc) before it was ready; its log:" >&2
			cat "$dir/log" >&2
			return 1
		fi
		sleep 0.1
	done
	if [ "$i" -ge 600 ]; then
		kill -KILL "$pid" 2>/dev/null || true
		echo "readme-test: chartroom serve $* was not ready within 60 s; its log:" >&2
		cat "$dir/log" >&2
		return 1
	fi
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "readme-test: chartroom serve $* exited $rc on SIGTERM; its log:" >&2
		cat "$dir/log" >&2
		return 1
	fi
	echo "readme-test: chartroom serve $* was ready on $addr and stopped (the test's server serves the examples)" >&2
}

set -x
`

// readmeFailure is the line the prologue prints when a command fails.
var readmeFailure = regexp.MustCompile(`readme-test: README.md:(\d+): exit (\d+)`)

// readmeTimeout bounds the whole run.
const readmeTimeout = 8 * time.Minute

// readmeRewrite is one substitution the test makes in the README's commands.
type readmeRewrite struct{ from, to string }

// readmeRewrites are the only changes the test makes to the README's commands: the names of
// the servers and paths the README is written for, replaced by the test's.
func readmeRewrites(srv *Server, httpsHost, root string) []readmeRewrite {
	return []readmeRewrite{
		// The quick start's server is the test's, on a free port, with its admin password.
		{"127.0.0.1:8080", srv.Host()},
		{"localhost:8080", srv.Host()},
		{"change-me", srv.Password},
		// A production server behind HTTPS is the test's, behind a TLS proxy.
		{"charts.example.com", httpsHost},
		// Its data directory, config file and backups.
		{"/var/lib/chartroom", srv.DataDir}, // not /var/lib/chartmuseum: "chartr" ≠ "chartm"
		{"/etc/chartroom.yaml", filepath.Join(root, "etc", "chartroom.yaml")},
		{"/backup/", filepath.Join(root, "backup") + "/"},
		// A ChartMuseum's storage directory, with a few charts in it.
		{"/var/lib/chartmuseum", filepath.Join(root, "var", "lib", "chartmuseum")},
	}
}

// TestReadmeMarkers checks the README's readme-test markers; it needs no server or tool.
func TestReadmeMarkers(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseReadme(string(text))
	if err != nil {
		t.Fatal(err)
	}
	run := 0
	for _, b := range blocks {
		if b.runs() {
			run++
		}
	}
	if run == 0 {
		t.Fatal("README.md has no sh block to run")
	}

	for _, tc := range []struct {
		name, text, want string
	}{
		{"skip without a reason", "a\n<!-- readme-test: skip -->\n```sh\nls\n```\n", "not a readme-test directive"},
		{"unknown directive", "a\n<!-- readme-test: run twice -->\n```sh\nls\n```\n", "not a readme-test directive"},
		{"skip away from the fence", "a\n<!-- readme-test: skip (x) -->\n\n```sh\nls\n```\n", "right before"},
		{"skip of a json block", "a\n<!-- readme-test: skip (x) -->\n```json\n{}\n```\n", "right before"},
		{"skip at the end", "a\n<!-- readme-test: skip (x) -->\n", "right before"},
		{"unclosed block", "a\n```sh\nls\n", "never closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseReadme(tc.text)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseReadme: %v; want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestReadmeExamples runs the README's examples.
func TestReadmeExamples(t *testing.T) {
	t.Parallel()
	text, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseReadme(string(text))
	if err != nil {
		t.Fatal(err)
	}
	examples, err := filepath.Abs(filepath.Join("..", "examples"))
	if err != nil {
		t.Fatal(err)
	}

	// The commands the README uses besides chartroom and the peer tools.
	for _, c := range []string{"bash", "git", "curl", "sqlite3", "grep", "mktemp"} {
		if _, err := exec.LookPath(c); err != nil {
			missing(t, fmt.Sprintf("%s is not installed: the README's examples use it", c))
		}
	}
	bin, err := filepath.Abs(chartroomBin(t))
	if err != nil {
		t.Fatal(err)
	}
	binDir := t.TempDir()
	for name, target := range map[string]string{
		"chartroom": bin,
		"helm":      need(t, helm3),
		"oras":      need(t, oras),
		"crane":     need(t, crane),
	} {
		if err := os.Symlink(target, filepath.Join(binDir, name)); err != nil {
			t.Fatal(err)
		}
	}

	srv := StartServer(t)
	httpsHost, caFile := tlsFront(t, srv)

	// What the README's production examples take for granted: a config file naming the data
	// directory, a place for backups, a ChartMuseum storage directory with charts in it.
	root := t.TempDir()
	for _, d := range []string{"etc", "backup", "var/lib/chartmuseum"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "chartroom.yaml"), []byte("data-dir: "+srv.DataDir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	chartmuseumStorage(t, bin, examples, filepath.Join(root, "var", "lib", "chartmuseum"))

	// The shell starts in a directory holding examples/, as a clone does.
	work := t.TempDir()
	if out, err := exec.Command("cp", "-R", examples, filepath.Join(work, "examples")).CombinedOutput(); err != nil {
		t.Fatalf("copy examples/: %v\n%s", err, out)
	}

	rewrites := readmeRewrites(srv, httpsHost, root)
	script, err := readmeScript(string(text), blocks, func(l string) string {
		for _, r := range rewrites {
			l = strings.ReplaceAll(l, r.from, r.to)
		}
		return l
	})
	if err != nil {
		t.Fatal(err)
	}
	scripts := t.TempDir()
	// Named README.md, so that the trace names each command's README line as README.md:N.
	scriptFile, prologueFile := filepath.Join(scripts, "README.md"), filepath.Join(scripts, "prologue.sh")
	if err := os.WriteFile(scriptFile, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prologueFile, []byte(readmePrologue), 0o644); err != nil {
		t.Fatal(err)
	}

	env := newToolEnv(t)
	// curl as on a terminal: no progress meter on a pipe (errors are still shown).
	if err := os.WriteFile(filepath.Join(env.home, ".curlrc"), []byte("silent\nshow-error\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vars := []string{
		"READMETEST_PROLOGUE=" + prologueFile,
		"READMETEST_TMP=" + t.TempDir(),
		// The TLS proxy's certificate, trusted by Go programs and curl.
		"SSL_CERT_FILE=" + caFile,
		"CURL_CA_BUNDLE=" + caFile,
		// git as on a machine where the user has set a name.
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Jane Doe", "GIT_AUTHOR_EMAIL=jane@example.com",
		"GIT_COMMITTER_NAME=Jane Doe", "GIT_COMMITTER_EMAIL=jane@example.com",
		"LANG=C.UTF-8",
	}
	for _, kv := range env.env {
		if strings.HasPrefix(kv, "PATH=") {
			kv = "PATH=" + binDir + string(os.PathListSeparator) + strings.TrimPrefix(kv, "PATH=")
		}
		vars = append(vars, kv)
	}

	ran := 0
	for _, b := range blocks {
		switch {
		case b.runs():
			ran++
		case b.skip != "":
			t.Logf("README.md:%d: not run: %s", b.fence, b.skip)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), readmeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", scriptFile)
	cmd.Dir = work
	cmd.Env = vars
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// On a timeout, end the shell and whatever it started (servers of readme_serve included).
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	if err == nil {
		t.Logf("ran %d README blocks in %s; output:\n%s", ran, time.Since(start).Round(time.Second), out.String())
		return
	}
	lines := strings.Split(string(text), "\n")
	m := readmeFailure.FindStringSubmatch(out.String())
	switch {
	case ctx.Err() != nil:
		t.Fatalf("the README's examples did not finish within %s; output:\n%s", readmeTimeout, tail(out.String(), 80))
	case m == nil:
		t.Fatalf("the README's examples failed (%v) without naming a line; output:\n%s", err, tail(out.String(), 80))
	default:
		n, _ := strconv.Atoi(m[1])
		t.Fatalf("README.md:%d: exit %s:\n%s\noutput:\n%s", n, m[2], readmeCommand(lines, n), tail(out.String(), 80))
	}
}

// readmeCommand is the README's command that ends on line n (1-based), with the lines it
// continues from.
func readmeCommand(lines []string, n int) string {
	if n < 1 || n > len(lines) {
		return ""
	}
	first := n
	for first > 1 && strings.HasSuffix(lines[first-2], "\\") {
		first--
	}
	return "    " + strings.Join(lines[first-1:n], "\n    ")
}

// tlsFront starts an HTTPS reverse proxy in front of srv, as a production server has, and
// returns its host:port and a PEM file of the certificate to trust.
func tlsFront(t *testing.T, srv *Server) (host, caFile string) {
	t.Helper()
	target, err := url.Parse(srv.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	quiet := log.New(io.Discard, "", 0)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
			r.SetXForwarded()
		},
		ErrorLog: quiet,
	}
	ts := httptest.NewUnstartedServer(proxy)
	ts.Config.ErrorLog = quiet
	ts.StartTLS()
	t.Cleanup(ts.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	if err := os.WriteFile(caFile, cert, 0o644); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host, caFile
}

// chartmuseumStorage fills dir as a ChartMuseum stores charts: archives, one with its .prov,
// packaged from the examples' library chart.
func chartmuseumStorage(t *testing.T, bin, examples, dir string) {
	t.Helper()
	chart := filepath.Join(examples, "charts", "myapp", "charts", "mylib")
	for _, args := range [][]string{
		{"package", chart, "-d", dir},
		{"package", chart, "-d", dir, "--version", "1.1.0", "--sign", "--key", "Jane Doe", "--keyring", filepath.Join(examples, "secring.gpg")},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Env = cleanEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("chartroom %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
