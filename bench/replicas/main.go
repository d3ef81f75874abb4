// Command replicas is the load generator of bench/replicas/run.sh: chart upload and pull
// throughput against one or several `chartroom serve` replicas, requests spread round robin
// over them.
//
//	replbench port                       a free loopback port
//	replbench wait -url URL              wait until URL answers 200
//	replbench run -name NAME -urls U1,U2,U3 [-n 240 -c 6 -size 256KiB -pulls 3] -out r.json
//	replbench report r1.json r2.json …   the table, ratios to the first file's setup
//
// run builds -n distinct chart archives (a Chart.yaml and -size bytes of random data, so an
// archive weighs about -size) before the clock starts, then measures, -c requests at a time:
//
//   - upload over the API: half of them, POST /api/<ns>/charts, the i-th to replica i mod N;
//   - push over OCI: the other half as helm push makes them (config and chart layer, each POST
//     then PUT ?digest=, then the manifest), all requests of one push to one replica;
//   - pull: every archive -pulls times, GET /<ns>/charts/<file>, each from another replica
//     than the one it was uploaded to, bytes compared.
//
// Between the phases every replica's index.yaml of the namespace is fetched: it must list
// all -n versions with equal bytes and ETags, or the run fails.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/bench/internal/benchserver"
	"github.com/chartroom/chartroom/internal/chart"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: replbench port | wait -url URL | run … | report FILES")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "port":
		var port int
		if port, err = benchserver.FreePort(); err == nil {
			fmt.Println(port)
		}
	case "wait":
		fs := flag.NewFlagSet("wait", flag.ExitOnError)
		u := fs.String("url", "", "URL that answers 200 once the server is ready")
		fs.Parse(os.Args[2:])
		err = benchserver.WaitReady(context.Background(), *u, 60*time.Second, false)
	case "run":
		err = runCmd(os.Args[2:])
	case "report":
		err = report(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "replbench:", err)
		os.Exit(1)
	}
}

// Result is one run's figures.
type Result struct {
	Name          string  `json:"name"`
	Replicas      int     `json:"replicas"`
	Versions      int     `json:"versions"`
	ArchiveBytes  int     `json:"archive_bytes"`
	Concurrency   int     `json:"concurrency"`
	APIUploadsSec float64 `json:"api_uploads_per_sec"`
	APIUploadMBs  float64 `json:"api_upload_mb_per_sec"`
	OCIPushesSec  float64 `json:"oci_pushes_per_sec"`
	OCIPushMBs    float64 `json:"oci_push_mb_per_sec"`
	PullsSec      float64 `json:"pulls_per_sec"`
	PullMBs       float64 `json:"pull_mb_per_sec"`
	Load          string  `json:"load"`
}

type archive struct {
	name, version string
	data          []byte
	md            *chart.Metadata
}

func runCmd(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	name := fs.String("name", "", "the setup's name in the report")
	urls := fs.String("urls", "", "comma-separated base URLs of the replicas")
	user := fs.String("user", "admin", "user (password from $REPLBENCH_PASSWORD)")
	ns := fs.String("ns", "bench", "namespace")
	n := fs.Int("n", 240, "chart versions uploaded (half over the API, half over OCI)")
	c := fs.Int("c", 6, "requests (uploads, pushes, pulls) at a time")
	sizeFlag := fs.String("size", "256KiB", "bytes of random data in each archive")
	pulls := fs.Int("pulls", 3, "times each archive is pulled")
	out := fs.String("out", "", "write the result as JSON here")
	fs.Parse(args)
	size, err := parseSize(*sizeFlag)
	if err != nil {
		return err
	}
	bases := strings.Split(*urls, ",")
	cl := &client{user: *user, pass: os.Getenv("REPLBENCH_PASSWORD"),
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *c, DisableCompression: true}, Timeout: 5 * time.Minute}}

	archives := make([]archive, *n)
	total := 0
	for i := range archives {
		archives[i] = makeArchive("bench", fmt.Sprintf("1.%d.%d", i/1000, i%1000), size)
		total += len(archives[i].data)
	}
	res := Result{Name: *name, Replicas: len(bases), Versions: *n, ArchiveBytes: total / *n, Concurrency: *c, Load: loadavg()}
	base := func(i int) string { return bases[i%len(bases)] }

	// Uploads over the API: the even archives.
	var api, oci []int
	for i := range archives {
		if i%2 == 0 {
			api = append(api, i)
		} else {
			oci = append(oci, i)
		}
	}
	d, bytesSent, err := parallel(*c, api, func(i int) (int, error) {
		a := archives[i]
		return len(a.data), cl.expect("POST", base(i)+"/api/"+*ns+"/charts", a.data, http.StatusCreated, "Content-Type", "application/gzip")
	})
	if err != nil {
		return err
	}
	res.APIUploadsSec, res.APIUploadMBs = float64(len(api))/d.Seconds(), float64(bytesSent)/1e6/d.Seconds()
	logf("%s: %d API uploads in %s", *name, len(api), d)

	d, bytesSent, err = parallel(*c, oci, func(i int) (int, error) { return cl.helmPush(base(i), *ns, archives[i]) })
	if err != nil {
		return err
	}
	res.OCIPushesSec, res.OCIPushMBs = float64(len(oci))/d.Seconds(), float64(bytesSent)/1e6/d.Seconds()
	logf("%s: %d OCI pushes in %s", *name, len(oci), d)

	if err := cl.sameIndex(bases, *ns, *n); err != nil {
		return err
	}

	var jobs []int
	for k := 0; k < *pulls; k++ {
		for i := range archives {
			jobs = append(jobs, k*len(archives)+i)
		}
	}
	d, bytesGot, err := parallel(*c, jobs, func(j int) (int, error) {
		i, k := j%len(archives), j/len(archives)
		a := archives[i]
		got, err := cl.get(base(i+1+k) + "/" + *ns + "/charts/" + chart.ArchiveName(a.name, a.version))
		if err == nil && !bytes.Equal(got, a.data) {
			err = fmt.Errorf("pull %s %s: %d bytes differ from the %d uploaded", a.name, a.version, len(got), len(a.data))
		}
		return len(got), err
	})
	if err != nil {
		return err
	}
	res.PullsSec, res.PullMBs = float64(len(jobs))/d.Seconds(), float64(bytesGot)/1e6/d.Seconds()
	logf("%s: %d pulls in %s", *name, len(jobs), d)

	b, _ := json.MarshalIndent(res, "", "  ")
	if *out != "" {
		return os.WriteFile(*out, b, 0o644)
	}
	fmt.Println(string(b))
	return nil
}

// parallel runs f on every job, c at a time, and returns the wall time and the sum of f's counts.
func parallel(c int, jobs []int, f func(int) (int, error)) (time.Duration, int64, error) {
	var next atomic.Int64
	var total atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= len(jobs) {
					return
				}
				n, err := f(jobs[k])
				total.Add(int64(n))
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), total.Load(), first
}

type client struct {
	user, pass string
	http       *http.Client
}

func (c *client) do(method, u string, body []byte, header ...string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.SetBasicAuth(c.user, c.pass)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func (c *client) expect(method, u string, body []byte, want int, header ...string) error {
	resp, b, err := c.do(method, u, body, header...)
	if err == nil && resp.StatusCode != want {
		err = fmt.Errorf("%s %s: %d %s", method, u, resp.StatusCode, b)
	}
	return err
}

func (c *client) get(u string) ([]byte, error) {
	resp, b, err := c.do("GET", u, nil)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return b, err
}

// pushBlob is POST /blobs/uploads/, then PUT ?digest= with the whole body.
func (c *client) pushBlob(base, repo string, data []byte) error {
	resp, b, err := c.do("POST", base+"/v2/"+repo+"/blobs/uploads/", nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST upload: %d %s", resp.StatusCode, b)
	}
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		return err
	}
	q := loc.Query()
	q.Set("digest", digest.FromBytes(data).String())
	loc.RawQuery = q.Encode()
	return c.expect("PUT", loc.String(), data, http.StatusCreated, "Content-Type", "application/octet-stream")
}

// helmPush makes the requests helm push makes for an archive, all to one replica.
func (c *client) helmPush(base, ns string, a archive) (int, error) {
	repo := ns + "/" + a.name
	art, err := chart.HelmArtifact(a.md, chart.ChartLayer(digest.FromBytes(a.data), int64(len(a.data))), ocispec.Descriptor{}, time.Unix(0, 0).UTC())
	if err != nil {
		return 0, err
	}
	if err := c.pushBlob(base, repo, art.Config); err != nil {
		return 0, err
	}
	if err := c.pushBlob(base, repo, a.data); err != nil {
		return 0, err
	}
	err = c.expect("PUT", base+"/v2/"+repo+"/manifests/"+chart.OCITag(a.version), art.Manifest, http.StatusCreated,
		"Content-Type", ocispec.MediaTypeImageManifest)
	return len(a.data), err
}

// sameIndex checks that every replica's index of ns lists n versions, with equal bytes and ETags.
func (c *client) sameIndex(bases []string, ns string, n int) error {
	var body0, etag0 string
	for i, b := range bases {
		resp, body, err := c.do("GET", b+"/"+ns+"/index.yaml", nil)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("index of %s on %s: %d", ns, b, resp.StatusCode)
		}
		if got := strings.Count(string(body), "\n    version: "); got != n {
			return fmt.Errorf("the index of %s on %s lists %d versions, want %d", ns, b, got, n)
		}
		if i == 0 {
			body0, etag0 = string(body), resp.Header.Get("ETag")
		} else if string(body) != body0 || resp.Header.Get("ETag") != etag0 {
			return fmt.Errorf("the index of %s differs between %s and %s", ns, bases[0], b)
		}
	}
	return nil
}

// makeArchive writes a valid chart archive with size random bytes in it.
func makeArchive(name, version string, size int) archive {
	chartYAML := fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\nappVersion: %q\ndescription: replica benchmark chart\ntype: application\n", name, version, version)
	pad := make([]byte, size)
	rand.Read(pad)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range []struct {
		name string
		body []byte
	}{{"Chart.yaml", []byte(chartYAML)}, {"values.yaml", []byte("replicaCount: 1\n")}, {"files/data.bin", pad}} {
		tw.WriteHeader(&tar.Header{Name: name + "/" + f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)})
		tw.Write(f.body)
	}
	tw.Close()
	zw.Close()
	md, err := chart.ParseMetadata([]byte(chartYAML))
	if err != nil {
		panic(err)
	}
	return archive{name: name, version: version, data: buf.Bytes(), md: md}
}

func report(files []string) error {
	var rs []Result
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var r Result
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		rs = append(rs, r)
	}
	if len(rs) == 0 {
		return fmt.Errorf("no results")
	}
	ref := rs[0]
	fmt.Printf("%d versions of ~%s each, %d requests at a time; ratios to %q\n\n",
		ref.Versions, human(ref.ArchiveBytes), ref.Concurrency, ref.Name)
	row := func(label string, v func(Result) float64, unit string) {
		fmt.Printf("%-26s", label)
		for _, r := range rs {
			cell := fmt.Sprintf("%.1f %s", v(r), unit)
			if r.Name != ref.Name && v(ref) > 0 {
				cell += fmt.Sprintf(" (%.2f×)", v(r)/v(ref))
			}
			fmt.Printf("  %-24s", cell)
		}
		fmt.Println()
	}
	fmt.Printf("%-26s", "")
	for _, r := range rs {
		fmt.Printf("  %-24s", r.Name)
	}
	fmt.Println()
	row("upload over the API", func(r Result) float64 { return r.APIUploadsSec }, "charts/s")
	row("", func(r Result) float64 { return r.APIUploadMBs }, "MB/s")
	row("push over OCI (helm's)", func(r Result) float64 { return r.OCIPushesSec }, "charts/s")
	row("", func(r Result) float64 { return r.OCIPushMBs }, "MB/s")
	row("pull (archive GET)", func(r Result) float64 { return r.PullsSec }, "charts/s")
	row("", func(r Result) float64 { return r.PullMBs }, "MB/s")
	fmt.Printf("%-26s", "load average at start")
	for _, r := range rs {
		fmt.Printf("  %-24s", r.Load)
	}
	fmt.Println()
	return nil
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func parseSize(s string) (int, error) {
	mult := 1
	for _, u := range []struct {
		suffix string
		m      int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = v, u.m
			break
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("size %q: want bytes, or a number with KiB or MiB", s)
	}
	return v * mult, nil
}

func human(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "replbench: "+format+"\n", args...) }
