package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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

// startServer runs chartroom serve on a loopback port and dataDir, and waits for /readyz.
func startServer(bin, dataDir, password string) (*server, error) {
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--log-format", "json"}, serveArgs...)...)
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

// client sends requests with the admin's credentials and no transparent decompression, so
// the bench sees the bytes on the wire.
var client = &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16}}

// upload posts one archive to /api/<ns>/charts and returns how long it took.
func (s *server) upload(ns string, tgz []byte) (time.Duration, error) {
	req, _ := http.NewRequest("POST", s.url("/api/"+ns+"/charts"), bytes.NewReader(tgz))
	req.SetBasicAuth("admin", s.password)
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

// remove deletes one version over the API.
func (s *server) remove(ns, name, version string) error {
	req, _ := http.NewRequest("DELETE", s.url("/api/"+ns+"/charts/"+name+"/"+version), nil)
	req.SetBasicAuth("admin", s.password)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("delete %s %s: %d %s", name, version, resp.StatusCode, body)
	}
	return nil
}

// fetch GETs a path with extra headers and returns the duration (until the body is read),
// the status, the body size and the response headers.
func (s *server) fetch(path string, header ...string) (time.Duration, int, int, http.Header, error) {
	req, _ := http.NewRequest("GET", s.url(path), nil)
	req.SetBasicAuth("admin", s.password)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(start), resp.StatusCode, int(n), resp.Header, err
}
