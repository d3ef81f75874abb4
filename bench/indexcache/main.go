// Command indexcache measures what anonymous index requests for namespaces that hold no
// chart cost a `chartroom serve --anonymous-read`: the server's resident memory before and
// after, and the size of its index cache directory. Each binary given is measured on a fresh
// data directory in the same run, so a build from before a change can stand beside one
// from after it.
//
//	go run ./bench/indexcache -chartroom bin/chartroom [-baseline old/chartroom] [-n 20000] [-c 8]
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
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

func main() {
	bin := flag.String("chartroom", "", "chartroom binary to measure (required)")
	baseline := flag.String("baseline", "", "another chartroom binary measured the same way beside it, e.g. a build from before a change")
	n := flag.Int("n", 20000, "anonymous index requests, each for a distinct empty namespace")
	c := flag.Int("c", 8, "concurrent clients")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "indexcache: -chartroom is required")
		os.Exit(2)
	}
	type run struct {
		name string
		res  result
	}
	var runs []run
	for _, b := range []struct{ name, path string }{{"chartroom", *bin}, {"baseline", *baseline}} {
		if b.path == "" {
			continue
		}
		res, err := measure(b.path, *n, *c)
		if err != nil {
			fmt.Fprintf(os.Stderr, "indexcache: %s (%s): %v\n", b.name, b.path, err)
			os.Exit(1)
		}
		runs = append(runs, run{b.name, res})
	}
	fmt.Printf("%d anonymous GET /<namespace>/index.yaml, each for a distinct empty namespace, %d at a time\n\n", *n, *c)
	fmt.Printf("%-28s", "")
	for _, r := range runs {
		fmt.Printf("%16s", r.name)
	}
	if len(runs) == 2 {
		fmt.Printf("%10s", "ratio")
	}
	fmt.Println()
	row := func(label string, v func(result) float64, format func(float64) string) {
		fmt.Printf("%-28s", label)
		for _, r := range runs {
			fmt.Printf("%16s", format(v(r.res)))
		}
		if len(runs) == 2 && v(runs[1].res) != 0 {
			fmt.Printf("%9.2fx", v(runs[0].res)/v(runs[1].res))
		}
		fmt.Println()
	}
	mib := func(x float64) string { return fmt.Sprintf("%.1f MiB", x/(1<<20)) }
	count := func(x float64) string { return strconv.FormatFloat(x, 'f', 0, 64) }
	row("RSS before", func(r result) float64 { return float64(r.rssBefore) }, mib)
	row("RSS after", func(r result) float64 { return float64(r.rssAfter) }, mib)
	row("RSS growth", func(r result) float64 { return float64(r.rssAfter - r.rssBefore) }, mib)
	row("index-cache files", func(r result) float64 { return float64(r.cacheFiles) }, count)
	row("index-cache size", func(r result) float64 { return float64(r.cacheBytes) }, mib)
	row("requests/s", func(r result) float64 { return float64(*n) / r.elapsed.Seconds() }, count)
}

type result struct {
	rssBefore, rssAfter int64
	cacheFiles          int
	cacheBytes          int64 // disk usage (allocated blocks)
	elapsed             time.Duration
}

func measure(bin string, n, c int) (result, error) {
	var res result
	dataDir, err := os.MkdirTemp("", "indexcache-bench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dataDir)
	srv, err := start(bin, dataDir)
	if err != nil {
		return res, err
	}
	defer srv.stop()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c}}
	get := func(ns string) error {
		resp, err := client.Get(srv.url("/" + ns + "/index.yaml"))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /%s/index.yaml: %d", ns, resp.StatusCode)
		}
		return nil
	}
	// Warm up on one namespace (connections, first allocations), then take the baseline.
	for range 50 {
		if err := get("bench/warmup"); err != nil {
			return res, err
		}
	}
	time.Sleep(time.Second)
	if res.rssBefore, err = srv.rss(); err != nil {
		return res, err
	}
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := get(fmt.Sprintf("bench/empty-%06d", i)); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		return res, err
	}
	time.Sleep(2 * time.Second) // background writes of index copies land
	if res.rssAfter, err = srv.rss(); err != nil {
		return res, err
	}
	res.cacheFiles, res.cacheBytes, err = diskUsage(filepath.Join(dataDir, "index-cache"))
	return res, err
}

// diskUsage counts the files under dir and the disk space they take (allocated blocks, as du).
func diskUsage(dir string) (files int, bytes int64, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			bytes += st.Blocks * 512
		}
		if d.Type().IsRegular() {
			files++
		}
		return nil
	})
	return files, bytes, err
}

// server is one `chartroom serve --anonymous-read` process.
type server struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

func start(bin, dataDir string) (*server, error) {
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--anonymous-read", "--log-format", "json")
	cmd.Env = append(os.Environ(), "CHARTROOM_ADMIN_PASSWORD=bench-password")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, done: make(chan struct{})}
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
	return s, nil
}

func (s *server) url(path string) string { return "http://" + s.addr + path }

func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// rss is the process's resident set size (VmRSS), in bytes.
func (s *server) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", s.cmd.Process.Pid)
}
