package e2e

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// rawConn is one client connection written to by hand, to send a request's head and hold
// back its body.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, srv *Server, head string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", srv.Host(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

// answer reads the response, failing after d.
func (c *rawConn) answer(d time.Duration) (*http.Response, string, error) {
	c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), err
}

// closed waits up to d for the server to close the connection.
func (c *rawConn) closed(d time.Duration) error {
	c.SetReadDeadline(time.Now().Add(d))
	if _, err := io.Copy(io.Discard, c.br); err != nil {
		return fmt.Errorf("the server did not close the connection within %s: %w", d, err)
	}
	return nil
}

func basicAuth(user, pass string) string {
	return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)) + "\r\n"
}

// TestUnreadBodyAnswersAtOnce: an unauthenticated POST announcing a body it never sends is
// answered 401 at once with Connection: close, and its connection is closed, long before the
// body idle timeout.
func TestUnreadBodyAnswersAtOnce(t *testing.T) {
	t.Parallel()
	srv := StartServer(t) // the default body idle timeout (60s) is longer than the waits below
	for _, path := range []string{"/v2/", "/v2/team/app/blobs/uploads/", "/api/team/charts"} {
		c := dialRaw(t, srv, "POST "+path+" HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
		resp, body, err := c.answer(30 * time.Second)
		if err != nil {
			t.Fatalf("POST %s with an unsent body: no answer: %v", path, err)
		}
		if resp.StatusCode/100 != 4 || !resp.Close {
			t.Errorf("POST %s with an unsent body = %d %q (Connection: close %v); want a 4xx closing the connection", path, resp.StatusCode, body, resp.Close)
		}
		if err := c.closed(30 * time.Second); err != nil {
			t.Errorf("POST %s: %v", path, err)
		}
	}
}

// TestStalledBodiesAreCut: connections whose request bodies stop arriving are cut after
// --body-idle-timeout, even when they have taken every file descriptor the process may
// open, and a normal client is served meanwhile or right after.
func TestStalledBodiesAreCut(t *testing.T) {
	t.Parallel()
	srv := StartServer(t, "--body-idle-timeout=2s")
	admin := adminClient(srv)
	ping := func() error {
		resp, body, err := admin.do("GET", "/v2/", nil, nil)
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("GET /v2/ = %d %s", resp.StatusCode, body)
		}
		return err
	}
	if err := ping(); err != nil { // also caches admin's credentials: no database read needed later
		t.Fatal(err)
	}
	// Leave the server few file descriptors, fewer than the stalled connections.
	setFileLimit(t, srv, 96)

	const stalled = 150
	head := fmt.Sprintf("PUT /v2/team/app/manifests/v1 HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 1000\r\n\r\n{\"schemaVersion\":", basicAuth("admin", srv.Password))
	conns := make([]*rawConn, stalled)
	for i := range conns {
		conns[i] = dialRaw(t, srv, head)
	}
	// A normal client, on a new connection, is served.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Minute}
	req, _ := http.NewRequest("GET", srv.URL("/v2/"), nil)
	req.SetBasicAuth("admin", srv.Password)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("a normal client while %d bodies stall: %v", stalled, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("a normal client while %d bodies stall: %d", stalled, resp.StatusCode)
	}
	// Every stalled connection is cut.
	var wg sync.WaitGroup
	errs := make(chan error, stalled)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- c.closed(2 * time.Minute)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := ping(); err != nil {
		t.Fatalf("after the stalled bodies: %v", err)
	}
}

// setFileLimit sets the server process's open-file limit (soft and hard, so that it cannot
// raise it again).
func setFileLimit(t *testing.T, srv *Server, n uint64) {
	t.Helper()
	lim := syscall.Rlimit{Cur: n, Max: n}
	_, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(srv.cmd.Process.Pid), syscall.RLIMIT_NOFILE,
		uintptr(unsafe.Pointer(&lim)), 0, 0, 0)
	if errno != 0 {
		missing(t, fmt.Sprintf("prlimit(RLIMIT_NOFILE) on the server: %v", errno))
	}
}

// TestSlowUploadProgresses: an upload whose bytes trickle in, each well within the body
// idle timeout but the whole taking several of them, succeeds.
func TestSlowUploadProgresses(t *testing.T) {
	t.Parallel()
	srv := StartServer(t, "--body-idle-timeout=2s")
	c := adminClient(srv)
	const repo = "team/slow/upload"
	data := randomBytes(4096)
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
	done := make(chan error, 1)
	go func() {
		resp, err := c.http.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				err = fmt.Errorf("slow upload = %d %s; want 201", resp.StatusCode, b)
			}
		}
		done <- err
	}()
	const trickle = 12 // one byte every 500ms: 6s, three times the idle timeout
	for i := range trickle {
		if _, err := pw.Write(data[i : i+1]); err != nil {
			t.Fatalf("the slow upload was cut after %d bytes: %v", i, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if _, err := pw.Write(data[trickle:]); err != nil {
		t.Fatalf("the slow upload was cut: %v", err)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if status, got, err := c.getBlob(repo, digest); err != nil || status != 200 || string(got) != string(data) {
		t.Fatalf("the slowly uploaded blob = %d, %d bytes, %v", status, len(got), err)
	}
}

// TestShutdownDrains: on SIGTERM, /readyz answers 503 for --shutdown-delay while other
// requests (on new connections too) are still served; an upload in flight completes; one that
// outlives --shutdown-timeout is cut and the process exits.
func TestShutdownDrains(t *testing.T) {
	t.Parallel()
	srv := StartServer(t, "--shutdown-delay=4s", "--shutdown-timeout=4s")
	c := adminClient(srv)
	const repo = "team/ops/drain"
	data := randomBytes(1 << 20)
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
	req.ContentLength = int64(len(data))
	done := make(chan error, 1)
	go func() {
		resp, err := c.http.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				err = fmt.Errorf("upload in flight = %d %s; want 201", resp.StatusCode, b)
			}
		}
		done <- err
	}()
	if _, err := pw.Write(data[:len(data)/2]); err != nil {
		t.Fatal(err)
	}
	// A second upload will still be sending when the shutdown timeout runs out.
	stuck := dialRaw(t, srv, fmt.Sprintf("PUT /v2/team/ops/stuck/manifests/v1 HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 1000\r\n\r\n{", basicAuth("admin", srv.Password)))
	time.Sleep(200 * time.Millisecond)

	srv.Signal(syscall.SIGTERM)
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Minute}
	var readyz int
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := fresh.Get(srv.URL("/readyz"))
		if err != nil {
			t.Fatalf("/readyz right after SIGTERM: %v; want an answer (503) during the shutdown delay", err)
		}
		resp.Body.Close()
		if readyz = resp.StatusCode; readyz == 503 {
			break
		}
	}
	if readyz != 503 {
		t.Fatalf("/readyz after SIGTERM = %d; want 503", readyz)
	}
	resp, body, err := newOCIClient(srv, "admin", srv.Password).do("GET", "/v2/team/ops/drain/tags/list", nil, nil)
	if err != nil || resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode >= 500 {
		t.Fatalf("a request during the shutdown delay = %v, %v %s; want it served", err, resp, body)
	}
	if _, err := pw.Write(data[len(data)/2:]); err != nil {
		t.Fatalf("the upload in flight was cut: %v", err)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if code := srv.Wait(); code != 0 {
		t.Fatalf("exit code %d; want 0", code)
	}
	if err := stuck.closed(10 * time.Second); err != nil {
		t.Errorf("the stuck upload: %v", err)
	}
	logs := srv.Logs()
	for _, want := range []string{"still serving requests for the shutdown delay", "did not finish within the shutdown timeout", `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// TestReadyzNamesUnwritableStorage: with the blob store unable to take writes, /readyz
// answers 503 naming it (and says so until it is repaired).
func TestReadyzNamesUnwritableStorage(t *testing.T) {
	t.Parallel()
	srv := StartServer(t)
	// Tests run as root, whom permissions do not stop: a file where the store's temporary
	// directory was makes every write fail as a read-only directory would.
	tmp := filepath.Join(srv.DataDir, "blobs", "tmp")
	if err := os.RemoveAll(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var status int
	var body string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get(srv.URL("/readyz"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if status, body = resp.StatusCode, string(b); status == 503 {
			break
		}
	}
	var e struct {
		Error       string   `json:"error"`
		NotWritable []string `json:"not_writable"`
	}
	if status != 503 || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error, "blob store") ||
		len(e.NotWritable) != 1 || e.NotWritable[0] != "blob store" {
		t.Fatalf("/readyz with an unwritable blob store = %d %s; want 503 naming the blob store", status, body)
	}
	os.Remove(tmp)
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	srv.waitReady()
}
