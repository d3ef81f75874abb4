package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var versitygw = tool{"versitygw", "CHARTROOM_VERSITYGW"}

// s3Server is a real S3-compatible server for a test: versitygw (pinned in scripts/tools.sh)
// with its posix backend in a temporary directory, on a loopback port, stopped when the
// test ends.
type s3Server struct {
	Endpoint             string // http://127.0.0.1:<port>
	AccessKey, SecretKey string
	Root                 string // the posix backend's directory: one directory per bucket
}

func startS3(t *testing.T) *s3Server {
	t.Helper()
	bin := need(t, versitygw)
	dir := t.TempDir()
	s := &s3Server{AccessKey: "chartroom-e2e", SecretKey: randomHex(16), Root: filepath.Join(dir, "data")}
	if err := os.Mkdir(s.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logs := &logBuffer{}
	cmd := exec.Command(bin, "--access", s.AccessKey, "--secret", s.SecretKey, "--port", addr, "--quiet", "posix", s.Root)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(stopTimeout):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("versitygw log:\n%s", tail(logs.String(), 50))
		}
	})
	s.Endpoint = "http://" + addr
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-done:
			t.Fatalf("versitygw exited at start:\n%s", logs.String())
		default:
		}
		// Unsigned, it answers an S3 error document: it is up.
		resp, err := http.Get(s.Endpoint + "/")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), "<Error>") {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not answer on %s within %s:\n%s", addr, startTimeout, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bucket creates an empty bucket (with the posix backend, a directory of the root).
func (s *s3Server) bucket(t *testing.T, name string) string {
	t.Helper()
	if err := os.Mkdir(filepath.Join(s.Root, name), 0o755); err != nil {
		t.Fatal(err)
	}
	return name
}

// storage is the --storage URL of bucket/prefix on this server.
func (s *s3Server) storage(bucket, prefix string) string {
	return fmt.Sprintf("s3://%s/%s?endpoint=%s&region=us-east-1&path-style=true", bucket, prefix, s.Endpoint)
}

// env gives a process this server's credentials the usual AWS way.
func (s *s3Server) env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s.SecretKey}
}

// object is the file of an object in the posix backend ("" when it is not there).
func (s *s3Server) object(bucket, key string) string {
	p := filepath.Join(s.Root, bucket, filepath.FromSlash(key))
	if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	return p
}

// blobKey is the key of blob d ("sha256:<hex>") under prefix.
func blobKey(prefix, d string) string {
	hex := strings.TrimPrefix(d, "sha256:")
	return prefix + "/blobs/sha256/" + hex[:2] + "/" + hex
}

// TestServeOnS3 runs chartroom serve --storage s3://… against a real versitygw with the real
// helm v3: a chart pushed over OCI and one uploaded over /api/charts are kept in the bucket
// (none in the data directory), pulled back by helm over OCI and through helm repo add with
// the same bytes and the same digest over both protocols. With --storage-redirect a blob GET
// is a 307 to a presigned URL of the bucket, which helm pull follows to the same bytes.
func TestServeOnS3(t *testing.T) {
	helm := need(t, helm3)
	s3 := startS3(t)
	bucket := s3.bucket(t, "charts")
	work := t.TempDir()
	pkg := filepath.Join(work, "pkg")
	e := newToolEnv(t)
	for _, v := range []string{"1.0.0", "1.1.0", "2.0.0"} {
		e.must(helm, "package", repoChartDir(t, filepath.Join(work, "src-"+v), "web", v, v), "--destination", pkg)
	}
	tgz := func(v string) string { return filepath.Join(pkg, "web-"+v+".tgz") }

	srv := StartServerEnv(t, s3.env(), "--storage", s3.storage(bucket, "reg"))
	c := adminClient(srv)
	host := srv.Host()
	e.must(helm, "registry", "login", host, "--username", "admin", "--password", srv.Password, "--plain-http")

	t.Log("helm push over OCI, helm pull over OCI: the same bytes, the layer in the bucket")
	out := e.must(helm, "push", tgz("1.0.0"), "oci://"+host+"/team", "--plain-http")
	layer := chartLayers(t, c, "team/web", printedDigest(t, out))[chartLayer]
	if layer != "sha256:"+fileSHA256(t, tgz("1.0.0")) {
		t.Fatalf("chart layer %s; the archive's sha256 is %s", layer, fileSHA256(t, tgz("1.0.0")))
	}
	pulled := t.TempDir()
	e.must(helm, "pull", "oci://"+host+"/team/web", "--version", "1.0.0", "--plain-http", "--destination", pulled)
	sameFile(t, filepath.Join(pulled, "web-1.0.0.tgz"), tgz("1.0.0"))
	if p := s3.object(bucket, blobKey("reg", layer)); p == "" {
		t.Fatalf("the chart layer %s is not in the bucket at %s", layer, blobKey("reg", layer))
	} else {
		sameFile(t, p, tgz("1.0.0"))
	}

	t.Log("uploaded over /api/charts, pulled with helm repo add and over OCI: the same digest")
	repoUploadFiles(t, c, "team", tgz("1.1.0"), "")
	e.must(helm, "repo", "add", "team", "http://"+host+"/team", "--username", "admin", "--password", srv.Password)
	pulled = t.TempDir()
	e.must(helm, "pull", "team/web", "--version", "1.1.0", "--destination", pulled)
	sameFile(t, filepath.Join(pulled, "web-1.1.0.tgz"), tgz("1.1.0"))
	e.must(helm, "pull", "team/web", "--version", "1.0.0", "--destination", pulled)
	sameFile(t, filepath.Join(pulled, "web-1.0.0.tgz"), tgz("1.0.0"))
	idx := repoGetIndex(t, c, "team")
	want := fileSHA256(t, tgz("1.1.0"))
	if d := indexDigest(idx, "web", "1.1.0"); d != want {
		t.Fatalf("index digest of the upload %s; the archive's sha256 is %s", d, want)
	}
	ociPulled := t.TempDir()
	out = e.must(helm, "pull", "oci://"+host+"/team/web", "--version", "1.1.0", "--plain-http", "--destination", ociPulled)
	sameFile(t, filepath.Join(ociPulled, "web-1.1.0.tgz"), tgz("1.1.0"))
	if l := chartLayers(t, c, "team/web", printedDigest(t, out))[chartLayer]; l != "sha256:"+want || s3.object(bucket, blobKey("reg", l)) == "" {
		t.Fatalf("the upload's OCI layer %s is not sha256:%s in the bucket", l, want)
	}
	if files := filesUnder(t, filepath.Join(srv.DataDir, "blobs")); len(files) > 0 {
		t.Fatalf("blobs were written to the data directory: %v", files)
	}

	t.Log("--storage-redirect: blob GETs are 307s to presigned URLs; helm pull follows them")
	red := StartServerEnv(t, s3.env(), "--storage", s3.storage(bucket, "redirect"), "--storage-redirect")
	rc := adminClient(red)
	e.must(helm, "registry", "login", red.Host(), "--username", "admin", "--password", red.Password, "--plain-http")
	out = e.must(helm, "push", tgz("2.0.0"), "oci://"+red.Host()+"/team", "--plain-http")
	layer = chartLayers(t, rc, "team/web", printedDigest(t, out))[chartLayer]
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", red.URL("/v2/team/web/blobs/"+layer), nil)
	req.SetBasicAuth("admin", red.Password)
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, s3.Endpoint+"/"+bucket+"/"+blobKey("redirect", layer)+"?") ||
		!strings.Contains(loc, "X-Amz-Signature=") {
		t.Fatalf("GET blob with --storage-redirect: %s, Location %q", resp.Status, loc)
	}
	// The presigned URL alone, without the registry's credentials, gives the archive.
	resp, err = http.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != string(mustRead(t, tgz("2.0.0"))) {
		t.Fatalf("GET the presigned URL: %s, %d bytes", resp.Status, len(body))
	}
	before := strings.Count(red.Logs(), `"status":307`)
	pulled = t.TempDir()
	e.must(helm, "pull", "oci://"+red.Host()+"/team/web", "--version", "2.0.0", "--plain-http", "--destination", pulled)
	sameFile(t, filepath.Join(pulled, "web-2.0.0.tgz"), tgz("2.0.0"))
	if after := strings.Count(red.Logs(), `"status":307`); after <= before {
		t.Fatalf("helm pull was not redirected (307s logged: %d before, %d after):\n%s", before, after, tail(red.Logs(), 20))
	}
	// The classic repository still serves the archive itself.
	if got := repoGet(t, rc, "/team/charts/web-2.0.0.tgz", http.StatusOK); string(got) != string(mustRead(t, tgz("2.0.0"))) {
		t.Fatal("charts/web-2.0.0.tgz differs from the archive pushed")
	}
}

// TestServeOnS3RefusesBadStorage: a storage URL that cannot work, wrong credentials and an
// endpoint that does not answer stop chartroom serve before it listens, with an error that
// names the storage setting and the cause; no database is created.
func TestServeOnS3RefusesBadStorage(t *testing.T) {
	s3 := startS3(t)
	bucket := s3.bucket(t, "charts")
	for _, tc := range []struct {
		name    string
		storage string
		env     []string
		want    []string
	}{
		{"not a storage URL", "s3://Bad_Bucket/reg", s3.env(), []string{"--storage", "is not a bucket name"}},
		{"unknown parameter", "s3://charts/reg?endpont=" + s3.Endpoint, s3.env(), []string{"--storage", "unknown parameter endpont"}},
		{"wrong secret", s3.storage(bucket, "reg"), []string{"AWS_ACCESS_KEY_ID=" + s3.AccessKey, "AWS_SECRET_ACCESS_KEY=wrong"},
			[]string{"storage:", "refused the credentials"}},
		{"no credentials", s3.storage(bucket, "reg"), []string{"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY="},
			[]string{"storage:", "no S3 credentials", "AWS_ACCESS_KEY_ID"}},
		{"endpoint down", "s3://charts/reg?endpoint=http://127.0.0.1:1&path-style=true", s3.env(), []string{"storage:", "did not answer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			cmd := exec.Command(chartroomBin(t), "serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--storage", tc.storage)
			cmd.Env = append(append(cleanEnv(), tc.env...), "CHARTROOM_ADMIN_PASSWORD=x-unused-password")
			done := make(chan struct{})
			var out []byte
			go func() { out, _ = cmd.CombinedOutput(); close(done) }()
			select {
			case <-done:
			case <-time.After(2 * startTimeout):
				cmd.Process.Kill()
				<-done
				t.Fatalf("serve did not exit:\n%s", out)
			}
			if cmd.ProcessState.ExitCode() == 0 || strings.Contains(string(out), `listening`) {
				t.Fatalf("serve exited %d:\n%s", cmd.ProcessState.ExitCode(), out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("serve's error lacks %q:\n%s", w, out)
				}
			}
			if _, err := os.Stat(filepath.Join(dataDir, "chartroom.db")); err == nil {
				t.Error("a database was created")
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
