package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cluster is several `chartroom serve` replicas on one PostgreSQL database and one S3 bucket
// (versitygw), each with its own data directory, behind a round-robin load balancer whose URL
// is every replica's --external-url, as README's "Running several replicas" sets them up.
type cluster struct {
	replicas []*Server
	password string
	s3       *s3Server
	bucket   string
	prefix   string
	lb       *loadBalancer
}

// startCluster starts PostgreSQL, versitygw, the load balancer and n replicas, all at once
// (so that they run the database's migrations together, as replicas of a rollout do).
func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	database := startPostgres(t)
	s3 := startS3(t)
	c := &cluster{password: randomHex(12), s3: s3, bucket: s3.bucket(t, "charts"), prefix: "reg", lb: startLoadBalancer(t)}
	args := []string{"--database", database, "--storage", s3.storage(c.bucket, c.prefix), "--external-url", c.lb.URL}
	c.replicas = make([]*Server, n)
	var wg sync.WaitGroup
	for i := range c.replicas {
		s := &Server{
			t: t, bin: chartroomBin(t), DataDir: t.TempDir(), Password: c.password, Args: args, Env: s3.env(),
			addr: "127.0.0.1:0", logs: &logBuffer{}, scheme: "http", probe: http.DefaultClient,
		}
		t.Cleanup(s.cleanup)
		c.replicas[i] = s
		wg.Add(1)
		go func() { defer wg.Done(); s.start() }()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	c.lb.set(c.replicas...)
	return c
}

func (c *cluster) client(i int) *ociClient { return newOCIClient(c.replicas[i], "admin", c.password) }

// loadBalancer sends each request to the next of its backends in turn, as a TCP or HTTP load
// balancer in front of the replicas does.
type loadBalancer struct {
	URL      string
	mu       sync.Mutex
	backends []*url.URL
	next     atomic.Uint64
}

func startLoadBalancer(t *testing.T) *loadBalancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lb := &loadBalancer{URL: "http://" + ln.Addr().String()}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			lb.mu.Lock()
			b := lb.backends[int(lb.next.Add(1))%len(lb.backends)]
			lb.mu.Unlock()
			r.SetURL(b)
			r.Out.Host = r.In.Host
		},
		FlushInterval: -1,
	}
	srv := &http.Server{Handler: proxy}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return lb
}

// set makes servers the balancer's backends (a health check taking a dead one out does this).
func (lb *loadBalancer) set(servers ...*Server) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.backends = nil
	for _, s := range servers {
		u, _ := url.Parse(s.URL(""))
		lb.backends = append(lb.backends, u)
	}
}

// index fetches /<ns>/index.yaml from c: body and ETag.
func replicaIndex(t testing.TB, c *ociClient, ns string) (string, string) {
	t.Helper()
	resp, body, err := c.do("GET", repoPath(ns, "index.yaml"), nil, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s index.yaml from %s: %v %v %s", ns, c.base, err, resp, body)
	}
	return string(body), resp.Header.Get("ETag")
}

// sameIndexEverywhere checks that every replica serves the same index.yaml of ns under the
// same ETag, and returns the JSON form of it (read from the first).
func (c *cluster) sameIndexEverywhere(t *testing.T, ns string) repoIndex {
	t.Helper()
	body0, etag0 := replicaIndex(t, c.client(0), ns)
	for i := 1; i < len(c.replicas); i++ {
		if !c.replicas[i].running() {
			continue
		}
		body, etag := replicaIndex(t, c.client(i), ns)
		if body != body0 || etag != etag0 || etag0 == "" {
			t.Fatalf("replica %d's index of %s (ETag %s) differs from replica 1's (ETag %s):\n%s\n---\n%s", i+1, ns, etag, etag0, body, body0)
		}
	}
	return repoGetIndex(t, c.client(0), ns)
}

// writeArchive writes an archive to dir/<name>-<version>.tgz, as helm push wants a file.
func writeArchive(t testing.TB, dir, name, version string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name+"-"+version+".tgz")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReplicasOnPostgresAndS3 runs three replicas on one PostgreSQL and one versitygw bucket:
// what one replica commits, every replica serves at once (index with equal bytes and ETags,
// archive, OCI pull with the real helm); concurrent uploads spread over the replicas and both
// protocols all land; one version uploaded concurrently with different bytes has exactly one
// winner everywhere; a chunked OCI upload started on one replica finishes on another; and a
// replica killed (SIGKILL) in the middle of uploads leaves the others serving and nothing of
// those uploads visible.
func TestReplicasOnPostgresAndS3(t *testing.T) {
	helm := need(t, helm3)
	c := startCluster(t, 3)
	e := newToolEnv(t)
	for _, r := range c.replicas {
		e.must(helm, "registry", "login", r.Host(), "--username", "admin", "--password", c.password, "--plain-http")
	}
	work := t.TempDir()
	// helmPush pushes an archive file to replica i over OCI; the output says why it failed.
	helmPush := func(i int, file string) (string, error) {
		return e.run(helm, "push", file, "oci://"+c.replicas[i].Host()+"/team", "--plain-http")
	}
	// apiUpload posts an archive to replica i's /api/team/charts.
	apiUpload := func(i int, archive []byte) (int, string, error) {
		resp, body, err := c.client(i).do("POST", repoAPI("team", "charts"), archive, map[string]string{"Content-Type": "application/gzip"})
		if err != nil {
			return 0, "", err
		}
		return resp.StatusCode, string(body), nil
	}

	t.Run("a chart committed on one replica is served by all at once", func(t *testing.T) {
		_, etagBefore := replicaIndex(t, c.client(2), "team")
		pushed := repoArchive(t, "first", "1.0.0", "over OCI")
		if out, err := helmPush(0, writeArchive(t, work, "first", "1.0.0", pushed)); err != nil {
			t.Fatalf("helm push to replica 1: %v\n%s", err, out)
		}
		idx := c.sameIndexEverywhere(t, "team")
		if d := indexDigest(idx, "first", "1.0.0"); d != sha256Hex(pushed) {
			t.Fatalf("index digest of first 1.0.0: %q, want %s", d, sha256Hex(pushed))
		}
		if _, etag := replicaIndex(t, c.client(2), "team"); etag == etagBefore {
			t.Fatalf("replica 3's ETag did not change after the push: %s", etag)
		}
		for i := 1; i < 3; i++ {
			dest := t.TempDir()
			e.must(helm, "pull", "oci://"+c.replicas[i].Host()+"/team/first", "--version", "1.0.0", "--plain-http", "--destination", dest)
			if got := mustRead(t, filepath.Join(dest, "first-1.0.0.tgz")); !bytes.Equal(got, pushed) {
				t.Fatalf("helm pull from replica %d: other bytes than pushed to replica 1", i+1)
			}
			if got := repoGet(t, c.client(i), "/team/charts/first-1.0.0.tgz", http.StatusOK); !bytes.Equal(got, pushed) {
				t.Fatalf("charts/first-1.0.0.tgz from replica %d: other bytes than pushed to replica 1", i+1)
			}
		}

		uploaded := repoArchive(t, "first", "1.1.0", "over the API")
		if status, body, err := apiUpload(1, uploaded); err != nil || status != http.StatusCreated {
			t.Fatalf("upload to replica 2: %v %d %s", err, status, body)
		}
		idx = c.sameIndexEverywhere(t, "team")
		if d := indexDigest(idx, "first", "1.1.0"); d != sha256Hex(uploaded) {
			t.Fatalf("index digest of first 1.1.0: %q, want %s", d, sha256Hex(uploaded))
		}
		dest := t.TempDir()
		e.must(helm, "pull", "oci://"+c.replicas[2].Host()+"/team/first", "--version", "1.1.0", "--plain-http", "--destination", dest)
		if got := mustRead(t, filepath.Join(dest, "first-1.1.0.tgz")); !bytes.Equal(got, uploaded) {
			t.Fatal("helm pull from replica 3: other bytes than uploaded to replica 2")
		}

		// Through the load balancer, as users reach the replicas: the index's URLs are the
		// balancer's (--external-url), and helm repo add + pull follow them.
		e.must(helm, "repo", "add", "team", c.lb.URL+"/team", "--username", "admin", "--password", c.password)
		dest = t.TempDir()
		e.must(helm, "pull", "team/first", "--version", "1.0.0", "--destination", dest)
		if got := mustRead(t, filepath.Join(dest, "first-1.0.0.tgz")); !bytes.Equal(got, pushed) {
			t.Fatal("helm pull through the load balancer: other bytes than pushed")
		}
	})

	t.Run("60 concurrent uploads over three replicas and both protocols all land", func(t *testing.T) {
		const n = 60
		archives := make([][]byte, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range archives {
			v := fmt.Sprintf("1.0.%d", i)
			archives[i] = repoArchive(t, "many", v, "upload "+v)
			file := writeArchive(t, work, "many", v, archives[i])
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i%2 == 0 {
					if out, err := helmPush(i%3, file); err != nil {
						errs[i] = fmt.Errorf("helm push %s to replica %d: %v\n%s", v, i%3+1, err, out)
					}
					return
				}
				if status, body, err := apiUpload(i%3, archives[i]); err != nil || status != http.StatusCreated {
					errs[i] = fmt.Errorf("upload %s to replica %d: %v %d %s", v, i%3+1, err, status, body)
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		idx := c.sameIndexEverywhere(t, "team")
		if got := len(idx.Entries["many"]); got != n {
			t.Fatalf("the index lists %d versions of many, want %d", got, n)
		}
		for i, a := range archives {
			if d := indexDigest(idx, "many", fmt.Sprintf("1.0.%d", i)); d != sha256Hex(a) {
				t.Errorf("many 1.0.%d: index digest %q, want %s", i, d, sha256Hex(a))
			}
		}
		for i := range c.replicas {
			tags, err := c.client(i).tags("team/many")
			if err != nil || len(tags) != n {
				t.Errorf("replica %d lists %d tags of team/many (%v), want %d", i+1, len(tags), err, n)
			}
		}
	})

	t.Run("one version uploaded 21 times at once with different bytes has one winner", func(t *testing.T) {
		const n = 21
		archives := make([][]byte, n)
		outcome := make([]string, n) // "won", "409", or what else happened
		var wg sync.WaitGroup
		for i := range archives {
			archives[i] = repoArchive(t, "race", "2.0.0", fmt.Sprintf("contender %d", i))
			file := writeArchive(t, filepath.Join(work, fmt.Sprint("race", i)), "race", "2.0.0", archives[i])
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i%2 == 0 {
					out, err := helmPush(i%3, file)
					switch {
					case err == nil:
						outcome[i] = "won"
					case strings.Contains(out, "409") || strings.Contains(out, "Conflict"):
						outcome[i] = "409"
					default:
						outcome[i] = fmt.Sprintf("helm push to replica %d: %v\n%s", i%3+1, err, out)
					}
					return
				}
				status, body, err := apiUpload(i%3, archives[i])
				switch {
				case err == nil && status == http.StatusCreated:
					outcome[i] = "won"
				case err == nil && status == http.StatusConflict:
					outcome[i] = "409"
				default:
					outcome[i] = fmt.Sprintf("upload to replica %d: %v %d %s", i%3+1, err, status, body)
				}
			}()
		}
		wg.Wait()
		winner := -1
		for i, o := range outcome {
			switch o {
			case "won":
				if winner >= 0 {
					t.Errorf("contenders %d and %d both won", winner, i)
				}
				winner = i
			case "409":
			default:
				t.Errorf("contender %d: %s", i, o)
			}
		}
		if winner < 0 {
			t.Fatalf("no contender won: %v", outcome)
		}
		t.Logf("contender %d won (over %s)", winner, map[bool]string{true: "OCI", false: "the API"}[winner%2 == 0])
		idx := c.sameIndexEverywhere(t, "team")
		if d := indexDigest(idx, "race", "2.0.0"); d != sha256Hex(archives[winner]) {
			t.Fatalf("index digest of race 2.0.0: %q, the winner's is %s", d, sha256Hex(archives[winner]))
		}
		for i := range c.replicas {
			if got := repoGet(t, c.client(i), "/team/charts/race-2.0.0.tgz", http.StatusOK); !bytes.Equal(got, archives[winner]) {
				t.Errorf("replica %d serves other bytes than the winner's", i+1)
			}
			status, manifest, _, err := c.client(i).getManifest("team/race", "2.0.0")
			if err != nil || status != http.StatusOK || !strings.Contains(string(manifest), "sha256:"+sha256Hex(archives[winner])) {
				t.Errorf("replica %d: manifest of team/race:2.0.0 = %v %d %s; want the winner's layer", i+1, err, status, manifest)
			}
		}
	})

	t.Run("a chunked OCI upload started on one replica finishes on another", func(t *testing.T) {
		// Chunks of 6, 3 and 5 MiB, then 1 MiB with the PUT: across the S3 store's 5 MiB
		// part size, so that both the multipart parts and the tail travel between replicas.
		data := randomBytes(15 << 20)
		d := digestOf(data)
		const repo = "team/chunky"
		cuts := []int{0, 6 << 20, 9 << 20, 14 << 20, len(data)}
		patch := func(i int, loc *url.URL, from, to int) *url.URL {
			t.Helper()
			resp, body, err := c.client(i).do("PATCH", c.replicas[i].URL(loc.RequestURI()), data[from:to], map[string]string{
				"Content-Type": "application/octet-stream", "Content-Range": fmt.Sprintf("%d-%d", from, to-1)})
			if err != nil || resp.StatusCode != http.StatusAccepted {
				t.Fatalf("PATCH bytes %d-%d on replica %d: %v %v %s", from, to-1, i+1, err, resp, body)
			}
			if want := fmt.Sprintf("0-%d", to-1); resp.Header.Get("Range") != want {
				t.Fatalf("PATCH on replica %d: Range %q, want %q", i+1, resp.Header.Get("Range"), want)
			}
			next, err := location(resp)
			if err != nil {
				t.Fatal(err)
			}
			return next
		}
		loc, err := c.client(0).startUpload(repo)
		if err != nil {
			t.Fatal(err)
		}
		loc = patch(0, loc, cuts[0], cuts[1])
		loc = patch(0, loc, cuts[1], cuts[2])
		// Replica 3 reports where the upload stands.
		resp, body, err := c.client(2).do("GET", c.replicas[2].URL(loc.RequestURI()), nil, nil)
		if err != nil || resp.StatusCode != http.StatusNoContent || resp.Header.Get("Range") != fmt.Sprintf("0-%d", cuts[2]-1) {
			t.Fatalf("GET the upload's status on replica 3: %v %v %s", err, resp, body)
		}
		loc = patch(1, loc, cuts[2], cuts[3])
		u, _ := url.Parse(withDigest(loc, d))
		resp, body, err = c.client(1).do("PUT", c.replicas[1].URL(u.RequestURI()), data[cuts[3]:], map[string]string{
			"Content-Type": "application/octet-stream", "Content-Range": fmt.Sprintf("%d-%d", cuts[3], len(data)-1)})
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT the last chunk on replica 2: %v %v %s", err, resp, body)
		}
		for i := range c.replicas {
			status, got, err := c.client(i).getBlob(repo, d)
			if err != nil || status != http.StatusOK || !bytes.Equal(got, data) {
				t.Fatalf("GET the blob from replica %d: %v %d, %d bytes (want %d)", i+1, err, status, len(got), len(data))
			}
		}
		if p := c.s3.object(c.bucket, blobKey(c.prefix, d)); p == "" {
			t.Fatalf("the blob is not in the bucket at %s", blobKey(c.prefix, d))
		}
		// The session is over on every replica.
		resp, body, err = c.client(2).do("GET", c.replicas[2].URL(loc.RequestURI()), nil, nil)
		if err != nil || resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET the finished upload on replica 3: %v %v %s; want 404", err, resp, body)
		}
	})

	t.Run("a replica killed mid-upload: the others serve, nothing partial is visible", func(t *testing.T) {
		victim := c.replicas[2]
		vc := c.client(2)
		const (
			blobRepo  = "team/killed"
			seed      = 9
			size      = 64 << 20
			killAfter = 16 << 20
		)
		full := streamDigest(seed, size)
		halfArchive := repoArchive(t, "killed", "1.0.0", strings.Repeat("x", 1<<20))

		// A blob streamed in one PATCH, and a chart streamed to the upload API, both held
		// back halfway when the replica dies.
		loc, err := vc.startUpload(blobRepo)
		if err != nil {
			t.Fatal(err)
		}
		type stalled struct {
			pw       *io.PipeWriter
			answered chan error
			sent     chan struct{}
		}
		start := func(method, target string, header map[string]string, first io.Reader) stalled {
			pr, pw := io.Pipe()
			s := stalled{pw: pw, answered: make(chan error, 1), sent: make(chan struct{})}
			req, err := vc.request(context.Background(), method, target, pr)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range header {
				req.Header.Set(k, v)
			}
			req.ContentLength = -1
			go func() {
				resp, err := vc.http.Do(req)
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					err = fmt.Errorf("%s answered %d %s before the kill", method, resp.StatusCode, b)
				}
				pr.CloseWithError(io.ErrClosedPipe)
				s.answered <- err
			}()
			go func() {
				if _, err := io.Copy(pw, first); err == nil {
					close(s.sent)
				}
			}()
			return s
		}
		blobUpload := start("PATCH", loc.String(), map[string]string{"Content-Type": "application/octet-stream"},
			io.LimitReader(newStream(seed, size), killAfter))
		chartUpload := start("POST", repoAPI("team", "charts"), map[string]string{"Content-Type": "application/gzip"},
			bytes.NewReader(halfArchive[:len(halfArchive)/2]))
		for _, s := range []stalled{blobUpload, chartUpload} {
			select {
			case <-s.sent:
			case err := <-s.answered:
				t.Fatalf("an upload ended before the kill: %v", err)
			case <-time.After(2 * time.Minute):
				t.Fatal("the uploads did not reach the kill point within 2 minutes")
			}
		}
		time.Sleep(300 * time.Millisecond) // let the replica write some of it
		victim.Kill()
		c.lb.set(c.replicas[0], c.replicas[1]) // the balancer's health check takes it out
		for _, s := range []stalled{blobUpload, chartUpload} {
			s.pw.CloseWithError(errors.New("the replica was killed"))
			if err := <-s.answered; err == nil || strings.Contains(err.Error(), "before the kill") {
				t.Fatalf("an interrupted upload: %v", err)
			}
		}

		for i := 0; i < 2; i++ {
			rc := c.client(i)
			if b := repoGet(t, rc, "/readyz", http.StatusOK); len(b) == 0 {
				t.Fatalf("replica %d: empty /readyz", i+1)
			}
			if status, err := rc.headBlob(blobRepo, full); err != nil || status != http.StatusNotFound {
				t.Errorf("replica %d: HEAD of the interrupted blob = %d, %v; want 404", i+1, status, err)
			}
			repos, err := rc.catalog()
			if err != nil || slices.Contains(repos, blobRepo) || slices.Contains(repos, "team/killed") {
				t.Errorf("replica %d: catalog %v (%v) lists a repository no push completed in", i+1, repos, err)
			}
			if tags, err := rc.tags("team/killed"); err != nil || len(tags) > 0 {
				t.Errorf("replica %d: tags of team/killed %v, %v; want none", i+1, tags, err)
			}
			body, _ := replicaIndex(t, rc, "team")
			if strings.Contains(body, "killed") {
				t.Errorf("replica %d's index lists the interrupted upload:\n%s", i+1, body)
			}
		}
		if p := c.s3.object(c.bucket, blobKey(c.prefix, full)); p != "" {
			t.Errorf("the interrupted blob is in the bucket at %s", p)
		}
		c.sameIndexEverywhere(t, "team")

		// The survivors take new work, the same chart and blob included.
		if status, body, err := apiUpload(0, halfArchive); err != nil || status != http.StatusCreated {
			t.Fatalf("upload the interrupted chart to replica 1: %v %d %s", err, status, body)
		}
		if got := repoGet(t, c.client(1), "/team/charts/killed-1.0.0.tgz", http.StatusOK); !bytes.Equal(got, halfArchive) {
			t.Fatal("replica 2 serves other bytes than uploaded to replica 1")
		}
		// The killed replica's upload session lives in the bucket: replica 2 says how much of
		// the interrupted PATCH it holds, and the client finishes the blob there from that point.
		rc := c.client(1)
		resp, body, err := rc.do("GET", c.replicas[1].URL(loc.RequestURI()), nil, nil)
		if err != nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("GET the killed replica's upload on replica 2: %v %v %s; want 204", err, resp, body)
		}
		var end int64
		if _, err := fmt.Sscanf(resp.Header.Get("Range"), "0-%d", &end); err != nil {
			t.Fatalf("Range %q: %v", resp.Header.Get("Range"), err)
		}
		offset := end + 1
		if end == 0 {
			offset = 0 // "0-0" is what an empty upload answers
		}
		if offset > killAfter {
			t.Fatalf("the upload holds %d bytes, more than the %d sent", offset, killAfter)
		}
		t.Logf("the killed replica's upload holds %d of the %d bytes sent", offset, killAfter)
		rest := newStream(seed, size)
		io.CopyN(io.Discard, rest, offset)
		u, _ := url.Parse(withDigest(loc, full))
		req, err := rc.request(context.Background(), "PUT", c.replicas[1].URL(u.RequestURI()), rest)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = size - offset
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", offset, size-1))
		resp, err = rc.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("finish the killed replica's upload on replica 2: %d %s", resp.StatusCode, body)
		}
		if status, err := c.client(0).headBlob(blobRepo, full); err != nil || status != http.StatusOK {
			t.Fatalf("replica 1: HEAD of the blob uploaded to replica 2 = %d, %v", status, err)
		}

		// And the killed replica, restarted, serves all of it.
		victim.Restart()
		c.lb.set(c.replicas...)
		c.sameIndexEverywhere(t, "team")
		if status, err := c.client(2).headBlob(blobRepo, full); err != nil || status != http.StatusOK {
			t.Fatalf("restarted replica 3: HEAD of the blob = %d, %v", status, err)
		}
	})
}
