// Package benchserver starts `chartroom serve` for the bench programs and talks to it: a
// fresh process on a loopback port with JSON logs, ready once /readyz answers, stopped with
// SIGTERM; its memory from /proc; requests with the admin's credentials. It uses only the
// standard library. Linux only (/proc).
package benchserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultPassword is the admin's password when Options.Password is empty.
const DefaultPassword = "bench-password"

// startTimeout is how long the server may take to listen, and then to answer /readyz.
const startTimeout = 30 * time.Second

// Options are how Start runs the server. The zero value is a plain `chartroom serve` with
// the admin's password DefaultPassword on a free loopback port.
type Options struct {
	// Password is the admin's password (CHARTROOM_ADMIN_PASSWORD); empty: DefaultPassword.
	Password string
	// Args are extra serve flags, after --listen, --data-dir and --log-format json.
	Args []string
	// Env is extra environment (KEY=value), after the process's own and the password.
	Env []string
	// Listen is the address to listen on; empty: 127.0.0.1:0, the address then read from
	// the server's "listening" log record (so Args must not raise --log-level above info).
	Listen string
	// OnLog, if set, is called with every line the server writes to stderr, in order, from
	// one goroutine; line is only valid during the call.
	OnLog func(line []byte)
}

// Server is one running `chartroom serve` process.
type Server struct {
	// Addr is the host:port it listens on.
	Addr string
	// Password is the admin's password.
	Password string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited

	mu   sync.Mutex
	tail []string // the last lines of stderr, for errors at start
}

// tailLines is how many lines of stderr a failed start shows.
const tailLines = 20

// Start runs bin serve on dataDir and waits until it answers /readyz.
func Start(bin, dataDir string, opts Options) (*Server, error) {
	if opts.Password == "" {
		opts.Password = DefaultPassword
	}
	listen := opts.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	cmd := exec.Command(bin, append([]string{"serve", "--listen", listen, "--data-dir", dataDir, "--log-format", "json"}, opts.Args...)...)
	cmd.Env = append(append(os.Environ(), "CHARTROOM_ADMIN_PASSWORD="+opts.Password), opts.Env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{Addr: opts.Listen, Password: opts.Password, cmd: cmd, done: make(chan struct{})}
	listening := make(chan string, 1)
	var found atomic.Bool
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			s.keep(line)
			if opts.Listen == "" && !found.Load() {
				var rec struct{ Msg, Addr string }
				if json.Unmarshal(line, &rec) == nil && rec.Msg == "listening" {
					found.Store(true)
					listening <- rec.Addr
				}
			}
			if opts.OnLog != nil {
				opts.OnLog(line)
			}
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
		close(s.done)
	}()
	if opts.Listen == "" {
		select {
		case s.Addr = <-listening:
		case <-s.done:
			return nil, s.startError("chartroom exited before listening")
		case <-time.After(startTimeout):
			s.Stop()
			return nil, s.startError(fmt.Sprintf("chartroom did not start within %s", startTimeout))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := WaitReady(ctx, s.URL("/readyz"), startTimeout, false); err != nil {
		if !s.Alive() {
			return nil, s.startError("chartroom exited before it was ready")
		}
		s.Stop()
		return nil, s.startError(err.Error())
	}
	return s, nil
}

// keep records one line of stderr in the tail.
func (s *Server) keep(line []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tail) == tailLines {
		s.tail = append(s.tail[:0], s.tail[1:]...)
	}
	s.tail = append(s.tail, string(line))
}

// startError is msg and the last lines the server wrote.
func (s *Server) startError(msg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tail) == 0 {
		return fmt.Errorf("%s (it wrote nothing to stderr)", msg)
	}
	return fmt.Errorf("%s; the end of its log:\n%s", msg, strings.Join(s.tail, "\n"))
}

// URL is the server's URL for path.
func (s *Server) URL(path string) string { return "http://" + s.Addr + path }

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Alive reports whether the process is still running.
func (s *Server) Alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM and waits for the process to exit; after a minute it kills it.
func (s *Server) Stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// Memory reads the server's VmRSS and VmHWM (peak RSS), in bytes.
func (s *Server) Memory() (rss, hwm int64, err error) { return Memory(s.Pid()) }

// ResetPeak sets the server's VmHWM back to its current RSS.
func (s *Server) ResetPeak() error { return ResetPeak(s.Pid()) }

// client sends the requests of Request, Do and Upload: no transparent decompression, so a
// bench sees the bytes on the wire.
var client = &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 32}}

// Request sends one request to path with the admin's credentials and header, pairs of name
// and value. The caller reads and closes the response's body.
func (s *Server) Request(method, path string, body []byte, header ...string) (*http.Response, error) {
	req, err := http.NewRequest(method, s.URL(path), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth("admin", s.Password)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return client.Do(req)
}

// Do is Request that reads the answer: its status, body and headers.
func (s *Server) Do(method, path string, body []byte, header ...string) (int, []byte, http.Header, error) {
	resp, err := s.Request(method, path, body, header...)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

// Upload posts one chart archive to /api/<ns>/charts and returns how long it took, from
// sending the request to the end of the answer.
func (s *Server) Upload(ns string, tgz []byte) (time.Duration, error) {
	req, err := http.NewRequest("POST", s.URL("/api/"+ns+"/charts"), bytes.NewReader(tgz))
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth("admin", s.Password)
	req.Header.Set("Content-Type", "application/gzip")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if resp.StatusCode != http.StatusCreated {
		return d, fmt.Errorf("upload to %s: %d %s", ns, resp.StatusCode, body)
	}
	return d, nil
}

// UploadAll uploads archives to ns, c at a time, and calls progress (if set) with the number
// done after each. It stops at the first error and returns it.
func (s *Server) UploadAll(ns string, archives [][]byte, c int, progress func(done int)) error {
	var next, done atomic.Int64
	errs := make(chan error, c)
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(archives) {
					return
				}
				if _, err := s.Upload(ns, archives[i]); err != nil {
					errs <- err
					next.Store(int64(len(archives)))
					return
				}
				if d := done.Add(1); progress != nil {
					progress(int(d))
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// WaitReady polls url every 50 ms until it answers 200 (any status with anyStatus), until
// ctx is done or until timeout has passed.
func WaitReady(ctx context.Context, url string, timeout time.Duration, anyStatus bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || anyStatus {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait %s: not ready after %s: %v", url, timeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// FreePort is a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Binary is bin, or when bin is empty a chartroom built from this checkout into dir (the
// current directory must be the repository's root, as `go run ./bench/…` has it).
func Binary(bin, dir string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	bin = filepath.Join(dir, "chartroom")
	build := exec.Command("go", "build", "-o", bin, "./cmd/chartroom")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("build chartroom (run from the repository root): %w", err)
	}
	return bin, nil
}

// Memory reads VmRSS and VmHWM (peak RSS) of pid from /proc/<pid>/status, in bytes.
func Memory(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.Lines(string(b)) {
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		f := strings.Fields(val) // "12345 kB"
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("/proc/%d/status: unexpected %s line %q", pid, key, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, key, err)
		}
		if key == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status: no VmRSS (is it a kernel thread or gone?)", pid)
	}
	return rss, hwm, nil
}

// ResetPeak sets pid's VmHWM back to its current RSS (Linux ≥ 4.0; needs the right to write
// /proc/<pid>/clear_refs: the same user, or root).
func ResetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}
