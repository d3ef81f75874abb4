package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chartroom/chartroom/internal/server/httpx"
)

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines returns the JSON log records written so far.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// requestLogs returns the "request" records for path.
func (s *syncBuffer) requestLogs(t *testing.T, path string) []map[string]any {
	var out []map[string]any
	for _, l := range s.lines(t) {
		if l["msg"] == "request" && l["path"] == path {
			out = append(out, l)
		}
	}
	return out
}

func newTestServer(t *testing.T, mutate ...func(*Config)) (*Server, *syncBuffer) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.AdminPassword = "test-password"
	cfg.Version = "test"
	for _, m := range mutate {
		m(&cfg)
	}
	logs := &syncBuffer{}
	s, err := New(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, logs
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func TestNewCreatesDataDir(t *testing.T) {
	s, _ := newTestServer(t)
	for _, name := range []string{DatabaseFile, BlobsDir} {
		if _, err := os.Stat(filepath.Join(s.cfg.DataDir, name)); err != nil {
			t.Errorf("data dir lacks %s: %v", name, err)
		}
	}
	// A second server on the same data dir (a restart) opens it again.
	s.Close()
	cfg := s.cfg
	s2, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	s2.Close()
}

func TestNewRefusesBadConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.MaxManifestSize = 0
	_, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "max-manifest-size") {
		t.Fatalf("New = %v; want an error naming max-manifest-size", err)
	}
}

func TestRoutes(t *testing.T) {
	s, logs := newDebugTestServer(t) // probes answered are logged at debug
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	tests := []struct {
		name, method, path string
		status             int
		body               string // substring
		route              string
	}{
		{"healthz", "GET", "/healthz", 200, `"ok"`, "healthz"},
		{"healthz head", "HEAD", "/healthz", 200, "", "healthz"},
		{"readyz", "GET", "/readyz", 200, `"ready"`, "readyz"},
		{"metrics", "GET", "/metrics", 200, "chartroom_storage_bytes", "metrics"},
		{"post healthz", "POST", "/healthz", 405, `{"error":"POST /healthz is not supported`, "healthz"},
		{"health", "GET", "/health", 200, `{"healthy":true}`, "health"},
		{"info", "GET", "/info", 200, `{"version":"test"}`, "info"},
		{"post info", "POST", "/info", 405, `{"error":"POST /info is not supported`, "info"},
		{"unknown path", "GET", "/nope", 404, `{"error":"no such endpoint: GET /nope`, "notfound"},
		{"root", "GET", "/", 404, `"error"`, "notfound"},
		{"classic repository", "GET", "/team/charts/index.yaml", 401, `"error"`, "repo.index"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.body) {
				t.Fatalf("%s %s = %d %q; want %d containing %q", tt.method, tt.path, resp.StatusCode, b, tt.status, tt.body)
			}
			if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("error Content-Type %q; want application/json", resp.Header.Get("Content-Type"))
			}
			var found bool
			for _, l := range logs.requestLogs(t, tt.path) {
				if l["method"] == tt.method && l["route"] == tt.route && l["status"] == float64(tt.status) {
					found = true
				}
			}
			if !found {
				t.Errorf("no request log line with route %q and status %d", tt.route, tt.status)
			}
		})
	}
	// /v2/ belongs to the OCI handler, not to the 404 of this package.
	status, body, _ := get(t, srv.URL+"/v2/")
	if strings.Contains(body, "no such endpoint") {
		t.Errorf("/v2/ = %d %q: answered by the fallback, not the OCI handler", status, body)
	}
}

// ChartMuseum's /health and /info answer as ChartMuseum's do (the same JSON, no credentials
// needed), so probes and scripts written for ChartMuseum keep working.
func TestChartMuseumHealthAndInfo(t *testing.T) {
	s, _ := newTestServer(t, func(c *Config) { c.Version = "v1.2.3" })
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for _, tc := range []struct{ path, body string }{
		{"/health", `{"healthy":true}`},
		{"/info", `{"version":"v1.2.3"}`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			status, body, hdr := get(t, srv.URL+tc.path) // no credentials, anonymous read off
			if status != http.StatusOK || strings.TrimSpace(body) != tc.body || hdr.Get("Content-Type") != "application/json" {
				t.Fatalf("GET %s = %d %q (%s); want 200 %s", tc.path, status, body, hdr.Get("Content-Type"), tc.body)
			}
			req, _ := http.NewRequest(http.MethodHead, srv.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("HEAD %s = %d; want 200", tc.path, resp.StatusCode)
			}
		})
	}
}

func TestReadyz(t *testing.T) {
	t.Run("draining", func(t *testing.T) {
		s, _ := newTestServer(t)
		srv := httptest.NewServer(s.Handler())
		defer srv.Close()
		s.draining.Store(true)
		status, body, _ := get(t, srv.URL+"/readyz")
		if status != 503 || !strings.Contains(body, "shutting down") {
			t.Fatalf("readyz while draining = %d %q; want 503 shutting down", status, body)
		}
		if status, _, _ := get(t, srv.URL+"/healthz"); status != 200 {
			t.Errorf("healthz while draining = %d; want 200", status)
		}
	})
	t.Run("database closed", func(t *testing.T) {
		s, _ := newTestServer(t)
		srv := httptest.NewServer(s.Handler())
		defer srv.Close()
		s.Close()
		status, body, _ := get(t, srv.URL+"/readyz")
		var e struct{ Error string }
		if status != 503 || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
			t.Fatalf("readyz with the database closed = %d %q; want 503 with an error body", status, body)
		}
	})
}

func TestRecovery(t *testing.T) {
	s, logs := newTestServer(t)
	h := &observer{log: s.log, metrics: s.metrics, inFlight: &s.handlers, next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.SetRoute(r, "test.panic")
		w.Header().Set("Content-Length", "999")
		w.Header().Set("Docker-Content-Digest", "sha256:abc")
		if r.URL.Path == "/late" {
			w.Header().Del("Content-Length")
			w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
		}
		panic("secret detail")
	})}
	srv := httptest.NewServer(h)
	defer srv.Close()

	status, body, header := get(t, srv.URL+"/early")
	if status != 500 || !strings.Contains(body, `"error"`) || strings.Contains(body, "secret") || strings.Contains(body, "goroutine") {
		t.Fatalf("panic before writing = %d %q; want 500 with a generic JSON error", status, body)
	}
	if header.Get("Docker-Content-Digest") != "" {
		t.Error("the 500 carries a header the panicking handler set for its own answer")
	}
	// After the body started, the client must not get a complete-looking response.
	resp, err := http.Get(srv.URL + "/late")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Error("panic after writing: the response looked complete; want a broken connection")
	}

	var panics int
	for _, l := range logs.lines(t) {
		if l["msg"] == "panic serving request" {
			panics++
			if !strings.Contains(l["stack"].(string), "goroutine") || l["panic"] != "secret detail" {
				t.Errorf("panic log lacks the value or stack: %v", l)
			}
		}
	}
	if panics != 2 {
		t.Errorf("%d panic log lines; want 2", panics)
	}
	if l := logs.requestLogs(t, "/early"); len(l) != 1 || l[0]["status"] != float64(500) || l[0]["route"] != "test.panic" {
		t.Errorf("request log of the panic: %v", l)
	}
}

func TestRequestLogAndMetrics(t *testing.T) {
	s, logs := newTestServer(t)
	h := &observer{log: s.log, metrics: s.metrics, inFlight: &s.handlers, next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.SetRoute(r, "test.echo")
		httpx.SetUser(r, "alice")
		n, _ := io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
		w.Write(bytes.Repeat([]byte("x"), int(n)*2))
	})}
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/echo?secret=1", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	l := logs.requestLogs(t, "/echo")
	if len(l) != 1 {
		t.Fatalf("%d log lines for one request; want 1", len(l))
	}
	want := map[string]any{"method": "POST", "route": "test.echo", "status": float64(201),
		"bytes_in": float64(5), "bytes_out": float64(10), "user": "alice"}
	for k, v := range want {
		if l[0][k] != v {
			t.Errorf("log %s = %v; want %v", k, l[0][k], v)
		}
	}
	for _, k := range []string{"duration_ms", "remote"} {
		if _, ok := l[0][k]; !ok {
			t.Errorf("log lacks %s", k)
		}
	}
	if strings.Contains(logs.b.String(), "secret") {
		t.Error("the query string was logged")
	}

	rec := httptest.NewRecorder()
	s.metrics.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	for _, series := range []string{
		`chartroom_http_requests_total{code="201",method="POST",route="test.echo"} 1`,
		`chartroom_http_request_bytes_total{code="201",method="POST",route="test.echo"} 5`,
		`chartroom_http_response_bytes_total{code="201",method="POST",route="test.echo"} 10`,
		`chartroom_http_request_duration_seconds_count{code="201",method="POST",route="test.echo"} 1`,
		`chartroom_http_requests_in_flight 0`,
		`chartroom_storage_bytes 0`,
		`chartroom_build_info{version="test"} 1`,
	} {
		if !strings.Contains(text, series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
}

// TestGracefulShutdown: a request in flight when the signal arrives completes; new
// connections are refused; Serve returns once it is done.
func TestGracefulShutdown(t *testing.T) {
	s, _ := newTestServer(t, func(c *Config) { c.ShutdownDelay = 0 })
	release := make(chan struct{})
	started := make(chan struct{})
	s.handler = &observer{log: s.log, metrics: s.metrics, inFlight: &s.handlers, next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("done"))
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Post("http://"+ln.Addr().String()+"/upload", "application/octet-stream", strings.NewReader("data"))
		if err != nil {
			got <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- result{string(b), err}
	}()
	<-started
	cancel()
	// Serve stops accepting promptly.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections after shutdown began")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) while a request was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if r := <-got; r.err != nil || r.body != "done" {
		t.Fatalf("in-flight request = %q, %v; want it to complete", r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v", err)
	}
}

// TestShutdownTimeout: a request that outlives --shutdown-timeout is cut off (its context
// cancelled) and Serve returns.
func TestShutdownTimeout(t *testing.T) {
	s, logs := newTestServer(t, func(c *Config) { c.ShutdownTimeout = 200 * time.Millisecond; c.ShutdownDelay = 0 })
	started := make(chan struct{})
	s.handler = &observer{log: s.log, metrics: s.metrics, inFlight: &s.handlers, next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/stuck")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the shutdown timeout")
	}
	if !strings.Contains(logs.b.String(), "did not finish within the shutdown timeout") {
		t.Error("the forced close was not logged")
	}
}

func TestRunListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Listen = ln.Addr().String()
	err = Run(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "listen on") {
		t.Fatalf("Run on a busy port = %v; want a listen error", err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("the listen error is not wrapped: %v", err)
	}
}

// Names with "..", "." or empty components get the protocol's own error, never a redirect
// to a cleaned path.
func TestUncleanPathsAreRefusedNotRedirected(t *testing.T) {
	s, _ := newTestServer(t)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/v2/team/../x/tags/list", 400, "NAME_INVALID"},
		{"/v2/team/%2e%2e/x/tags/list", 400, "NAME_INVALID"},
		{"/v2/team//x/manifests/latest", 400, "NAME_INVALID"},
		{"/v2/team/./x/blobs/sha256:" + strings.Repeat("a", 64), 400, "NAME_INVALID"},
		{"/team/../index.yaml", 400, `"error"`},
		{"/team//charts/x-1.0.0.tgz", 404, `"error"`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
			req.SetBasicAuth("admin", "test-password")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
				t.Fatalf("GET %s = %d %q; want %d with %s", tc.path, resp.StatusCode, b, tc.status, tc.want)
			}
		})
	}
}
