// Command proxy measures the pull latency of a proxy namespace of `chartroom serve`: the
// first pull of a version (fetched from the upstream, checked, published), a later pull of
// the same version (served locally), and, beside them in the same run, a pull of the same
// archive directly from the upstream (a static repository on a Go file server on loopback).
//
//	go run ./bench/proxy -chartroom bin/chartroom [-n 200]
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/chartroom/chartroom/bench/internal/benchserver"
)

const password = "bench-password-1"

func main() {
	bin := flag.String("chartroom", "", "chartroom binary to measure (required)")
	n := flag.Int("n", 200, "chart versions: each is pulled first through the proxy, then again, and directly from the upstream")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "proxy: -chartroom is required")
		os.Exit(2)
	}
	if err := run(*bin, *n); err != nil {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		os.Exit(1)
	}
}

func run(bin string, n int) error {
	work, err := os.MkdirTemp("", "chartroom-bench-proxy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	repo := filepath.Join(work, "upstream")
	if err := os.MkdirAll(repo, 0o755); err != nil {
		return err
	}
	size := 0
	for i := range n {
		a := archive("app", fmt.Sprintf("1.%d.0", i))
		size = len(a)
		if err := os.WriteFile(filepath.Join(repo, fmt.Sprintf("app-1.%d.0.tgz", i)), a, 0o644); err != nil {
			return err
		}
	}
	if out, err := exec.Command(bin, "index", repo).CombinedOutput(); err != nil {
		return fmt.Errorf("chartroom index: %v\n%s", err, out)
	}
	upstream := httptest.NewServer(http.FileServer(http.Dir(repo)))
	defer upstream.Close()

	port, err := benchserver.FreePort()
	if err != nil {
		return err
	}
	// Requests are not logged (--log-level warn), so that they cost what they cost without
	// the log; the address is therefore chosen here rather than read from the log.
	data := filepath.Join(work, "data")
	srv, err := benchserver.Start(bin, data, benchserver.Options{Password: password,
		Listen: fmt.Sprintf("127.0.0.1:%d", port), Args: []string{"--log-level", "warn"}})
	if err != nil {
		return err
	}
	defer srv.Stop()
	base := srv.URL("")
	if out, err := exec.Command(bin, "proxy", "add", "up", upstream.URL, "--data-dir", data).CombinedOutput(); err != nil {
		return fmt.Errorf("chartroom proxy add: %v\n%s", err, out)
	}
	// The first index request lists the upstream (a refresh); not part of any pull measured.
	if _, err := get(base+"/up/index.yaml", true); err != nil {
		return err
	}

	var first, cached, direct, ociFirst, ociCached []time.Duration
	for i := range n {
		v := fmt.Sprintf("1.%d.0", i)
		file := "/app-" + v + ".tgz"
		if i%2 == 0 { // classic: GET /up/charts/<file>
			d, err := get(base+"/up/charts"+file, true)
			if err != nil {
				return err
			}
			first = append(first, d)
			if d, err = get(base+"/up/charts"+file, true); err != nil {
				return err
			}
			cached = append(cached, d)
		} else { // OCI: the manifest by tag, then the chart layer, as helm pull does
			d, err := ociPull(base, v)
			if err != nil {
				return err
			}
			ociFirst = append(ociFirst, d)
			if d, err = ociPull(base, v); err != nil {
				return err
			}
			ociCached = append(ociCached, d)
		}
		d, err := get(upstream.URL+file, false)
		if err != nil {
			return err
		}
		direct = append(direct, d)
	}
	fmt.Printf("%d versions of a %d-byte chart; upstream: a static repository on a Go file server on loopback\n\n", n, size)
	fmt.Printf("%-58s %10s %10s %10s\n", "pull of one archive", "median", "p90", "vs direct")
	row := func(name string, ds []time.Duration) {
		m, p := pct(ds, 50), pct(ds, 90)
		fmt.Printf("%-58s %10s %10s %9.1f×\n", name, m.Round(time.Microsecond), p.Round(time.Microsecond), float64(m)/float64(pct(direct, 50)))
	}
	row("directly from the upstream (GET archive)", direct)
	row("through the proxy, first pull (classic GET archive)", first)
	row("through the proxy, cached (classic GET archive)", cached)
	row("through the proxy, first pull (OCI manifest by tag + blob)", ociFirst)
	row("through the proxy, cached (OCI manifest by tag + blob)", ociCached)
	return nil
}

// get GETs u to its end and returns how long it took; auth sends the admin's credentials.
func get(u string, auth bool) (time.Duration, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	if auth {
		req.SetBasicAuth("admin", password)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s: %s", u, resp.Status, body)
	}
	return d, nil
}

// ociPull GETs the manifest of app:version and its chart layer (Basic credentials: chartroom
// accepts them on /v2/ as well as a token).
func ociPull(base, version string) (time.Duration, error) {
	req, _ := http.NewRequest(http.MethodGet, base+"/v2/up/app/manifests/"+version, nil)
	req.SetBasicAuth("admin", password)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET manifest %s: %v %s %s", version, err, resp.Status, body)
	}
	i := bytes.Index(body, []byte(`"application/vnd.cncf.helm.chart.content.v1.tar+gzip"`))
	j := bytes.Index(body[i:], []byte(`"sha256:`))
	if i < 0 || j < 0 {
		return 0, fmt.Errorf("manifest %s has no chart layer: %s", version, body)
	}
	dgst := string(body[i+j+1 : i+j+1+71])
	if _, err := get(base+"/v2/up/app/blobs/"+dgst, true); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func pct(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}

// archive is a chart archive of a typical size: Chart.yaml, a ~16 KB values.yaml and a few
// templates.
func archive(name, version string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	var values strings.Builder
	for i := range 400 {
		fmt.Fprintf(&values, "key%03d: value-%d-%s\n", i, i, version)
	}
	files := []struct{ name, body string }{
		{"Chart.yaml", fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\nappVersion: \"%s\"\ndescription: A chart for the proxy benchmark\n", name, version, version)},
		{"values.yaml", values.String()},
	}
	for i := range 5 {
		files = append(files, struct{ name, body string }{fmt.Sprintf("templates/cm%d.yaml", i),
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-" + fmt.Sprint(i) + "\ndata:\n  key: {{ .Values.key001 | quote }}\n"})
	}
	for _, f := range files {
		tw.WriteHeader(&tar.Header{Name: name + "/" + f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)})
		tw.Write([]byte(f.body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}
