// Command import measures chartroom import's throughput, in chart versions per second, from
// a classic repository served the way ChartMuseum serves one (index.yaml with relative
// charts/… URLs, archives and .prov files behind Basic auth) into a fresh chartroom.
//
//	go run ./bench/import                        # 1,000 signed versions, parallel 4, best of 3
//	go run ./bench/import -n 5000 -parallel 8 -runs 1
//	go run ./bench/import -chartroom /path/to/chartroom
//
// The versions (charts of -charts names) are made and signed (OpenPGP, as helm package
// --sign) in-process before the clock starts. Each run starts `chartroom serve` on a new
// data directory and times one `chartroom import` of every version, then checks the
// destination's index lists them all with the source's digests, so a fast but wrong import
// cannot pass for a fast one.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/chartroom/chartroom/bench/internal/benchserver"
	"github.com/chartroom/chartroom/internal/provenance"
)

func main() {
	n := flag.Int("n", 1000, "chart versions in the source")
	charts := flag.Int("charts", 10, "distinct chart names")
	parallel := flag.Int("parallel", 4, "chartroom import --parallel")
	runs := flag.Int("runs", 3, "runs; the best is reported")
	bin := flag.String("chartroom", os.Getenv("CHARTROOM_BIN"), "chartroom binary (default $CHARTROOM_BIN)")
	flag.Parse()
	if err := run(*n, *charts, *parallel, *runs, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "import bench:", err)
		os.Exit(1)
	}
}

type version struct {
	name, version, file string
	archive, prov       []byte
	digest              string
}

func run(n, charts, parallel, runs int, bin string) error {
	if bin == "" {
		return fmt.Errorf("give -chartroom or set CHARTROOM_BIN")
	}
	signer, err := openpgp.NewEntity("Bench Signer", "", "bench@example.com", nil)
	if err != nil {
		return err
	}
	start := time.Now()
	files := map[string]*version{}
	var index strings.Builder
	index.WriteString("apiVersion: v1\nentries:\n")
	byName := map[string][]*version{}
	for i := 0; i < n; i++ {
		v := &version{name: fmt.Sprintf("chart%02d", i%charts), version: fmt.Sprintf("1.%d.%d", i/charts/100, i/charts%100)}
		v.file = v.name + "-" + v.version + ".tgz"
		if v.archive, err = archive(v.name, v.version, i); err != nil {
			return err
		}
		if v.prov, err = provenance.Sign(bytes.NewReader(v.archive), v.file, signer); err != nil {
			return err
		}
		s := sha256.Sum256(v.archive)
		v.digest = hex.EncodeToString(s[:])
		files[v.file] = v
		byName[v.name] = append(byName[v.name], v)
	}
	created := time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC)
	for name, vs := range byName {
		fmt.Fprintf(&index, "  %s:\n", name)
		for _, v := range vs {
			fmt.Fprintf(&index, "  - apiVersion: v2\n    name: %s\n    version: %s\n    urls: [charts/%s]\n    digest: %s\n    created: %q\n",
				name, v.version, v.file, v.digest, created.Format(time.RFC3339Nano))
		}
	}
	fmt.Printf("source: %d versions of %d charts, signed, made in %s\n", n, charts, time.Since(start).Round(time.Millisecond))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srcPass := "bench-source"
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "museum" || p != srcPass {
			w.Header().Set("WWW-Authenticate", `Basic realm="chartmuseum"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/index.yaml" {
			io.WriteString(w, index.String())
			return
		}
		file, _ := strings.CutPrefix(r.URL.Path, "/charts/")
		if v := files[strings.TrimSuffix(file, ".prov")]; v != nil {
			if strings.HasSuffix(file, ".prov") {
				w.Write(v.prov)
			} else {
				w.Write(v.archive)
			}
			return
		}
		http.NotFound(w, r)
	}))
	srcURL := "http://" + ln.Addr().String()

	best := time.Duration(0)
	for i := 0; i < runs; i++ {
		d, err := once(bin, srcURL, srcPass, parallel, files)
		if err != nil {
			return err
		}
		fmt.Printf("run %d: %d versions in %s, %.1f versions/s\n", i+1, n, d.Round(time.Millisecond), float64(n)/d.Seconds())
		if best == 0 || d < best {
			best = d
		}
	}
	fmt.Printf("best: %.1f versions/s (%d versions with .prov, --parallel %d, %s)\n", float64(n)/best.Seconds(), n, parallel, best.Round(time.Millisecond))
	return nil
}

// once imports every version into a new chartroom and checks its index.
func once(bin, srcURL, srcPass string, parallel int, files map[string]*version) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "chartroom-import-bench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	srv, err := benchserver.Start(bin, filepath.Join(dir, "data"), benchserver.Options{Password: "bench-admin"})
	if err != nil {
		return 0, err
	}
	defer srv.Stop()
	cmd := exec.Command(bin, "import", srcURL, "--to", srv.Addr+"/bench", "--plain-http", "--parallel", fmt.Sprint(parallel),
		"--username", "museum", "--password-stdin", "-o", "json")
	cmd.Env = append(os.Environ(), "CHARTROOM_USERNAME=admin", "CHARTROOM_PASSWORD="+srv.Password, "HOME="+dir, "CI=1")
	cmd.Stdin = strings.NewReader(srcPass + "\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("chartroom import: %v\n%s", err, tail(stderr.String()))
	}
	var rep struct{ Imported, Failed int }
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || rep.Imported != len(files) || rep.Failed != 0 {
		return 0, fmt.Errorf("import report: imported %d, failed %d of %d (%v)", rep.Imported, rep.Failed, len(files), err)
	}
	resp, err := srv.Request("GET", "/bench/index.json", nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var idx struct {
		Entries map[string][]struct{ Name, Version, Digest string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil {
		return 0, err
	}
	seen := 0
	for name, es := range idx.Entries {
		for _, e := range es {
			v := files[name+"-"+e.Version+".tgz"]
			if v == nil || v.digest != e.Digest {
				return 0, fmt.Errorf("the destination lists %s %s with digest %s, not the source's", name, e.Version, e.Digest)
			}
			seen++
		}
	}
	if seen != len(files) {
		return 0, fmt.Errorf("the destination lists %d versions, the source %d", seen, len(files))
	}
	return d, nil
}

// archive is a small chart archive (Chart.yaml, values.yaml, a template) unique to i.
func archive(name, version string, i int) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range []struct{ name, body string }{
		{"Chart.yaml", fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\nappVersion: \"%d\"\ndescription: bench chart\n", name, version, i)},
		{"values.yaml", fmt.Sprintf("replicas: 1\nimage:\n  tag: \"%d\"\n", i)},
		{"templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  tag: {{ .Values.image.tag | quote }}\n"},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: name + "/" + f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}
