// Command ui measures the web UI's pages against a real `chartroom serve`, warm, in a
// namespace of -n versions, and prints each page's server time beside the goal (50 ms).
//
// The namespace "team" is filled over the classic repository's upload API, -fill-c uploads at
// a time (not measured), with minimal valid charts written here: -charts chart names, one of
// which ("big") holds half of the versions, as BenchmarkBrowse10k in internal/server/ui (the
// quick, in-process variant: go test -run '^$' -bench Browse10k ./internal/server/ui/).
//
// The bench then signs in through the login form (a session cookie, as a browser) and, for
// each page, sends one request (the first after the fill: the namespace's summary is built
// then, and the chart's archive read), then -r more, one at a time. Each request's server time
// is the duration_ms of the server's own log line for it (the handler and the middleware,
// from the first byte read to the last byte written, without the client); the client time
// (loopback, until the body is read) is printed beside it. Medians and p95 are of the -r
// warm requests.
//
//	bench/ui/run.sh
//	go run ./bench/ui -n 2000 -r 50 -chartroom /path/to/chartroom
//
// Run by hand; it is not part of the tests.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/chartroom/chartroom/bench/internal/benchserver"
)

// goal is the target for the chart and search pages, warm.
const goal = 50 * time.Millisecond

func main() {
	n := flag.Int("n", 10000, "versions in the namespace")
	charts := flag.Int("charts", 100, "chart names; \"big\" holds half of the versions, the others share the rest")
	runs := flag.Int("r", 200, "warm requests per page")
	bin := flag.String("chartroom", os.Getenv("CHARTROOM_BIN"), "chartroom binary (default $CHARTROOM_BIN, else built from this checkout)")
	fillC := flag.Int("fill-c", 4, "uploads at a time while filling the namespace")
	flag.Parse()
	if *n < 2 || *charts < 2 || *runs < 1 {
		fmt.Fprintln(os.Stderr, "ui: -n and -charts must be at least 2, -r at least 1")
		os.Exit(2)
	}
	if err := run(*n, *charts, *runs, max(*fillC, 1), *bin); err != nil {
		fmt.Fprintln(os.Stderr, "ui:", err)
		os.Exit(1)
	}
}

// page is one page measured.
type page struct {
	label, path string
	goal        bool // the goal applies (chart and search pages)
}

func run(n, charts, runs, fillC int, bin string) error {
	work, err := os.MkdirTemp("", "chartroom-bench-ui-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if bin, err = benchserver.Binary(bin, work); err != nil {
		return err
	}
	archives := make([][]byte, n)
	for i := range archives {
		archives[i] = archive(chartOf(i, charts))
	}
	srv, err := startServer(bin, filepath.Join(work, "data"))
	if err != nil {
		return err
	}
	defer srv.Stop()

	start := time.Now()
	err = srv.UploadAll("team", archives, fillC, func(done int) {
		if done%2000 == 0 {
			logf("uploaded %d", done)
		}
	})
	if err != nil {
		return err
	}
	logf("published %d versions in %s", n, time.Since(start).Round(time.Second))
	if err := srv.login(); err != nil {
		return err
	}
	big := (n + 1) / 2
	pages := []page{
		{"chart page (big: " + fmt.Sprint(big) + " versions, 100 listed)", "/ui/chart/team/big", true},
		{"chart page, an older version", "/ui/chart/team/big?version=" + bigVersion(big/2), true},
		{"search (q=chart5: 11 of " + fmt.Sprint(charts) + " charts)", "/ui/search?q=chart5", true},
		{"search (q=benchmark: every chart)", "/ui/search?q=benchmark", true},
		{"namespace page (" + fmt.Sprint(charts) + " charts)", "/ui/ns/team", false},
		{"namespaces (home)", "/ui/", false},
		{"chart page, all " + fmt.Sprint(big) + " versions listed", "/ui/chart/team/big?versions=all", false},
	}
	type result struct {
		page               page
		first, firstClient time.Duration
		server, client     []time.Duration
		bytes              int
	}
	var results []result
	for _, p := range pages {
		r := result{page: p}
		var err error
		if r.first, r.firstClient, r.bytes, err = srv.get(p.path); err != nil {
			return err
		}
		for range runs {
			s, c, _, err := srv.get(p.path)
			if err != nil {
				return err
			}
			r.server, r.client = append(r.server, s), append(r.client, c)
		}
		results = append(results, r)
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("web UI, %d versions in namespace team (%d charts; big: %d versions), %d warm requests per page, one at a time\n",
		n, charts, big, runs)
	fmt.Printf("%s, %d CPUs, load average %s, %s\n\n", runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), strings.Join(strings.Fields(string(load))[:3], " "), time.Now().UTC().Format("2006-01-02"))
	fmt.Printf("%-52s %10s %10s %10s %12s %10s %10s  %s\n", "page", "first", "median", "p95", "client med.", "size", "goal", "")
	for _, r := range results {
		med, p95 := quantile(r.server, 0.5), quantile(r.server, 0.95)
		verdict, goalText := "", "-"
		if r.page.goal {
			goalText = ms(goal)
			verdict = "ok"
			if p95 >= goal {
				verdict = "p95 over the goal"
			}
			if med >= goal {
				verdict = "OVER the goal"
			}
		}
		fmt.Printf("%-52s %10s %10s %10s %12s %10s %10s  %s\n", r.page.label, ms(r.first), ms(med), ms(p95), ms(quantile(r.client, 0.5)), size(r.bytes), goalText, verdict)
	}
	fmt.Println("\nServer time: duration_ms of the server's request log line (first: the first request after the fill).")
	_, rss, _ := srv.Memory()
	fmt.Printf("Server peak RSS: %s\n", size(int(rss)))
	return nil
}

// chartOf is the i-th version: every other one of chart "big", the others spread over
// chart01…; versions are distinct within each chart.
func chartOf(i, charts int) (string, string) {
	if i%2 == 0 {
		return "big", bigVersion(i / 2)
	}
	k := i / 2
	return fmt.Sprintf("chart%02d", 1+k%(charts-1)), fmt.Sprintf("1.%d.%d", k/1000, k%1000)
}

func bigVersion(j int) string { return fmt.Sprintf("2.%d.%d", j/1000, j%1000) }

// archive is a minimal valid chart with a short README.
func archive(name, version string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	files := []struct{ name, body string }{
		{"Chart.yaml", fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\nappVersion: %q\ndescription: Benchmark chart %s\nkeywords: [bench]\nmaintainers:\n  - name: Bench Maintainer\n",
			name, version, version, name)},
		{"values.yaml", "replicaCount: 1\nimage:\n  repository: nginx\n  tag: \"1.27\"\n"},
		{"README.md", "# " + name + "\n\nA chart for the web UI benchmark.\n\n```sh\nhelm install " + name + "\n```\n"},
	}
	for _, f := range files {
		tw.WriteHeader(&tar.Header{Name: name + "/" + f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)})
		tw.Write([]byte(f.body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// quantile is the q-quantile of ds (nearest rank).
func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func size(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ui: "+format+"\n", args...)
}
