package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is one `chartroom serve` process.
type server struct {
	cmd      *exec.Cmd
	addr     string
	password string
	done     chan struct{}
}

// startServer runs chartroom serve on a loopback port and dataDir (and args), and waits for
// /readyz.
func startServer(bin, dataDir, password string, args ...string) (*server, error) {
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--log-format", "json"}, args...)...)
	cmd.Env = append(os.Environ(), "CHARTROOM_ADMIN_PASSWORD="+password)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, password: password, done: make(chan struct{})}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
				select {
				case listening <- rec.Addr:
				default:
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

// alive reports whether the process is still running.
func (s *server) alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

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

// memory reads VmRSS and VmHWM (peak RSS) of the server, in bytes.
func (s *server) memory() (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %w", s.cmd.Process.Pid, line, err)
		}
		if key == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status: no VmRSS", s.cmd.Process.Pid)
	}
	return rss, hwm, nil
}

// resetPeak sets VmHWM back to the current RSS (Linux ≥ 4.0; the same user or root).
func (s *server) resetPeak() error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", s.cmd.Process.Pid), []byte("5"), 0)
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}

// do sends one request with the admin's credentials and returns the status and body.
func (s *server) do(method, path, contentType string, body []byte) (int, []byte, http.Header, error) {
	req, err := http.NewRequest(method, s.url(path), bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.SetBasicAuth("admin", s.password)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

// pushBlob uploads data into repo (POST, then PUT with the whole body) under its digest.
func (s *server) pushBlob(repo, digest string, data []byte) error {
	status, body, h, err := s.do("POST", "/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		return err
	}
	if status != http.StatusAccepted {
		return fmt.Errorf("POST blob upload to %s: %d %s", repo, status, body)
	}
	loc, err := url.Parse(h.Get("Location"))
	if err != nil {
		return err
	}
	q := loc.Query()
	q.Set("digest", digest)
	loc.RawQuery = q.Encode()
	status, body, _, err = s.do("PUT", loc.RequestURI(), "application/octet-stream", data)
	if err != nil {
		return err
	}
	if status != http.StatusCreated {
		return fmt.Errorf("PUT blob %s to %s: %d %s", digest, repo, status, body)
	}
	return nil
}
