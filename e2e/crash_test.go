package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stream is a reproducible pseudo-random byte stream of a given size: the same seed gives
// the same bytes, so a large blob's digest is known without holding it in memory.
type stream struct {
	rng  *rand.ChaCha8
	left int64
}

func newStream(seed byte, size int64) *stream {
	var s [32]byte
	s[0] = seed
	return &stream{rng: rand.NewChaCha8(s), left: size}
}

func (s *stream) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, _ := s.rng.Read(p)
	s.left -= int64(n)
	return n, nil
}

func streamDigest(seed byte, size int64) string {
	h := sha256.New()
	io.Copy(h, newStream(seed, size))
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// TestCrashDuringBlobUpload kills the server (SIGKILL) in the middle of a large streamed
// chunk and checks after a restart that nothing of it is visible, that what was pushed
// before is intact, and that the same blob can then be uploaded whole.
func TestCrashDuringBlobUpload(t *testing.T) {
	t.Parallel()
	srv := StartServer(t)
	c := adminClient(srv)

	base := newImage("team/crash/base", "v1", 256<<10)
	if err := c.push(base); err != nil {
		t.Fatalf("push before the crash: %v", err)
	}

	const (
		repo      = "team/crash/big"
		seed      = 7
		size      = 96 << 20
		killAfter = 24 << 20
	)
	full := streamDigest(seed, size)
	upload, err := c.startUpload(repo)
	if err != nil {
		t.Fatal(err)
	}

	pr, pw := io.Pipe()
	req, err := c.request(t.Context(), "PATCH", upload.String(), pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.ContentLength = -1 // chunked: the server cannot know where the blob ends
	answered := make(chan error, 1)
	go func() {
		resp, err := c.http.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			err = fmt.Errorf("PATCH answered %d %s before the crash", resp.StatusCode, b)
		}
		pr.CloseWithError(io.ErrClosedPipe)
		answered <- err
	}()
	// Send killAfter bytes, then hold the rest back: the server waits for more of the chunk
	// when it dies.
	halfway := make(chan struct{})
	go func() {
		if _, err := io.Copy(pw, io.LimitReader(newStream(seed, size), killAfter)); err == nil {
			close(halfway)
		}
	}()
	select {
	case <-halfway:
	case err := <-answered:
		t.Fatalf("upload ended before the kill: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("the upload did not reach the kill point within 2 minutes")
	}
	time.Sleep(200 * time.Millisecond) // let the server write some of it
	srv.Kill()
	pw.CloseWithError(errors.New("the server was killed")) // unblocks the transport's body writer
	if err := <-answered; err == nil || strings.Contains(err.Error(), "before the crash") {
		t.Fatalf("the interrupted PATCH: %v", err)
	}

	srv.Restart()
	c = adminClient(srv)
	if status, err := c.headBlob(repo, full); err != nil || status != http.StatusNotFound {
		t.Errorf("HEAD of the interrupted blob after restart = %d, %v; want 404", status, err)
	}
	repos, err := c.catalog()
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(repos, repo) {
		t.Errorf("catalog %v lists %s, which never completed a push", repos, repo)
	}
	if !slices.Contains(repos, base.repo) {
		t.Errorf("catalog %v lacks %s, pushed before the crash", repos, base.repo)
	}
	if err := c.verify(base); err != nil {
		t.Errorf("content pushed before the crash: %v", err)
	}

	t.Log("the same blob uploads whole after the restart")
	upload, err = c.startUpload(repo)
	if err != nil {
		t.Fatal(err)
	}
	req, err = c.request(t.Context(), "PATCH", upload.String(), newStream(seed, size))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH after restart = %d", resp.StatusCode)
	}
	next, err := location(resp)
	if err != nil {
		t.Fatal(err)
	}
	resp2, body, err := c.do("PUT", withDigest(next, full), nil, nil)
	if err != nil || resp2.StatusCode != http.StatusCreated {
		t.Fatalf("PUT to finish the upload = %v, %v %s", err, resp2.StatusCode, body)
	}
	req, _ = c.request(t.Context(), "GET", "/v2/"+repo+"/blobs/"+full, nil)
	resp, err = c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || n != size || "sha256:"+hex.EncodeToString(h.Sum(nil)) != full {
		t.Fatalf("GET of the re-uploaded blob: %d, %d bytes, %v; want 200, %d bytes hashing to %s", resp.StatusCode, n, err, size, full)
	}
}

// TestCrashDuringManifestPushes kills the server (SIGKILL) while several clients push images
// concurrently, restarts it, and checks that every push that succeeded pulls intact, that
// catalog and tags list only pushes that completed (whether or not the client saw the
// answer), and that every listed image is whole.
func TestCrashDuringManifestPushes(t *testing.T) {
	t.Parallel()
	srv := StartServer(t)
	c := adminClient(srv)

	const (
		workers   = 8
		repos     = 4
		killAfter = 30 // successful pushes before the kill
	)
	var (
		mu        sync.Mutex
		attempted = map[string]*image{} // by repo:tag
		succeeded []*image
		next      atomic.Int64
		enough    = make(chan struct{})
		once      sync.Once
		wg        sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				img := newImage(fmt.Sprintf("team/crash/m%d", i%repos), fmt.Sprintf("t%04d", i), 16<<10+int(i%7)*1000)
				mu.Lock()
				attempted[img.repo+":"+img.tag] = img
				mu.Unlock()
				if err := c.push(img); err != nil {
					return // the server is gone
				}
				mu.Lock()
				succeeded = append(succeeded, img)
				if len(succeeded) >= killAfter {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-enough:
	case <-time.After(3 * time.Minute):
		t.Fatalf("fewer than %d pushes succeeded in 3 minutes", killAfter)
	}
	srv.Kill()
	wg.Wait()
	t.Logf("killed after %d successful pushes, %d attempted", len(succeeded), len(attempted))

	srv.Restart()
	c = adminClient(srv)
	for _, img := range succeeded {
		if err := c.verify(img); err != nil {
			t.Errorf("a push that succeeded before the crash: %v", err)
		}
	}

	catalog, err := c.catalog()
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, repo := range catalog {
		if !strings.HasPrefix(repo, "team/crash/m") {
			t.Errorf("catalog lists %s, never pushed to", repo)
			continue
		}
		tags, err := c.tags(repo)
		if err != nil {
			t.Fatal(err)
		}
		if len(tags) == 0 {
			t.Errorf("catalog lists %s, which has no tags: a repository without a completed push", repo)
		}
		for _, tag := range tags {
			img := attempted[repo+":"+tag]
			if img == nil {
				t.Errorf("%s lists tag %s, never pushed", repo, tag)
				continue
			}
			listed[repo+":"+tag] = true
			if err := c.verify(img); err != nil {
				t.Errorf("listed after the crash but not intact: %v", err)
			}
		}
	}
	for _, img := range succeeded {
		if !listed[img.repo+":"+img.tag] {
			t.Errorf("%s:%s succeeded before the crash but is not listed", img.repo, img.tag)
		}
	}
	// Attempts that did not complete are not reachable by tag either.
	for key, img := range attempted {
		if listed[key] {
			continue
		}
		status, _, _, err := c.getManifest(img.repo, img.tag)
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusNotFound {
			t.Errorf("GET manifest %s = %d, but its tag is not listed; want 404", key, status)
		}
	}

	t.Log("pushes work after the restart")
	img := newImage("team/crash/m0", "after-restart", 4<<10)
	if err := c.push(img); err != nil {
		t.Fatal(err)
	}
	if err := c.verify(img); err != nil {
		t.Fatal(err)
	}
}
