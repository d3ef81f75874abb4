// Command uploadmem measures how much memory `chartroom serve` takes to receive and validate
// charts: -n concurrent uploads to /api/<ns>/charts, then -n concurrent OCI manifest PUTs, of
// archives that decompress to -files × -file-size each. By default (-content zeros) those are
// about 96 KB that decompress to 95 MiB (a Chart.yaml and 19 files of 5 MiB of zeros, each
// under helm's 5 MiB per-file limit, the whole under its 100 MiB total: the security audit's
// archive, made valid so that every upload goes all the way to 201). -content random fills the
// files with random bytes, so that an archive weighs what it decompresses to and a server that
// held an upload whole would show it; -multipart sends each upload as helm cm-push does
// (multipart/form-data, field chart) instead of as the raw body.
//
// The figure is the server's peak resident set (VmHWM of /proc/<pid>/status), reset before
// each phase (/proc/<pid>/clear_refs), next to its RSS when idle. With -base, a second
// chartroom binary (e.g. built from the revision before a change) runs the same phases in
// the same run, and each figure is printed beside it with the ratio.
//
//	bench/uploadmem/run.sh                 # builds this checkout; 12 concurrent uploads
//	bench/uploadmem/run.sh -base 295bce9   # also measures chartroom built at that revision
//	bench/uploadmem/run.sh -n 8 -files 10 -content random -multipart   # 8 cm-push uploads of 50 MiB
//	go run ./bench/uploadmem -chartroom bin/chartroom -n 24
//
// Run by hand (Linux); it is not part of the tests.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/chartroom/chartroom/bench/internal/benchserver"
)

func main() {
	bin := flag.String("chartroom", os.Getenv("CHARTROOM_BIN"), "chartroom binary under test")
	base := flag.String("base", "", "a second chartroom binary measured in the same run (e.g. the revision before a change); empty: none")
	baseLabel := flag.String("base-label", "base", "what to call -base in the table")
	n := flag.Int("n", 12, "concurrent uploads, and concurrent manifest PUTs")
	files := flag.Int("files", 19, "files of zeros per archive")
	fileSize := flag.Int64("file-size", 5<<20, "bytes per file (helm's per-file limit is 5 MiB)")
	content := flag.String("content", "zeros", "what the files hold: zeros (archives of a few KB per file) or random (archives as large as their content)")
	asMultipart := flag.Bool("multipart", false, "send each upload as helm cm-push does (multipart/form-data, field chart), not as the raw body")
	flag.Parse()
	if *content != "zeros" && *content != "random" {
		fmt.Fprintln(os.Stderr, "uploadmem: -content is zeros or random")
		os.Exit(2)
	}
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "uploadmem: -chartroom (or $CHARTROOM_BIN) is required; bench/uploadmem/run.sh builds it")
		os.Exit(2)
	}
	if err := run(*bin, *base, *baseLabel, *n, *files, *fileSize, *content == "random", *asMultipart); err != nil {
		fmt.Fprintln(os.Stderr, "uploadmem:", err)
		os.Exit(1)
	}
}

// result is what one server measured.
type result struct {
	idleRSS, idleHWM int64
	uploadPeak       int64
	manifestPeak     int64
	uploadStatus     map[int]int
	manifestStatus   map[int]int
	survived         bool
}

func run(bin, base, baseLabel string, n, files int, fileSize int64, random, asMultipart bool) error {
	logf("writing %d + %d archives of %d files of %d bytes", n, n, files, fileSize)
	uploads := make([][]byte, n)
	pushes := make([][]byte, n)
	var largest int
	for i := range uploads {
		uploads[i] = archive("big", version(i), files, fileSize, random, uint64(i))
		pushes[i] = archive("ocibig", version(i), files, fileSize, random, uint64(n+i))
		largest = max(largest, len(uploads[i]), len(pushes[i]))
	}
	decompressed := int64(files) * fileSize
	logf("each archive: %d bytes, decompressing to %.0f MiB", len(uploads[0]), float64(decompressed)/(1<<20))
	var serveArgs []string
	if largest > defaultMaxChartSize {
		limit := (largest>>20 + 1) << 20
		serveArgs = append(serveArgs, "--max-chart-size", fmt.Sprint(limit))
		logf("archives are larger than --max-chart-size's default: serving with --max-chart-size %d", limit)
	}
	form := "raw body"
	if asMultipart {
		form = "multipart, as helm cm-push sends them"
	}

	bins := []string{bin}
	labels := []string{"this checkout"}
	if base != "" {
		bins = append(bins, base)
		labels = append(labels, baseLabel)
	}
	results := make([]*result, len(bins))
	for i, b := range bins {
		logf("measuring %s (%s)", labels[i], b)
		r, err := measure(b, uploads, pushes, asMultipart, serveArgs)
		if err != nil {
			return fmt.Errorf("%s: %w", labels[i], err)
		}
		results[i] = r
	}

	fmt.Printf("\n%d concurrent uploads (%s), then %d concurrent OCI manifest PUTs, of %d-byte chart archives that decompress to %.0f MiB each (%d CPUs)\n\n",
		n, form, n, len(uploads[0]), float64(decompressed)/(1<<20), runtime.NumCPU())
	row := func(name string, f func(*result) string, ratio func(*result) float64) {
		fmt.Printf("%-44s", name)
		for _, r := range results {
			fmt.Printf(" %18s", f(r))
		}
		if len(results) == 2 && ratio != nil && ratio(results[1]) > 0 {
			fmt.Printf(" %8.2f×", ratio(results[0])/ratio(results[1]))
		}
		fmt.Println()
	}
	fmt.Printf("%-44s", "")
	for _, l := range labels {
		fmt.Printf(" %18s", l)
	}
	if len(results) == 2 {
		fmt.Printf(" %9s", "ratio")
	}
	fmt.Println()
	mib := func(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
	row("server RSS idle (before)", func(r *result) string { return mib(r.idleRSS) }, func(r *result) float64 { return float64(r.idleRSS) })
	row(fmt.Sprintf("peak RSS over %d uploads to /api/<ns>/charts", n), func(r *result) string { return mib(r.uploadPeak) }, func(r *result) float64 { return float64(r.uploadPeak) })
	row(fmt.Sprintf("peak RSS over %d OCI manifest PUTs", n), func(r *result) string { return mib(r.manifestPeak) }, func(r *result) float64 { return float64(r.manifestPeak) })
	row("upload answers", func(r *result) string { return statuses(r.uploadStatus) }, nil)
	row("manifest PUT answers", func(r *result) string { return statuses(r.manifestStatus) }, nil)
	row("server still running", func(r *result) string { return fmt.Sprint(r.survived) }, nil)
	return nil
}

// defaultMaxChartSize is chartroom serve's default --max-chart-size (20 MiB).
const defaultMaxChartSize = 20 << 20

// measure starts one server (with serveArgs), runs both phases against it and stops it.
func measure(bin string, uploads, pushes [][]byte, asMultipart bool, serveArgs []string) (*result, error) {
	work, err := os.MkdirTemp("", "chartroom-bench-uploadmem-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	srv, err := benchserver.Start(bin, filepath.Join(work, "data"), benchserver.Options{Args: serveArgs})
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	r := &result{uploadStatus: map[int]int{}, manifestStatus: map[int]int{}}
	if r.idleRSS, r.idleHWM, err = srv.Memory(); err != nil {
		return nil, err
	}

	// Phase 1: the upload API.
	if err := srv.ResetPeak(); err != nil {
		return nil, fmt.Errorf("reset VmHWM: %w", err)
	}
	bodies, contentTypes := uploads, make([]string, len(uploads))
	for i := range contentTypes {
		contentTypes[i] = "application/gzip"
	}
	if asMultipart {
		bodies = make([][]byte, len(uploads))
		for i, tgz := range uploads {
			bodies[i], contentTypes[i] = multipartChart(tgz, "big-"+version(i)+".tgz")
		}
	}
	concurrently(len(bodies), func(i int) {
		status, body, _, err := srv.Do("POST", "/api/team/charts", bodies[i], "Content-Type", contentTypes[i])
		record(r.uploadStatus, status, body, err)
	})
	if !srv.Alive() {
		return r, nil
	}
	if _, r.uploadPeak, err = srv.Memory(); err != nil {
		return nil, err
	}

	// Phase 2: helm push's requests. Blobs first, one at a time (they stream to disk), then
	// the manifests at once: each PUT validates its chart layer.
	const repo = "team/ocibig"
	manifests := make([][]byte, len(pushes))
	for i, tgz := range pushes {
		config, _ := json.Marshal(map[string]string{"apiVersion": "v2", "name": "ocibig", "version": version(i)})
		layer, cfg := descriptor("application/vnd.cncf.helm.chart.content.v1.tar+gzip", tgz), descriptor("application/vnd.cncf.helm.config.v1+json", config)
		if err := pushBlob(srv, repo, layer["digest"].(string), tgz); err != nil {
			return nil, err
		}
		if err := pushBlob(srv, repo, cfg["digest"].(string), config); err != nil {
			return nil, err
		}
		manifests[i], _ = json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
			"config": cfg, "layers": []any{layer}})
	}
	if err := srv.ResetPeak(); err != nil {
		return nil, fmt.Errorf("reset VmHWM: %w", err)
	}
	concurrently(len(manifests), func(i int) {
		status, body, _, err := srv.Do("PUT", "/v2/"+repo+"/manifests/"+version(i), manifests[i], "Content-Type", "application/vnd.oci.image.manifest.v1+json")
		record(r.manifestStatus, status, body, err)
	})
	if !srv.Alive() {
		return r, nil
	}
	if _, r.manifestPeak, err = srv.Memory(); err != nil {
		return nil, err
	}
	if status, _, _, err := srv.Do("GET", "/healthz", nil); err == nil && status == http.StatusOK {
		r.survived = true
	}
	return r, nil
}

// pushBlob uploads data into repo (POST, then PUT with the whole body) under its digest.
func pushBlob(srv *benchserver.Server, repo, digest string, data []byte) error {
	status, body, h, err := srv.Do("POST", "/v2/"+repo+"/blobs/uploads/", nil)
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
	status, body, _, err = srv.Do("PUT", loc.RequestURI(), data, "Content-Type", "application/octet-stream")
	if err != nil {
		return err
	}
	if status != http.StatusCreated {
		return fmt.Errorf("PUT blob %s to %s: %d %s", digest, repo, status, body)
	}
	return nil
}

var statusMu sync.Mutex

// record counts one answer (0 for a failed request) and logs unexpected ones.
func record(m map[int]int, status int, body []byte, err error) {
	statusMu.Lock()
	defer statusMu.Unlock()
	if err != nil {
		logf("request failed: %v", err)
	} else if status != http.StatusCreated {
		logf("answered %d: %s", status, strings.TrimSpace(string(body)))
	}
	m[status]++
}

func statuses(m map[int]int) string {
	var codes []int
	for c := range m {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		name := fmt.Sprint(c)
		if c == 0 {
			name = "failed"
		}
		parts = append(parts, fmt.Sprintf("%d×%s", m[c], name))
	}
	return strings.Join(parts, " ")
}

// concurrently runs f(0..n-1) at once and waits for all.
func concurrently(n int, f func(int)) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(i)
		}()
	}
	wg.Wait()
}

func version(i int) string { return fmt.Sprintf("1.0.%d", i) }

func descriptor(mediaType string, data []byte) map[string]any {
	sum := sha256.Sum256(data)
	return map[string]any{"mediaType": mediaType, "digest": "sha256:" + hex.EncodeToString(sum[:]), "size": len(data)}
}

// multipartChart is the body helm cm-push sends: tgz as the file of form field chart.
func multipartChart(tgz []byte, fileName string) ([]byte, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("chart", fileName)
	fw.Write(tgz)
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

// archive writes a valid chart archive: Chart.yaml and files files of size bytes, zeros or
// random bytes (from seed: archives of different seeds differ).
func archive(name, version string, files int, size int64, random bool, seed uint64) []byte {
	var buf bytes.Buffer
	level := gzip.BestCompression
	var content io.Reader = zeros{}
	if random {
		level = gzip.BestSpeed // random bytes do not compress: spend no time trying
		var key [32]byte
		binary.LittleEndian.PutUint64(key[:], seed)
		content = rand.NewChaCha8(key)
	}
	zw, _ := gzip.NewWriterLevel(&buf, level)
	tw := tar.NewWriter(zw)
	chartYAML := fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\n", name, version)
	tw.WriteHeader(&tar.Header{Name: name + "/Chart.yaml", Mode: 0o644, Size: int64(len(chartYAML)), Typeflag: tar.TypeReg})
	tw.Write([]byte(chartYAML))
	for i := 0; i < files; i++ {
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("%s/templates/zeros-%02d.txt", name, i), Mode: 0o644, Size: size, Typeflag: tar.TypeReg})
		io.Copy(tw, io.LimitReader(content, size))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "uploadmem: "+format+"\n", args...)
}
