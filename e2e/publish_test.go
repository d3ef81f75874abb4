package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPublishToBucket: 20 chartroom publish processes at once into one bucket of a real
// versitygw, each one version of a chart: the index ends with all 20 (conditional writes,
// retried). The bucket made public-read by a bucket policy, as users of helm-s3 do, the real
// helm adds it by its URL, lists the 20 versions and pulls byte-identical archives. Publishing
// the same bytes again is "already published" (exit 0), other bytes are refused (exit 2),
// and --reindex writes the index chartroom index writes for the same archives.
func TestPublishToBucket(t *testing.T) {
	helm := need(t, helm3)
	bin := chartroomBin(t)
	s3 := startS3(t)
	bucket := s3.bucket(t, "charts")
	s3.publicRead(t, bucket)
	dest := "s3://" + bucket + "/stable?endpoint=" + s3.Endpoint + "&path-style=true"
	e := newToolEnv(t)
	work := t.TempDir()
	pkg := filepath.Join(work, "pkg")
	const n = 20
	var archives []string
	for i := range n {
		v := fmt.Sprintf("1.%d.0", i)
		e.must(helm, "package", repoChartDir(t, filepath.Join(work, "src-"+v), "web", v, v), "--destination", pkg)
		archives = append(archives, filepath.Join(pkg, "web-"+v+".tgz"))
	}
	env := append(cleanEnv(), s3.env()...)
	publish := func(args ...string) (int, string) {
		cmd := exec.Command(bin, append([]string{"publish"}, args...)...)
		cmd.Env = env
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}

	t.Logf("%d chartroom publish processes at once", n)
	var wg sync.WaitGroup
	codes, outs := make([]int, n), make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], outs[i] = publish(archives[i], dest)
		}()
	}
	wg.Wait()
	for i := range n {
		if codes[i] != 0 || !strings.Contains(outs[i], "published web 1.") {
			t.Errorf("publish %s: exit %d\n%s", archives[i], codes[i], outs[i])
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	t.Log("helm repo add of the bucket's URL: 20 versions, byte-identical archives")
	repoURL := s3.Endpoint + "/" + bucket + "/stable"
	e.must(helm, "repo", "add", "pub", repoURL)
	var found []struct {
		Version string `json:"version"`
	}
	e.mustJSON("", &found, helm, "search", "repo", "pub/web", "--versions", "-o", "json")
	if len(found) != n {
		t.Fatalf("helm search lists %d versions of web; want %d: %v", len(found), n, found)
	}
	pulled := t.TempDir()
	for i := range n {
		v := fmt.Sprintf("1.%d.0", i)
		e.must(helm, "pull", "pub/web", "--version", v, "--destination", pulled)
		sameFile(t, filepath.Join(pulled, "web-"+v+".tgz"), archives[i])
	}

	t.Log("the same bytes again: already published; other bytes: refused")
	index := anonGet(t, repoURL+"/index.yaml")
	if code, out := publish(archives[3], dest); code != 0 || !strings.Contains(out, "already published") {
		t.Fatalf("publish the same archive again: exit %d\n%s", code, out)
	}
	other := filepath.Join(work, "other")
	e.must(helm, "package", repoChartDir(t, filepath.Join(work, "src-other"), "web", "1.3.0", "changed"), "--destination", other)
	code, out := publish(filepath.Join(other, "web-1.3.0.tgz"), dest)
	if code != 2 || !strings.Contains(out, "immutable") || !strings.Contains(out, "bump the chart's version") {
		t.Fatalf("publish other bytes as web 1.3.0: exit %d\n%s", code, out)
	}
	if got := anonGet(t, repoURL+"/index.yaml"); !bytes.Equal(got, index) {
		t.Fatal("publishing an already published version changed the index")
	}
	if got := anonGet(t, repoURL+"/web-1.3.0.tgz"); sha256Hex(got) != fileSHA256(t, archives[3]) {
		t.Fatal("a refused publish changed the archive")
	}

	t.Log("--reindex writes chartroom index's index for the bucket's archives")
	if code, out := publish("--reindex", dest); code != 0 || !strings.Contains(out, "indexed 20 versions of 1 charts") {
		t.Fatalf("publish --reindex: exit %d\n%s", code, out)
	}
	reindexed := anonGet(t, repoURL+"/index.yaml")
	if code, stdout, stderr := runChartroom(t, "index", pkg); code != 0 {
		t.Fatalf("chartroom index: exit %d\n%s%s", code, stdout, stderr)
	}
	local := mustRead(t, filepath.Join(pkg, "index.yaml"))
	// The times are the times of indexing.
	times := regexp.MustCompile(`(?m)^(\s*(created|generated): ).*$`)
	if a, b := times.ReplaceAll(reindexed, []byte("${1}T")), times.ReplaceAll(local, []byte("${1}T")); !bytes.Equal(a, b) {
		t.Fatalf("reindexed:\n%s\nchartroom index:\n%s", reindexed, local)
	}
}

// anonGet GETs a URL without credentials and fails the test unless it answers 200.
func anonGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	return body
}

// publicRead gives a bucket the policy that lets anyone GET its objects, as
// `aws s3api put-bucket-policy` would (a SigV4-signed PUT /BUCKET?policy).
func (s *s3Server) publicRead(t *testing.T, bucket string) {
	t.Helper()
	policy, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
			"Resource": "arn:aws:s3:::" + bucket + "/*",
		}},
	})
	req, err := http.NewRequest(http.MethodPut, s.Endpoint+"/"+bucket+"?policy=", bytes.NewReader(policy))
	if err != nil {
		t.Fatal(err)
	}
	s.sign(req, policy, time.Now().UTC())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("put bucket policy: %s\n%s", resp.Status, body)
	}
	// Anonymous reads work now; anonymous writes still do not.
	req, _ = http.NewRequest(http.MethodPut, s.Endpoint+"/"+bucket+"/probe", strings.NewReader("x"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		t.Fatalf("an anonymous PUT into the public-read bucket succeeded: %s", resp.Status)
	}
}

// sign signs req with AWS Signature Version 4 (region us-east-1, service s3) using the
// server's root credentials.
func (s *s3Server) sign(req *http.Request, body []byte, now time.Time) {
	const region, service = "us-east-1", "s3"
	amzDate := now.Format("20060102T150405Z")
	day := now.Format("20060102")
	payload := sha256Hex(body)
	req.Header.Set("X-Amz-Date", amzDate)
	req.Header.Set("X-Amz-Content-Sha256", payload)
	signed := "host;x-amz-content-sha256;x-amz-date"
	canonical := strings.Join([]string{
		req.Method,
		req.URL.EscapedPath(),
		req.URL.Query().Encode(),
		"host:" + req.URL.Host + "\nx-amz-content-sha256:" + payload + "\nx-amz-date:" + amzDate + "\n",
		signed,
		payload,
	}, "\n")
	scope := day + "/" + region + "/" + service + "/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + sha256Hex([]byte(canonical))
	mac := func(key []byte, data string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(data))
		return h.Sum(nil)
	}
	key := mac(mac(mac(mac([]byte("AWS4"+s.SecretKey), day), region), service), "aws4_request")
	req.Header.Set("Authorization", fmt.Sprintf("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		s.AccessKey, scope, signed, hex.EncodeToString(mac(key, toSign))))
}
