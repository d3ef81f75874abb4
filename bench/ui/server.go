package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is one `chartroom serve` process, and the records of its request log.
type server struct {
	cmd      *exec.Cmd
	addr     string
	password string
	done     chan struct{}
	requests chan request // the web UI's request log records, in order
	web      *http.Client // a browser's client: a cookie jar, no redirects followed
}

// request is a request log record of the web UI.
type request struct {
	Method, Path string
	Status       int
	Duration     time.Duration
}

// startServer runs chartroom serve on a loopback port and dataDir, with JSON logs on stderr
// (read for the listening address and the request records), and waits for /readyz.
func startServer(bin, dataDir, password string) (*server, error) {
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--log-format", "json")
	cmd.Env = append(os.Environ(), "CHARTROOM_ADMIN_PASSWORD="+password)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	jar, _ := cookiejar.New(nil)
	s := &server{cmd: cmd, password: password, done: make(chan struct{}), requests: make(chan request, 1<<16),
		web: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var rec struct {
				Msg, Addr, Route, Method, Path string
				Status                         int
				DurationMS                     float64 `json:"duration_ms"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) != nil {
				continue
			}
			switch {
			case rec.Msg == "listening":
				select {
				case listening <- rec.Addr:
				default:
				}
			case rec.Msg == "request" && rec.Route == "ui":
				select {
				case s.requests <- request{rec.Method, rec.Path, rec.Status, time.Duration(rec.DurationMS * float64(time.Millisecond))}:
				default: // nobody reads them: drop
				}
			}
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
		close(s.done)
	}()
	select {
	case s.addr = <-listening:
	case <-s.done:
		return nil, fmt.Errorf("chartroom exited before listening")
	case <-time.After(30 * time.Second):
		s.stop()
		return nil, fmt.Errorf("chartroom did not start within 30s")
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(s.url("/readyz")); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
	}
	s.stop()
	return nil, fmt.Errorf("chartroom not ready within 30s")
}

func (s *server) url(path string) string { return "http://" + s.addr + path }

// stop sends SIGTERM and waits.
func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// peakRSS is the process's peak resident set size (VmHWM), in bytes.
func (s *server) peakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", s.cmd.Process.Pid)
}

var apiClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

// upload posts one archive to /api/<ns>/charts.
func (s *server) upload(ns string, tgz []byte) error {
	req, _ := http.NewRequest("POST", s.url("/api/"+ns+"/charts"), bytes.NewReader(tgz))
	req.SetBasicAuth("admin", s.password)
	req.Header.Set("Content-Type", "application/gzip")
	resp, err := apiClient.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("upload to %s: %d %s", ns, resp.StatusCode, body)
	}
	return nil
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login signs in as admin through the login form, as a browser does.
func (s *server) login() error {
	resp, err := s.web.Get(s.url("/ui/login"))
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(body)
	if m == nil {
		return fmt.Errorf("no CSRF token in the login form (%d)", resp.StatusCode)
	}
	form := url.Values{"csrf": {string(m[1])}, "user": {"admin"}, "password": {s.password}, "next": {"/ui/"}}
	req, _ := http.NewRequest("POST", s.url("/ui/login"), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.url(""))
	if resp, err = s.web.Do(req); err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("sign in: %d", resp.StatusCode)
	}
	return nil
}

// get fetches a page with the session and returns the server's time for it (its request
// log record), the client's time (until the body is read) and the body's size.
func (s *server) get(path string) (server, client time.Duration, n int, err error) {
	start := time.Now()
	resp, err := s.web.Get(s.url(path))
	if err != nil {
		return 0, 0, 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	client = time.Since(start)
	if err != nil {
		return 0, 0, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, 0, fmt.Errorf("GET %s: %d", path, resp.StatusCode)
	}
	p, _, _ := strings.Cut(path, "?")
	timeout := time.After(10 * time.Second)
	for {
		select {
		case r := <-s.requests:
			if r.Method == "GET" && r.Path == p {
				return r.Duration, client, len(body), nil
			}
		case <-timeout:
			return 0, 0, 0, fmt.Errorf("GET %s: no request log record within 10s", path)
		}
	}
}
