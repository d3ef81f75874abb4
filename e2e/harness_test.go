package e2e

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is one chartroom process under test: `chartroom serve` on a loopback port and a
// temporary data directory. It can be stopped (SIGTERM), killed (SIGKILL) and restarted on
// the same port and data directory.
type Server struct {
	t        testing.TB
	bin      string
	DataDir  string
	Password string   // of user admin
	Args     []string // extra serve flags
	Env      []string // extra environment (KEY=VALUE), e.g. S3 credentials

	addr    string // 127.0.0.1:port; "127.0.0.1:0" until the first start
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	exitErr error
	logs    *logBuffer
	scheme  string       // "https" when started with --tls-cert, else "http"
	probe   *http.Client // what waitReady asks /readyz with
}

const (
	startTimeout = 30 * time.Second
	stopTimeout  = 60 * time.Second
)

// chartroomBin is the binary under test, from CHARTROOM_BIN.
func chartroomBin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("CHARTROOM_BIN")
	if bin == "" {
		missing(t, "CHARTROOM_BIN is not set: build chartroom (go build -o bin/chartroom ./cmd/chartroom) and export its absolute path, or run make test")
	}
	if _, err := os.Stat(bin); err != nil {
		missing(t, fmt.Sprintf("CHARTROOM_BIN=%s: %v", bin, err))
	}
	return bin
}

// missing skips the test locally and fails it in CI, where everything must be present.
func missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, so a missing prerequisite is a failure)", msg)
	}
	t.Skip(msg)
}

// StartServer starts chartroom with extra serve flags and waits until /readyz answers 200.
// The process is stopped when the test ends; its log is printed if the test failed.
func StartServer(t testing.TB, args ...string) *Server {
	t.Helper()
	return StartServerEnv(t, nil, args...)
}

// StartServerEnv is StartServer with extra environment variables (KEY=VALUE) for the server.
func StartServerEnv(t testing.TB, env []string, args ...string) *Server {
	t.Helper()
	s := &Server{
		Env:      env,
		t:        t,
		bin:      chartroomBin(t),
		DataDir:  t.TempDir(),
		Password: randomHex(12),
		Args:     args,
		addr:     "127.0.0.1:0",
		logs:     &logBuffer{},
	}
	s.scheme, s.probe = "http", http.DefaultClient
	for _, a := range args {
		if a == "--tls-cert" || strings.HasPrefix(a, "--tls-cert=") {
			// Readiness only: the tests check the certificate themselves.
			s.scheme = "https"
			s.probe = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		}
	}
	t.Cleanup(s.cleanup)
	s.start()
	return s
}

// Host is the server's host:port, as registry references use it.
func (s *Server) Host() string { return s.addr }

// URL is the server's base URL followed by path.
func (s *Server) URL(path string) string { return s.scheme + "://" + s.addr + path }

// Logs is everything the server wrote to stderr, across restarts.
func (s *Server) Logs() string { return s.logs.String() }

func (s *Server) start() {
	t := s.t
	t.Helper()
	// No shutdown delay unless a test asks for one (a later flag wins): every stop would
	// otherwise wait out the default before the listener closes.
	args := append([]string{"serve", "--listen", s.addr, "--data-dir", s.DataDir, "--log-format", "json", "--shutdown-delay=0s"}, s.Args...)
	cmd := exec.Command(s.bin, args...)
	cmd.Env = append(append(cleanEnv(), s.Env...), "CHARTROOM_ADMIN_PASSWORD="+s.Password)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = s.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", s.bin, err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.logs.WriteLine(line)
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				select {
				case listening <- rec.Addr:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
		s.exitErr = cmd.Wait()
		close(s.done)
	}()

	select {
	case addr := <-listening:
		s.addr = addr
	case <-s.done:
		t.Fatalf("chartroom exited before listening (%v); log:\n%s", s.exitErr, s.Logs())
	case <-time.After(startTimeout):
		t.Fatalf("chartroom did not log \"listening\" within %s; log:\n%s", startTimeout, s.Logs())
	}
	s.waitReady()
}

func (s *Server) waitReady() {
	t := s.t
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	var last string
	for time.Now().Before(deadline) {
		resp, err := s.probe.Get(s.URL("/readyz"))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		select {
		case <-s.done:
			t.Fatalf("chartroom exited while waiting for /readyz (%v); log:\n%s", s.exitErr, s.Logs())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("/readyz not 200 within %s (last: %s); log:\n%s", startTimeout, last, s.Logs())
}

// running reports whether the process is alive.
func (s *Server) running() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM and waits for the process to exit; it returns the exit code.
func (s *Server) Stop() int {
	s.t.Helper()
	s.Signal(syscall.SIGTERM)
	return s.Wait()
}

// Kill sends SIGKILL (a crash: no shutdown code runs) and waits for the process to die.
func (s *Server) Kill() {
	s.t.Helper()
	s.Signal(syscall.SIGKILL)
	s.Wait()
}

// Signal sends sig to the running server without waiting; see Wait.
func (s *Server) Signal(sig os.Signal) {
	t := s.t
	t.Helper()
	if !s.running() {
		t.Fatalf("chartroom is not running (exit: %v)", s.exitErr)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// Wait waits for the process to exit and returns its exit code (-1 when killed by a signal).
// After stopTimeout it kills the process and fails the test.
func (s *Server) Wait() int {
	t := s.t
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		s.cmd.Process.Kill()
		<-s.done
		t.Fatalf("chartroom did not exit within %s; log:\n%s", stopTimeout, s.Logs())
	}
	return s.cmd.ProcessState.ExitCode()
}

// Restart starts the server again on the same port and data directory.
func (s *Server) Restart() {
	s.t.Helper()
	if s.running() {
		s.t.Fatal("Restart: chartroom is still running; Stop or Kill it first")
	}
	s.logs.WriteLine("----- restart -----")
	s.start()
}

func (s *Server) cleanup() {
	if s.running() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	}
	if s.t.Failed() {
		s.t.Logf("chartroom log (%s):\n%s", s.DataDir, tail(s.Logs(), 200))
	}
}

// cleanEnv is this process's environment without CHARTROOM_* settings, so a developer's
// own configuration does not leak into the server under test.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHARTROOM_") {
			out = append(out, kv)
		}
	}
	return out
}

// logBuffer collects a process's output; safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) WriteLine(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
	l.b.WriteByte('\n')
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = append([]string{fmt.Sprintf("… %d earlier lines", len(all)-lines)}, all[len(all)-lines:]...)
	}
	return strings.Join(all, "\n")
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
