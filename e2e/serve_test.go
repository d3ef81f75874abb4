package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOperations checks the endpoints operators and orchestrators use, and the JSON 404
// of everything chartroom does not serve.
func TestOperations(t *testing.T) {
	t.Parallel()
	srv := StartServer(t)
	if err := adminClient(srv).push(newImage("team/ops/demo", "v1", 2048)); err != nil {
		t.Fatalf("push: %v", err)
	}
	get := func(path string) (int, string, http.Header) {
		resp, err := http.Get(srv.URL(path))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	if status, _, _ := get("/healthz"); status != 200 {
		t.Errorf("/healthz = %d", status)
	}
	if status, _, _ := get("/readyz"); status != 200 {
		t.Errorf("/readyz = %d", status)
	}
	status, metrics, _ := get("/metrics")
	if status != 200 {
		t.Fatalf("/metrics = %d", status)
	}
	for _, want := range []string{
		"chartroom_http_requests_total{",
		"chartroom_http_request_duration_seconds_bucket{",
		"chartroom_http_request_bytes_total{",
		"chartroom_http_response_bytes_total{",
		"chartroom_http_requests_in_flight ",
		`method="PUT"`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !strings.Contains(metrics, "chartroom_storage_bytes ") || strings.Contains(metrics, "chartroom_storage_bytes 0\n") {
		t.Errorf("/metrics: chartroom_storage_bytes missing or zero after a push")
	}

	status, body, header := get("/no/such/thing")
	var e struct {
		Error string `json:"error"`
	}
	if status != 404 || header.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
		t.Errorf("unknown path = %d %q %q; want 404 with a JSON error", status, header.Get("Content-Type"), body)
	}

	// One JSON log line per request, with the fields operators filter on.
	var found bool
	for _, line := range strings.Split(srv.Logs(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "request" || rec["path"] != "/v2/team/ops/demo/manifests/v1" {
			continue
		}
		found = true
		for _, k := range []string{"method", "route", "status", "bytes_in", "bytes_out", "duration_ms", "user", "remote"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("request log line lacks %q: %s", k, line)
			}
		}
		if rec["user"] != "admin" || rec["method"] != "PUT" {
			t.Errorf("manifest push logged as user %v method %v; want admin PUT", rec["user"], rec["method"])
		}
	}
	if !found {
		t.Error("no request log line for the manifest push")
	}
}

// TestGracefulShutdown sends SIGTERM while a blob upload is streaming: the upload completes,
// the process exits 0, and the blob is there after a restart.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	// The upload's PUT may reuse the keep-alive connection of the POST before it: without a
	// delay, SIGTERM can close that connection as idle before the PUT's first bytes arrive.
	// The delay is what lets such a request in (see TestShutdownDrains).
	srv := StartServer(t, "--shutdown-delay=2s")
	c := adminClient(srv)
	const repo = "team/ops/upload"
	data := randomBytes(8 << 20)
	digest := digestOf(data)
	upload, err := c.startUpload(repo)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	req, err := c.request(t.Context(), "PUT", withDigest(upload, digest), pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.ContentLength = int64(len(data))
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := c.http.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{status: resp.StatusCode, body: string(b)}
	}()
	half := len(data) / 2
	if _, err := pw.Write(data[:half]); err != nil {
		t.Fatal(err)
	}
	srv.Signal(syscall.SIGTERM)
	time.Sleep(500 * time.Millisecond) // the server is shutting down mid-upload
	if _, err := pw.Write(data[half:]); err != nil {
		t.Fatalf("the upload was cut off by SIGTERM: %v", err)
	}
	pw.Close()
	r := <-done
	if r.err != nil || r.status != http.StatusCreated {
		t.Fatalf("upload in flight during SIGTERM = %d %q, %v; want 201", r.status, r.body, r.err)
	}
	if code := srv.Wait(); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d; want 0", code)
	}
	if !strings.Contains(srv.Logs(), `"msg":"stopped"`) {
		t.Error("no \"stopped\" log line")
	}
	srv.Restart()
	c = adminClient(srv)
	status, got, err := c.getBlob(repo, digest)
	if err != nil || status != 200 || !bytes.Equal(got, data) {
		t.Fatalf("blob after restart = %d, %d bytes, %v", status, len(got), err)
	}
}

// TestServeFlags checks that bad settings stop serve with exit code 2 and one line naming
// the setting and what it expects.
func TestServeFlags(t *testing.T) {
	t.Parallel()
	bin := chartroomBin(t)
	config := filepath.Join(t.TempDir(), "chartroom.yaml")
	if err := os.WriteFile(config, []byte("listen: 127.0.0.1:0\nmax-blob-size: huge\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{"size", []string{"--max-blob-size=lots"}, nil, []string{"--max-blob-size", "10GiB"}},
		{"duration", []string{"--shutdown-timeout", "later"}, nil, []string{"--shutdown-timeout", "30s"}},
		{"body idle timeout of zero", []string{"--body-idle-timeout=0"}, nil, []string{"--body-idle-timeout", "above 0"}},
		{"shutdown delay env", nil, []string{"CHARTROOM_SHUTDOWN_DELAY=soon"}, []string{"CHARTROOM_SHUTDOWN_DELAY", "duration"}},
		{"log format", []string{"--log-format=xml"}, nil, []string{"--log-format", "json or text"}},
		{"unknown flag", []string{"--port=8080"}, nil, []string{"unknown flag: --port"}},
		{"env", nil, []string{"CHARTROOM_ANONYMOUS_READ=perhaps"}, []string{"CHARTROOM_ANONYMOUS_READ", "true or false"}},
		{"config file", []string{"--config", config}, nil, []string{"max-blob-size", "line 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"serve", "--data-dir", t.TempDir()}, tt.args...)...)
			cmd.Env = append(cleanEnv(), tt.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 2 || len(lines) != 1 {
				t.Fatalf("exit %v, stderr %q; want exit code 2 and one line", err, stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("error %q lacks %q", lines[0], w)
				}
			}
		})
	}
	// And the version command works.
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "chartroom ") {
		t.Errorf("chartroom version = %q, %v", out, err)
	}
}

// TestBootstrapAfterBind: a server that cannot bind its address creates nothing (no admin,
// no generated password in its log); a later start on a free port creates admin then; a
// start after that with another CHARTROOM_ADMIN_PASSWORD warns that it is ignored and
// leaves the password as it was.
func TestBootstrapAfterBind(t *testing.T) {
	t.Parallel()
	bin := chartroomBin(t)
	dataDir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cmd := exec.Command(bin, "serve", "--listen", busy.Addr().String(), "--data-dir", dataDir, "--log-format", "json")
	cmd.Env = cleanEnv() // no CHARTROOM_ADMIN_PASSWORD: a password would be generated and printed
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("serve on a busy port succeeded:\n%s", out)
	}
	if !strings.Contains(string(out), "address already in use") {
		t.Errorf("the error does not say the address is in use:\n%s", out)
	}
	if strings.Contains(string(out), "password") || strings.Contains(string(out), "created user") {
		t.Fatalf("serve on a busy port created admin or printed a password:\n%s", out)
	}

	// A later start on a free port creates admin with the password it is given: none was
	// created before.
	srv := &Server{t: t, bin: bin, DataDir: dataDir, Password: randomHex(12), addr: "127.0.0.1:0", logs: &logBuffer{}, scheme: "http", probe: http.DefaultClient}
	t.Cleanup(srv.cleanup)
	srv.start()
	if !strings.Contains(srv.Logs(), "created user admin with the password from CHARTROOM_ADMIN_PASSWORD") {
		t.Fatalf("the first start that listened did not create admin; log:\n%s", srv.Logs())
	}
	first := srv.Password
	if resp, body, err := adminClient(srv).do("GET", "/v2/", nil, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("admin with the password of the first real start: %v %s", err, body)
	}

	// Another password on a later start: a warning, and the old password still works.
	if code := srv.Stop(); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	srv.Password = "changed-" + randomHex(6)
	srv.Restart()
	var advice string // the command the warning names
	for _, line := range strings.Split(srv.Logs(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["level"] == "WARN" {
			msg, _ := rec["msg"].(string)
			if _, cmd, ok := strings.Cut(msg, "Change one with: "); ok && strings.Contains(msg, "CHARTROOM_ADMIN_PASSWORD is ignored") {
				advice = cmd
			}
		}
	}
	if advice == "" {
		t.Errorf("no WARN that CHARTROOM_ADMIN_PASSWORD is ignored naming the command that changes a password; log:\n%s", srv.Logs())
	}
	if resp, _, err := newOCIClient(srv, "admin", first).do("GET", "/v2/", nil, nil); err != nil || resp.StatusCode != 200 {
		t.Errorf("the original password after a start with another one: %v, %v; want 200", resp, err)
	}
	if resp, _, err := newOCIClient(srv, "admin", srv.Password).do("GET", "/v2/", nil, nil); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the ignored password: %v, %v; want 401", resp, err)
	}

	// The command the warning names exists and does what it says, on the running server's
	// data directory.
	if advice == "" {
		return
	}
	args := strings.Fields(advice)
	if len(args) < 2 || args[0] != "chartroom" {
		t.Fatalf("the warning names %q, not a chartroom command", advice)
	}
	args = append(args[1:], "--data-dir", dataDir, "--password-stdin")
	cmd = exec.Command(bin, args...)
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(srv.Password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the command the warning names, %q: %v\n%s", advice, err, out)
	}
	srv.Stop()
	srv.Restart() // a fresh start reads the changed password for sure
	if resp, _, err := newOCIClient(srv, "admin", srv.Password).do("GET", "/v2/", nil, nil); err != nil || resp.StatusCode != 200 {
		t.Errorf("the password set with %q: %v, %v; want 200", advice, resp, err)
	}
}
