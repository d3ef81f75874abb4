package server

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/chartroom/chartroom/internal/chart"
)

// testChart packages a minimal chart.
func testChart(t *testing.T, name, version string) []byte {
	t.Helper()
	dir := t.TempDir()
	meta := fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\n", name, version)
	if err := os.WriteFile(filepath.Join(dir, "Chart.yaml"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if _, err := chart.Package(context.Background(), dir, &b, chart.PackageOptions{}); err != nil {
		t.Fatal(err)
	}
	return []byte(b.String())
}

// rawRequest sends a request head over a new connection and returns the connection and a
// reader of its answers; the body is up to the caller.
func rawRequest(t *testing.T, addr, head string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// closedWithin reports whether the server closed c (a read ends in EOF) within d.
func closedWithin(c net.Conn, br *bufio.Reader, d time.Duration) error {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, br)
	if err != nil {
		return fmt.Errorf("the connection was not closed within %s: %w", d, err)
	}
	return nil
}

// An answer sent before the request body was read (here a 401 to a POST whose body never
// comes) is sent at once with "Connection: close", and the connection is closed instead of
// waiting for the body, however long the body idle timeout.
func TestErrorBeforeBodyClosesConnection(t *testing.T) {
	s, _ := newTestServer(t, func(c *Config) { c.BodyIdleTimeout = time.Hour })
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, path := range []string{"/v2/", "/api/team/charts", "/healthz"} {
		t.Run(path, func(t *testing.T) {
			c, br := rawRequest(t, addr, "POST "+path+" HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer while the body is unsent: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode < 400 || !resp.Close { // Close: the answer said Connection: close
				t.Fatalf("answer %d (close %v); want an error with Connection: close", resp.StatusCode, resp.Close)
			}
			if err := closedWithin(c, br, 10*time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A body that stops arriving is cut after the body idle timeout; one that keeps arriving,
// however slowly, is not.
func TestBodyIdleTimeout(t *testing.T) {
	const idle = 600 * time.Millisecond
	s, _ := newTestServer(t, func(c *Config) { c.BodyIdleTimeout = idle })
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	const auth = "Authorization: Basic YWRtaW46dGVzdC1wYXNzd29yZA==\r\n" // admin:test-password

	t.Run("stalled", func(t *testing.T) {
		c, br := rawRequest(t, addr, "POST /api/team/charts HTTP/1.1\r\nHost: x\r\n"+auth+"Content-Length: 1000\r\n\r\npartial")
		c.SetReadDeadline(time.Now().Add(30 * idle))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("a stalled body got no answer: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "body-idle-timeout") || !resp.Close {
			t.Fatalf("stalled body = %d %q (close %v); want 408 naming --body-idle-timeout, closing", resp.StatusCode, b, resp.Close)
		}
		if err := closedWithin(c, br, 30*idle); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("slow but progressing", func(t *testing.T) {
		// A chart upload whose bytes trickle in one every idle/3: the whole takes many
		// idle timeouts and must still succeed.
		chart := testChart(t, "slow", "1.0.0")
		c, br := rawRequest(t, addr, fmt.Sprintf("POST /api/team/charts HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n", auth, len(chart)))
		const trickle = 12
		for i := range trickle {
			if _, err := c.Write(chart[i : i+1]); err != nil {
				t.Fatal(err)
			}
			time.Sleep(idle / 3)
		}
		if _, err := c.Write(chart[trickle:]); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("slow upload = %d %q; want 201", resp.StatusCode, b)
		}
	})
}

// /readyz proves the blob store and the database take writes, and says which does not.
func TestReadyzChecksWritable(t *testing.T) {
	t.Run("blob store", func(t *testing.T) {
		s, _ := newTestServer(t)
		srv := httptest.NewServer(s.Handler())
		defer srv.Close()
		// Tests run as root, whom permissions do not stop: put a file where the store's
		// temporary directory was.
		tmp := filepath.Join(s.cfg.DataDir, BlobsDir, "tmp")
		if err := os.RemoveAll(tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(tmp, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		status, body, _ := get(t, srv.URL+"/readyz")
		var e struct {
			Error       string
			NotWritable []string `json:"not_writable"`
		}
		if status != 503 || json.Unmarshal([]byte(body), &e) != nil || len(e.NotWritable) != 1 || e.NotWritable[0] != "blob store" ||
			!strings.Contains(e.Error, "blob store") {
			t.Fatalf("readyz with an unwritable blob store = %d %q; want 503 naming the blob store", status, body)
		}
		// Repaired, it is ready again once the cached result expires.
		os.Remove(tmp)
		os.Mkdir(tmp, 0o755)
		waitReady(t, srv.URL)
	})
	t.Run("database", func(t *testing.T) {
		s, _ := newTestServer(t)
		srv := httptest.NewServer(s.Handler())
		defer srv.Close()
		// Another process holds the database's write lock (sqlite3 with an open transaction).
		other, err := sql.Open("sqlite", filepath.Join(s.cfg.DataDir, DatabaseFile))
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		conn, err := other.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
			t.Fatal(err)
		}
		status, body, _ := get(t, srv.URL+"/readyz")
		if status != 503 || !strings.Contains(body, `"not_writable":["database"]`) {
			t.Fatalf("readyz with the database locked = %d %q; want 503 naming the database", status, body)
		}
		if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
		waitReady(t, srv.URL)
	})
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	var status int
	var body string
	for deadline := time.Now().Add(4 * readyFor); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if status, body, _ = get(t, url+"/readyz"); status == 200 {
			return
		}
	}
	t.Fatalf("readyz after the repair = %d %q; want 200", status, body)
}

// During the shutdown delay /readyz answers 503 while other requests are still served, on
// new connections too; then the listener closes and Serve returns.
func TestShutdownDelay(t *testing.T) {
	const delay = 2 * time.Second
	s, _ := newTestServer(t, func(c *Config) { c.ShutdownDelay = delay })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	waitReady(t, base)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	cancel()
	start := time.Now()
	for deadline := start.Add(delay / 2); ; time.Sleep(20 * time.Millisecond) {
		resp, err := client.Get(base + "/readyz")
		if err != nil {
			t.Fatalf("/readyz during the shutdown delay: %v; want a 503 answer", err)
		}
		resp.Body.Close()
		if resp.StatusCode == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d after the shutdown signal; want 503", resp.StatusCode)
		}
	}
	resp, err := client.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("a new connection during the shutdown delay: %v", err)
	}
	resp.Body.Close()
	if time.Since(start) < delay && (resp.StatusCode != 200 || !resp.Close) {
		t.Fatalf("healthz during the delay = %d (close %v); want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after the shutdown delay")
	}
	if time.Since(start) < delay {
		t.Fatalf("Serve returned %s after the signal, before the %s delay", time.Since(start), delay)
	}
	if _, err := client.Get(base + "/healthz"); err == nil {
		t.Fatal("still accepting connections after the shutdown")
	}
}

// A client that sends its whole (small) body at once and then reads the answer gets the
// answer, never a reset: the server answers without waiting for the body, then reads what
// the client still sends for a moment before closing, so that no unread bytes turn the
// close into a reset that destroys the answer in flight.
func TestAnswerBeforeBodySurvivesTheClose(t *testing.T) {
	s, _ := newTestServer(t, func(c *Config) { c.BodyIdleTimeout = time.Hour })
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	body := bytes.Repeat([]byte("x"), 200<<10)
	failures := 0
	var last error
	for i := range 100 {
		// Half the clients keep connections alive, half say Connection: close.
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: i%2 == 0}}
		resp, err := client.Post(srv.URL+"/api/team/charts", "application/gzip", bytes.NewReader(body))
		if err != nil {
			failures++
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("anonymous upload = %d; want 401", resp.StatusCode)
		}
	}
	if failures > 0 {
		t.Fatalf("%d of 100 anonymous uploads got no answer, only an error (last: %v); want the 401 every time", failures, last)
	}
}
