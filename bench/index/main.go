// Command index measures the classic chart repository as a namespace grows, against a real
// `chartroom serve`, and prints each figure beside `helm repo index` on the same archives.
//
// Upload cost is the time per upload into a namespace of -small versions and into one of -n
// versions, the two interleaved (one upload to each, in turn) so that load on the machine
// hits both alike; the ratio stays near 1 because publishing never re-reads the namespace.
// Index GETs at -n versions are timed after a change (the rebuild), then cached: plain, gzip,
// 304 and the JSON form, with their sizes; then after a restart (the database is read, never
// the blob store). The server's peak RSS is its VmHWM. `helm repo index` over the same -n
// archives is what a static repository redoes for every publish.
//
//	bench/index/run.sh          # builds chartroom and the pinned helm, n = 10,000
//	go run ./bench/index -n 2000 -helm /path/to/helm -chartroom /path/to/chartroom
//	go run ./bench/index -helm "" -serve "--database postgres://… --storage s3://…"   # other backends
//
// The namespaces are filled -fill-c uploads at a time (not measured); bench/replicas/run.sh
// runs this at 100,000 versions on SQLite + filesystem and on PostgreSQL + S3.
//
// Archives are minimal valid charts (Chart.yaml and values.yaml) written here, spread over
// -charts names. Run by hand; it is not part of the tests.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/chartroom/chartroom/bench/internal/benchserver"
)

func main() {
	n := flag.Int("n", 10000, "versions in the large namespace")
	charts := flag.Int("charts", 10, "distinct chart names the versions are spread over")
	window := flag.Int("window", 200, "uploads measured at each namespace size")
	small := flag.Int("small", 100, "versions in the small namespace when its uploads are measured")
	runs := flag.Int("runs", 30, "repetitions of each cached GET; the median is reported")
	helm := flag.String("helm", os.Getenv("CHARTROOM_HELM3"), "helm binary (default $CHARTROOM_HELM3); empty skips helm repo index")
	bin := flag.String("chartroom", os.Getenv("CHARTROOM_BIN"), "chartroom binary (default $CHARTROOM_BIN, else built from this checkout)")
	serve := flag.String("serve", "", "extra chartroom serve flags, space-separated (e.g. --database postgres://… --storage s3://…; S3 credentials from the environment)")
	fillC := flag.Int("fill-c", 4, "uploads at a time while filling the namespaces (the measured uploads are one at a time)")
	flag.Parse()
	serveArgs = strings.Fields(*serve)
	fillConcurrency = max(*fillC, 1)
	if *window > *n || *window <= 0 {
		fmt.Fprintln(os.Stderr, "index: -window must be between 1 and -n")
		os.Exit(2)
	}
	if err := run(*n, *charts, *window, *small, *runs, *helm, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "index:", err)
		os.Exit(1)
	}
}

func run(n, charts, window, small, runs int, helm, bin string) error {
	work, err := os.MkdirTemp("", "chartroom-bench-repo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if bin, err = benchserver.Binary(bin, work); err != nil {
		return err
	}
	archiveDir := filepath.Join(work, "archives")
	os.MkdirAll(archiveDir, 0o755)
	archives := make([][]byte, n)
	for i := range archives {
		name, version := chartOf("app", i, charts)
		archives[i] = archive(name, version)
		if err := os.WriteFile(filepath.Join(archiveDir, name+"-"+version+".tgz"), archives[i], 0o644); err != nil {
			return err
		}
	}
	smallArchives := make([][]byte, small+window) // their own bytes: every upload stores a new blob
	for i := range smallArchives {
		smallArchives[i] = archive(chartOf("sml", i, charts))
	}
	logf("wrote %d archives", n)

	opts := benchserver.Options{Args: serveArgs}
	srv, err := benchserver.Start(bin, filepath.Join(work, "data"), opts)
	if err != nil {
		return err
	}
	defer func() { srv.Stop() }()

	// Fill: the large namespace up to n-window versions, the small one up to small.
	fillStart := time.Now()
	if err := fill(srv, "big", archives[:n-window]); err != nil {
		return err
	}
	fillTime := time.Since(fillStart)
	if err := fill(srv, "small", smallArchives[:small]); err != nil {
		return err
	}
	// Measure: one upload to each namespace in turn.
	var atSmall, atBig []time.Duration
	for k := 0; k < window; k++ {
		d, err := srv.Upload("big", archives[n-window+k])
		if err != nil {
			return err
		}
		atBig = append(atBig, d)
		if d, err = srv.Upload("small", smallArchives[small+k]); err != nil {
			return err
		}
		atSmall = append(atSmall, d)
	}
	logf("uploads done; measuring the index")

	// The index of the large namespace, now at n versions.
	const idx = "/big/index.yaml"
	identity, gz := []string{"Accept-Encoding", "identity"}, []string{"Accept-Encoding", "gzip"}
	coldPlain, _, plainSize, _, err := fetch(srv, idx, identity...)
	if err != nil {
		return err
	}
	warmPlain := median(runs, func() (time.Duration, error) { d, _, _, _, err := fetch(srv, idx, identity...); return d, err })
	firstGzip, _, gzipSize, gzHdr, err := fetch(srv, idx, gz...)
	if err != nil {
		return err
	}
	warmGzip := median(runs, func() (time.Duration, error) { d, _, _, _, err := fetch(srv, idx, gz...); return d, err })
	notModified := median(runs, func() (time.Duration, error) {
		d, status, _, _, err := fetch(srv, idx, "Accept-Encoding", "gzip", "If-None-Match", gzHdr.Get("ETag"))
		if err == nil && status != 304 {
			err = fmt.Errorf("If-None-Match answered %d, want 304", status)
		}
		return d, err
	})
	coldJSON, _, jsonSize, _, _ := fetch(srv, "/big/index.json", identity...)
	warmJSON := median(runs, func() (time.Duration, error) {
		d, _, _, _, err := fetch(srv, "/big/index.json", identity...)
		return d, err
	})
	_, _, jsonGzipSize, _, _ := fetch(srv, "/big/index.json", gz...)

	// An index that is cached catches up with one change by reading only what changed: a
	// version deleted, then the same bytes published again (a tombstone allows exactly that).
	var afterDelete, afterUpload []time.Duration
	for k := 0; k < runs; k++ {
		name, version := chartOf("app", k, charts)
		if err := remove(srv, "big", name, version); err != nil {
			return err
		}
		d, _, _, _, err := fetch(srv, idx, identity...)
		if err != nil {
			return err
		}
		afterDelete = append(afterDelete, d)
		if _, err := srv.Upload("big", archives[k]); err != nil {
			return err
		}
		if d, _, _, _, err = fetch(srv, idx, identity...); err != nil {
			return err
		}
		afterUpload = append(afterUpload, d)
	}
	// The ETag the restarted server must keep: the index as it is now.
	_, _, _, hdr, err := fetch(srv, idx, identity...)
	if err != nil {
		return err
	}
	etag := hdr.Get("ETag")
	_, rss1, _ := srv.Memory()

	// Restart: the first index GET reads the database, not the blob store.
	srv.Stop()
	start := time.Now()
	if srv, err = benchserver.Start(bin, filepath.Join(work, "data"), opts); err != nil {
		return err
	}
	startup := time.Since(start)
	// One request first that authenticates (bcrypt, once a minute per credential) without
	// touching the index, so that the index GET is timed alone.
	authTime, _, _, _, _ := fetch(srv, "/v2/")
	restartFirst, _, _, restartHdr, err := fetch(srv, idx, identity...)
	if err != nil {
		return err
	}
	restartWarm := median(runs, func() (time.Duration, error) { d, _, _, _, err := fetch(srv, idx, identity...); return d, err })
	_, rss2, _ := srv.Memory()

	// helm repo index over the same archives.
	var helmTime time.Duration
	var helmSize, helmGzip int
	if helm != "" {
		start := time.Now()
		cmd := exec.Command(helm, "repo", "index", archiveDir)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("helm repo index: %w", err)
		}
		helmTime = time.Since(start)
		b, err := os.ReadFile(filepath.Join(archiveDir, "index.yaml"))
		if err != nil {
			return err
		}
		helmSize, helmGzip = len(b), len(gzipBytes(b))
	}

	sm, bg := medianOf(atSmall), medianOf(atBig)
	fmt.Printf("chartroom classic repository, %d versions over %d charts in one namespace\n\n", n, charts)
	fmt.Printf("upload (median of %d, interleaved)   at %d versions: %s   at %d versions: %s   ratio %.2f (goal ≤ 1.30)\n",
		window, small, ms(sm), n, ms(bg), float64(bg)/float64(sm))
	fmt.Printf("                                     mean: %s vs %s\n", ms(mean(atSmall)), ms(mean(atBig)))
	fmt.Printf("fill, %d uploads %d at a time        %s (%.0f uploads/s)\n\n", n-window, fillConcurrency, fillTime.Round(time.Second), float64(n-window)/fillTime.Seconds())
	fmt.Printf("index.yaml GET at %d versions         time        size\n", n)
	fmt.Printf("  first ever (built from every entry) %-11s %s\n", ms(coldPlain), size(plainSize))
	fmt.Printf("  after one delete / one upload       %s / %s (median of %d; only the change is read)\n",
		ms(medianOf(afterDelete)), ms(medianOf(afterUpload)), runs)
	fmt.Printf("  cached, plain                       %-11s %s\n", ms(warmPlain), size(plainSize))
	fmt.Printf("  gzip, first (compresses once)       %-11s %s\n", ms(firstGzip), size(gzipSize))
	fmt.Printf("  gzip, cached                        %-11s %s\n", ms(warmGzip), size(gzipSize))
	fmt.Printf("  If-None-Match → 304                 %-11s 0 B\n", ms(notModified))
	fmt.Printf("  index.json first / cached           %s / %s   %s (gzip %s)\n", ms(coldJSON), ms(warmJSON), size(jsonSize), size(jsonGzipSize))
	fmt.Printf("  after restart: first / cached       %s / %s   (ETag kept: %v)\n",
		ms(restartFirst), ms(restartWarm), restartHdr.Get("ETag") == etag)
	fmt.Printf("  (restart: ready in %s; first authenticated request %s, bcrypt)\n\n", ms(startup), ms(authTime))
	fmt.Printf("peak RSS (VmHWM)                      %s (after uploads and GETs), %s (after restart and GETs)\n\n", size(int(rss1)), size(int(rss2)))
	if helm != "" {
		fmt.Printf("helm repo index, same %d archives     %s   index.yaml %s (gzip %s)\n", n, ms(helmTime), size(helmSize), size(helmGzip))
		fmt.Printf("  a static repository re-indexes per publish: %.0f× one chartroom upload at %d versions\n",
			float64(helmTime)/float64(bg), n)
		fmt.Printf("  chartroom index.yaml / helm's: %.2f× the size\n", float64(plainSize)/float64(helmSize))
	}
	return nil
}

// serveArgs are extra serve flags (-serve); fillConcurrency is -fill-c.
var (
	serveArgs       []string
	fillConcurrency = 1
)

// fill uploads archives to ns, fillConcurrency at a time, logging progress.
func fill(srv *benchserver.Server, ns string, archives [][]byte) error {
	return srv.UploadAll(ns, archives, fillConcurrency, func(done int) {
		if done%5000 == 0 {
			logf("uploaded %d to %s", done, ns)
		}
	})
}

// remove deletes one version over the API.
func remove(srv *benchserver.Server, ns, name, version string) error {
	status, body, _, err := srv.Do("DELETE", "/api/"+ns+"/charts/"+name+"/"+version, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("delete %s %s: %d %s", name, version, status, body)
	}
	return nil
}

// fetch GETs a path with extra headers (pairs of name and value) and returns the duration
// (until the body is read), the status, the body size and the response headers.
func fetch(srv *benchserver.Server, path string, header ...string) (time.Duration, int, int, http.Header, error) {
	start := time.Now()
	resp, err := srv.Request("GET", path, nil, header...)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(start), resp.StatusCode, int(n), resp.Header, err
}

// chartOf is the name and version of archive i of a series.
func chartOf(prefix string, i, charts int) (string, string) {
	j := i / charts
	return fmt.Sprintf("%s%02d", prefix, i%charts), fmt.Sprintf("1.%d.%d", j/1000, j%1000)
}

// archive writes a minimal valid chart archive.
func archive(name, version string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	files := []struct{ name, body string }{
		{"Chart.yaml", fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\nappVersion: %q\ndescription: Benchmark chart %s\ntype: application\n",
			name, version, version, name)},
		{"values.yaml", "replicaCount: 1\n"},
	}
	for _, f := range files {
		tw.WriteHeader(&tar.Header{Name: name + "/" + f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg,
			ModTime: time.Unix(0, 0)})
		tw.Write([]byte(f.body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// median runs f runs times and returns the median duration (0 on error, which is logged).
func median(runs int, f func() (time.Duration, error)) time.Duration {
	var ds []time.Duration
	for i := 0; i < runs; i++ {
		d, err := f()
		if err != nil {
			logf("error: %v", err)
			return 0
		}
		ds = append(ds, d)
	}
	return medianOf(ds)
}

func medianOf(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
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
	fmt.Fprintf(os.Stderr, "index: "+format+"\n", args...)
}
