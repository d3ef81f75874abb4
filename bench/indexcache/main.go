// Command indexcache measures what anonymous index requests for namespaces that hold no
// chart cost a `chartroom serve --anonymous-read`: the server's resident memory before and
// after, and the size of its index cache directory. Each binary given is measured on a fresh
// data directory in the same run, so a build from before a change can stand beside one
// from after it.
//
//	go run ./bench/indexcache -chartroom bin/chartroom [-baseline old/chartroom] [-n 20000] [-c 8]
package main

import (
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chartroom/chartroom/bench/internal/benchserver"
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
	srv, err := benchserver.Start(bin, dataDir, benchserver.Options{Args: []string{"--anonymous-read"}})
	if err != nil {
		return res, err
	}
	defer srv.Stop()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c}}
	get := func(ns string) error {
		resp, err := client.Get(srv.URL("/" + ns + "/index.yaml"))
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
	if res.rssBefore, _, err = srv.Memory(); err != nil {
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
	if res.rssAfter, _, err = srv.Memory(); err != nil {
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
