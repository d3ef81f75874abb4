package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/chartroom/chartroom/bench/internal/benchserver"
)

// server is one `chartroom serve` process, and the records of its request log.
type server struct {
	*benchserver.Server
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
// (read for the request records), and waits for /readyz.
func startServer(bin, dataDir string) (*server, error) {
	jar, _ := cookiejar.New(nil)
	s := &server{requests: make(chan request, 1<<16),
		web: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	var err error
	s.Server, err = benchserver.Start(bin, dataDir, benchserver.Options{OnLog: s.logLine})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// logLine queues the web UI's request log records.
func (s *server) logLine(line []byte) {
	var rec struct {
		Msg, Route, Method, Path string
		Status                   int
		DurationMS               float64 `json:"duration_ms"`
	}
	if json.Unmarshal(line, &rec) != nil || rec.Msg != "request" || rec.Route != "ui" {
		return
	}
	select {
	case s.requests <- request{rec.Method, rec.Path, rec.Status, time.Duration(rec.DurationMS * float64(time.Millisecond))}:
	default: // nobody reads them: drop
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login signs in as admin through the login form, as a browser does.
func (s *server) login() error {
	resp, err := s.web.Get(s.URL("/ui/login"))
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(body)
	if m == nil {
		return fmt.Errorf("no CSRF token in the login form (%d)", resp.StatusCode)
	}
	form := url.Values{"csrf": {string(m[1])}, "user": {"admin"}, "password": {s.Password}, "next": {"/ui/"}}
	req, _ := http.NewRequest("POST", s.URL("/ui/login"), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.URL(""))
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
	resp, err := s.web.Get(s.URL(path))
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
