package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// newDebugTestServer is newTestServer logging at level debug.
func newDebugTestServer(t *testing.T, mutate ...func(*Config)) (*Server, *syncBuffer) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.AdminPassword = "test-password"
	cfg.Version = "test"
	for _, m := range mutate {
		m(&cfg)
	}
	logs := &syncBuffer{}
	s, err := New(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, logs
}

// Every 4xx and 5xx request line carries a short reason, the same for the same refusal over
// both protocols; failed sign-ins are at WARN with the user name tried (never the password);
// health probes are at DEBUG.
func TestRequestLogReasons(t *testing.T) {
	s, logs := newDebugTestServer(t, func(c *Config) { c.BodyIdleTimeout = 500 * time.Millisecond })
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	do := func(method, path, user, pass, contentType string, body []byte) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	const pw = "test-password"
	one := testChart(t, "logged", "1.0.0")
	if resp := do("POST", "/api/team/charts", "admin", pw, "application/gzip", one); resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload = %d", resp.StatusCode)
	}
	other := testChart(t, "other", "1.0.0") // repackaged under the first one's name below

	type want struct {
		status int
		reason string
		level  string
	}
	for _, tc := range []struct {
		name                      string
		method, path, user, pass  string
		contentType               string
		body                      []byte
		want                      want
		attempted, mustNotContain string
	}{
		{name: "repo: the same version again", method: "POST", path: "/api/team/charts", user: "admin", pass: pw,
			contentType: "application/gzip", body: one, want: want{409, "version_exists", "INFO"}},
		{name: "repo: unknown chart file", method: "GET", path: "/team/charts/nope-1.0.0.tgz", user: "admin", pass: pw,
			want: want{404, "chart_unknown", "INFO"}},
		{name: "repo: bad namespace", method: "GET", path: "/Team/index.yaml", user: "admin", pass: pw,
			want: want{400, "name_invalid", "INFO"}},
		{name: "repo: no such endpoint", method: "GET", path: "/team/nothing-here", user: "admin", pass: pw,
			want: want{404, "not_found", "INFO"}},
		{name: "repo: method not allowed", method: "DELETE", path: "/team/index.yaml", user: "admin", pass: pw,
			want: want{405, "method_not_allowed", "INFO"}},
		{name: "repo: not a chart", method: "POST", path: "/api/team/charts", user: "admin", pass: pw,
			contentType: "application/gzip", body: []byte("not a chart"), want: want{400, "chart_invalid", "INFO"}},
		{name: "oci: bad name", method: "GET", path: "/v2/Team/x/tags/list", user: "admin", pass: pw,
			want: want{400, "name_invalid", "INFO"}},
		{name: "oci: unknown manifest", method: "GET", path: "/v2/team/logged/manifests/9.9.9", user: "admin", pass: pw,
			want: want{404, "manifest_unknown", "INFO"}},
		{name: "oci: no such endpoint", method: "GET", path: "/v2/team/logged/nothing", user: "admin", pass: pw,
			want: want{404, "not_found", "INFO"}},
		{name: "oci: bad pagination", method: "GET", path: "/v2/team/logged/tags/list?n=-1", user: "admin", pass: pw,
			want: want{400, "pagination_number_invalid", "INFO"}},
		{name: "wrong password over OCI", method: "GET", path: "/v2/team/logged/tags/list", user: "mallory", pass: "hunter2-secret",
			want: want{401, "unauthorized", "WARN"}, attempted: "mallory", mustNotContain: "hunter2-secret"},
		{name: "wrong password over the upload API", method: "POST", path: "/api/team/charts", user: "admin", pass: "wrong-secret",
			contentType: "application/gzip", body: other, want: want{401, "unauthorized", "WARN"}, attempted: "admin", mustNotContain: "wrong-secret"},
		{name: "no credentials: a challenge, not a failed sign-in", method: "POST", path: "/api/team/charts",
			contentType: "application/gzip", body: other, want: want{401, "unauthorized", "INFO"}},
		{name: "health probe", method: "GET", path: "/healthz", want: want{200, "", "DEBUG"}},
		{name: "readiness probe", method: "GET", path: "/readyz", want: want{200, "", "DEBUG"}},
		{name: "metrics scrape", method: "GET", path: "/metrics", want: want{200, "", "DEBUG"}},
		{name: "success", method: "GET", path: "/team/index.yaml", user: "admin", pass: pw, want: want{200, "", "INFO"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := do(tc.method, tc.path, tc.user, tc.pass, tc.contentType, tc.body)
			if resp.StatusCode != tc.want.status {
				t.Fatalf("%s %s = %d; want %d", tc.method, tc.path, resp.StatusCode, tc.want.status)
			}
			path, _, _ := strings.Cut(tc.path, "?")
			lines := logs.requestLogs(t, path)
			if len(lines) == 0 {
				t.Fatalf("no request line for %s", path)
			}
			l := lines[len(lines)-1]
			if l["status"] != float64(tc.want.status) || l["level"] != tc.want.level {
				t.Fatalf("line %v; want status %d at %s", l, tc.want.status, tc.want.level)
			}
			reason, has := l["reason"]
			if tc.want.reason == "" && has {
				t.Errorf("a %d line has reason %v; only failures carry one", tc.want.status, reason)
			}
			if tc.want.reason != "" && reason != tc.want.reason {
				t.Errorf("reason = %v; want %q", reason, tc.want.reason)
			}
			if got, has := l["attempted_user"]; tc.attempted != "" && got != tc.attempted || tc.attempted == "" && has {
				t.Errorf("attempted_user = %v; want %q", got, tc.attempted)
			}
			if tc.mustNotContain != "" && strings.Contains(logs.b.String(), tc.mustNotContain) {
				t.Errorf("the password %q is in the log", tc.mustNotContain)
			}
		})
	}

	t.Run("stalled body", func(t *testing.T) {
		addr := strings.TrimPrefix(srv.URL, "http://")
		c, br := rawRequest(t, addr, "POST /api/stalled/charts HTTP/1.1\r\nHost: x\r\n"+
			"Authorization: Basic YWRtaW46dGVzdC1wYXNzd29yZA==\r\nContent-Length: 1000\r\n\r\npartial")
		c.SetReadDeadline(time.Now().Add(time.Minute))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		lines := logs.requestLogs(t, "/api/stalled/charts")
		if resp.StatusCode != http.StatusRequestTimeout || len(lines) != 1 || lines[0]["reason"] != "body_stalled" {
			t.Fatalf("stalled upload = %d, lines %v; want 408 with reason body_stalled", resp.StatusCode, lines)
		}
	})

	// Whatever was asked, no 4xx or 5xx line lacks a reason.
	for _, l := range logs.lines(t) {
		if status, _ := l["status"].(float64); status >= 400 && l["reason"] == nil {
			t.Errorf("a %v line without reason: %v", status, l)
		}
	}
}

// An upload still running when the shutdown timeout runs out is logged as cut by it (at
// WARN, reason shutdown_timeout), not as the 400 or 500 its handler answered into the
// closed connection; over both protocols.
func TestShutdownCutUploadIsLoggedAsSuch(t *testing.T) {
	s, logs := newTestServer(t, func(c *Config) {
		c.ShutdownTimeout = 300 * time.Millisecond
		c.ShutdownDelay = 0
		c.BodyIdleTimeout = time.Hour
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	const auth = "Authorization: Basic YWRtaW46dGVzdC1wYXNzd29yZA==\r\n"
	sum := sha256.Sum256([]byte("never sent in full"))
	blob := "sha256:" + hex.EncodeToString(sum[:])
	paths := []string{"/api/team/charts", "/v2/team/cut/blobs/uploads/"}
	for _, head := range []string{
		"POST /api/team/charts HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 100000\r\n\r\n\x1f\x8b\x08",
		"POST /v2/team/cut/blobs/uploads/?digest=" + blob + " HTTP/1.1\r\nHost: x\r\n" + auth +
			"Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\nnever sent",
	} {
		rawRequest(t, ln.Addr().String(), head)
	}
	// Both handlers are reading their bodies before the shutdown starts.
	for deadline := time.Now().Add(30 * time.Second); inFlight(t, s) < len(paths); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the uploads did not start: %d in flight", inFlight(t, s))
		}
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	s.waitHandlers(10 * time.Second)
	for _, path := range paths {
		lines := logs.requestLogs(t, path)
		var cut []map[string]any
		for _, l := range logs.lines(t) {
			if l["msg"] == "request cut by the shutdown timeout" && l["path"] == path {
				cut = append(cut, l)
			}
		}
		if len(lines) != 0 || len(cut) != 1 {
			t.Fatalf("%s: request lines %v, cut lines %v; want one line saying it was cut", path, lines, cut)
		}
		if l := cut[0]; l["level"] != "WARN" || l["reason"] != "shutdown_timeout" || l["status"] != float64(http.StatusServiceUnavailable) {
			t.Errorf("%s: %v; want WARN, reason shutdown_timeout, status 503", path, l)
		}
	}
	if strings.Contains(logs.b.String(), `"level":"ERROR"`) {
		t.Errorf("the cut uploads were logged as errors:\n%s", logs.b.String())
	}
}

// inFlight reads chartroom_http_requests_in_flight from the server's metrics.
func inFlight(t *testing.T, s *Server) int {
	t.Helper()
	rec := httptest.NewRecorder()
	s.metrics.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "chartroom_http_requests_in_flight "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("in flight %q", v)
			}
			return n
		}
	}
	t.Fatal("/metrics lacks chartroom_http_requests_in_flight")
	return 0
}
