package server

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/sandbox"
)

// renderChildren is the pids of this process's render children (from /proc).
func renderChildren(t *testing.T) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		dir := filepath.Dir(f)
		cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte("\x00"+sandbox.ChildCommand+"\x00")) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(dir))
		pids = append(pids, pid)
	}
	return pids
}

// TestCloseEndsTheRenderChildren: a server that renders in children keeps a child for the
// next render after a publish, and Close ends it.
func TestCloseEndsTheRenderChildren(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to list processes")
	}
	s, _ := newTestServer(t, func(c *Config) { c.RenderCommand = []string{os.Args[0], sandbox.ChildCommand} })
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	c := bombClient{t: t, url: srv.URL}
	archive := charttest.Files(t, "app", map[string]string{
		"Chart.yaml":         "apiVersion: v2\nname: app\nversion: 1.0.0\n",
		"values.yaml":        "image: nginx:1.27\n",
		"templates/pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n    - name: app\n      image: {{ .Values.image }}\n",
	})
	if status, body, _ := c.do("POST", "/api/team/charts", "application/gzip", archive); status != http.StatusCreated {
		t.Fatalf("upload: %d %s", status, body)
	}
	if status, body, _ := c.do("GET", "/api/team/charts/app/1.0.0", "", nil); status != http.StatusOK || !strings.Contains(body, "nginx:1.27") {
		t.Fatalf("the version, rendered for its images: %d %s", status, body)
	}
	kids := renderChildren(t)
	if len(kids) != 1 {
		t.Fatalf("render children after a publish: %v; want one, kept for the next render", kids)
	}
	srv.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(kids[0], 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the render child %d is still there after Close (kill 0: %v)", kids[0], err)
	}
}
