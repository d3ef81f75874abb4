package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestHostileTemplatesRenderedInAChild: charts whose templates allocate gigabytes or loop
// for hours, pushed by the real helm over OCI to a server with one validation slot
// (GOMAXPROCS=1) and CHARTROOM_RENDER_MEMORY=256MiB: each push succeeds, its imagesError says why
// it was not rendered, the server's memory never holds the template's gigabyte, and no
// child of a stopped render is left; a normal chart pushed right after gets the slot and its
// images, its child is kept for the next render (one: one slot), and is gone once the server
// stopped.
func TestHostileTemplatesRenderedInAChild(t *testing.T) {
	helm := need(t, helm3)
	srv := StartServerEnv(t, []string{"GOMAXPROCS=1", "CHARTROOM_RENDER_MEMORY=256MiB"})
	e := newToolEnv(t)
	host := srv.Host()
	e.must(helm, "registry", "login", host, "--username", "admin", "--password", srv.Password, "--plain-http")
	work := t.TempDir()
	push := func(name, template string) {
		t.Helper()
		dir := filepath.Join(work, name)
		files := map[string]string{
			"Chart.yaml":                "apiVersion: v2\nname: " + name + "\nversion: 0.1.0\n",
			"values.yaml":               "image: nginx:1.27\n",
			"templates/deployment.yaml": template,
		}
		for f, body := range files {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		e.must(helm, "package", dir, "--destination", work)
		e.must(helm, "push", filepath.Join(work, name+"-0.1.0.tgz"), "oci://"+host+"/team", "--plain-http")
	}
	type version struct {
		Images []struct {
			Image string `json:"image"`
		} `json:"images"`
		ImagesError string `json:"imagesError"`
	}
	get := func(name string) version {
		t.Helper()
		resp, body, err := adminClient(srv).do("GET", "/api/team/charts/"+name+"/0.1.0", nil, nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %v %s", name, err, body)
		}
		var v version
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	const deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n  annotations:\n    x: '%s'\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {{ .Values.image }}\n"

	push("hog", fmt.Sprintf(deployment, `{{ repeat 1000000000 "x" }}`))
	if v := get("hog"); len(v.Images) != 0 || !strings.Contains(v.ImagesError, "used more than 256 MiB of memory") {
		t.Errorf("the chart that allocates a gigabyte: %+v", v)
	}
	if hwm := peakRSS(t, srv.cmd.Process.Pid); hwm > 512<<20 {
		t.Errorf("the server's peak resident memory is %d MiB: the template's gigabyte was allocated in it", hwm>>20)
	}
	if kids := children(t, srv.cmd.Process.Pid); len(kids) != 0 {
		t.Errorf("render children still running after the render that ran out of memory: %v", kids)
	}

	push("spin", fmt.Sprintf(deployment, `{{ range until 1000 }}{{ range until 1000 }}{{ range until 1000 }}{{ range until 1000 }}{{ range until 1000 }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}`))
	if v := get("spin"); len(v.Images) != 0 || !strings.Contains(v.ImagesError, "rendering takes more than 20s") {
		t.Errorf("the chart that loops for hours: %+v", v)
	}
	if kids := children(t, srv.cmd.Process.Pid); len(kids) != 0 {
		t.Errorf("render children still running after the render stopped at its deadline: %v", kids)
	}

	// The only validation slot is free again: a normal chart is published and rendered.
	// (The publish of spin returned at its deadline; the slot is released once its child is
	// killed and reaped, so that fine's render comes after.)
	push("fine", fmt.Sprintf(deployment, "fine"))
	if v := get("fine"); len(v.Images) != 1 || v.Images[0].Image != "nginx:1.27" || v.ImagesError != "" {
		t.Errorf("the normal chart: %+v", v)
	}
	kept := children(t, srv.cmd.Process.Pid)
	if len(kept) != 1 {
		t.Errorf("render children after the normal chart: %v; want one, kept for the next render", kept)
	}
	resp, err := http.Get(srv.URL("/healthz"))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	if code := srv.Stop(); code != 0 {
		t.Fatalf("chartroom exited with %d", code)
	}
	for _, pid := range kept {
		if _, err := os.Stat(filepath.Join("/proc", pid)); err == nil {
			t.Errorf("the render child %s is still there after the server stopped", pid)
		}
	}
}

// peakRSS is the peak resident memory of process pid (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// children lists the pids whose parent is pid.
func children(t *testing.T, pid int) []string {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var kids []string
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so read after the last ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			kids = append(kids, d.Name())
		}
	}
	return kids
}
