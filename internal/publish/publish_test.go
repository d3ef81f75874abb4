package publish_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	blobs3 "github.com/chartroom/chartroom/internal/blob/s3"
	"github.com/chartroom/chartroom/internal/blob/s3/s3test"
	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/publish"
	"github.com/chartroom/chartroom/internal/safeyaml"
	"github.com/chartroom/chartroom/internal/staticindex"
)

// fixed is the clock of every publisher of these tests, so that indexes compare byte for byte.
var fixed = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// repo is a bucket on a real versitygw and a way to open publishers on it.
type repo struct {
	t      *testing.T
	srv    *s3test.Server
	bucket string
	prefix string
}

func newRepo(t *testing.T) *repo {
	srv := s3test.Start(t)
	return &repo{t: t, srv: srv, bucket: srv.NewBucket(t), prefix: "charts/stable"}
}

// open returns a publisher; hook, when not nil, runs before each request it sends.
func (r *repo) open(hook func(*http.Request)) *publish.Bucket {
	r.t.Helper()
	opts := publish.Options{Now: func() time.Time { return fixed }, Backoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond}
	if hook != nil {
		opts.HTTPClient = &http.Client{Transport: hookTransport{hook}}
	}
	b, err := publish.Open(r.srv.Config(r.bucket, r.prefix), opts)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

type hookTransport struct{ hook func(*http.Request) }

func (h hookTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	h.hook(req)
	return http.DefaultTransport.RoundTrip(req)
}

// get reads an object; nil when there is none.
func (r *repo) get(name string) []byte {
	r.t.Helper()
	key := r.prefix + "/" + name
	out, err := r.srv.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: &r.bucket, Key: &key})
	if blobs3.IsNotFound(err) {
		return nil
	}
	if err != nil {
		r.t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

func (r *repo) put(name string, data []byte) {
	r.t.Helper()
	key := r.prefix + "/" + name
	if _, err := r.srv.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: &r.bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
		r.t.Fatal(err)
	}
}

// archive writes a chart archive <name>-<version>.tgz into dir and returns its path.
func archive(t *testing.T, dir, name, version, note string) string {
	t.Helper()
	p := filepath.Join(dir, name+"-"+version+".tgz")
	if err := os.WriteFile(p, charttest.Archive(t, name, version, note), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// indexOf builds the index chartroom index writes for these archives (with the tests' clock).
func indexOf(t *testing.T, archives ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	for _, a := range archives {
		data, err := os.ReadFile(a)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(filepath.Dir(filepath.Dir(a)), a)
		if !strings.HasPrefix(filepath.Base(filepath.Dir(a)), "sub") {
			rel = filepath.Base(a)
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rel), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ix, err := staticindex.Build(context.Background(), dir, staticindex.Options{Now: fixed})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := ix.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// versions lists name@version@digest of an index.
func versions(t *testing.T, index []byte) map[string]string {
	t.Helper()
	var f struct {
		Entries map[string][]struct {
			Version string   `json:"version"`
			Digest  string   `json:"digest"`
			URLs    []string `json:"urls"`
		} `json:"entries"`
	}
	if err := safeyaml.Unmarshal(index, &f); err != nil {
		t.Fatalf("index: %v\n%s", err, index)
	}
	out := map[string]string{}
	for name, vs := range f.Entries {
		for _, v := range vs {
			out[name+"@"+v.Version] = v.Digest
			if len(v.URLs) != 1 || v.URLs[0] != name+"-"+v.Version+".tgz" {
				t.Errorf("%s %s: urls %v; want the relative [%s-%s.tgz]", name, v.Version, v.URLs, name, v.Version)
			}
		}
	}
	return out
}

func sha(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestServerHonoursConditionalWrites: the guarantees Publish rests on, checked on the real
// server: a PUT with If-None-Match: * fails on an existing key, a PUT with If-Match on a
// stale ETag fails, each without effect, and a PUT with If-Match on the current ETag works.
func TestServerHonoursConditionalWrites(t *testing.T) {
	r := newRepo(t)
	c := r.srv.Client()
	ctx := context.Background()
	key := r.prefix + "/index.yaml"
	put := func(body string, mod func(*s3.PutObjectInput)) (string, error) {
		in := &s3.PutObjectInput{Bucket: &r.bucket, Key: &key, Body: strings.NewReader(body)}
		mod(in)
		out, err := c.PutObject(ctx, in)
		if err != nil {
			return "", err
		}
		return aws.ToString(out.ETag), nil
	}
	first, err := put("one", func(in *s3.PutObjectInput) { in.IfNoneMatch = aws.String("*") })
	if err != nil {
		t.Fatalf("If-None-Match: * on a new key: %v", err)
	}
	if _, err := put("two", func(in *s3.PutObjectInput) { in.IfNoneMatch = aws.String("*") }); !blobs3.IsPreconditionFailed(err) {
		t.Fatalf("If-None-Match: * on an existing key: %v; want 412 Precondition Failed", err)
	}
	second, err := put("three", func(in *s3.PutObjectInput) { in.IfMatch = aws.String(first) })
	if err != nil {
		t.Fatalf("If-Match on the current ETag: %v", err)
	}
	if _, err := put("four", func(in *s3.PutObjectInput) { in.IfMatch = aws.String(first) }); !blobs3.IsPreconditionFailed(err) {
		t.Fatalf("If-Match on a stale ETag: %v; want 412 Precondition Failed", err)
	}
	if got := string(r.get("index.yaml")); got != "three" {
		t.Fatalf("the object holds %q; want %q (the failed writes must have no effect)", got, "three")
	}
	if first == second {
		t.Fatalf("two contents, one ETag %s", first)
	}
}

// TestPublish: the first publish creates the index, the next adds to it; the index is what
// chartroom index writes for the archives, URLs relative; archives and .prov in the bucket.
func TestPublish(t *testing.T) {
	r := newRepo(t)
	dir := t.TempDir()
	a1 := archive(t, dir, "web", "1.0.0", "a")
	a2 := archive(t, dir, "web", "1.1.0", "b")
	data2, _ := os.ReadFile(a2)
	prov := charttest.NewSigner(t, "Publisher").Sign(t, data2, "web-1.1.0.tgz")
	if err := os.WriteFile(a2+".prov", prov, 0o644); err != nil {
		t.Fatal(err)
	}
	b := r.open(nil)
	res, err := b.Publish(context.Background(), []string{a1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Charts) != 1 || res.Charts[0].Status != publish.Published || res.Attempts != 1 || res.Charts[0].Prov {
		t.Fatalf("first publish: %+v", res)
	}
	if got, want := r.get("index.yaml"), indexOf(t, a1); !bytes.Equal(got, want) {
		t.Fatalf("index after the first publish:\n%s\nwant chartroom index's:\n%s", got, want)
	}
	res, err = b.Publish(context.Background(), []string{a2})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Charts) != 1 || res.Charts[0].Status != publish.Published || !res.Charts[0].Prov ||
		res.Charts[0].URL != "s3://"+r.bucket+"/charts/stable/web-1.1.0.tgz" {
		t.Fatalf("second publish: %+v", res)
	}
	if got, want := r.get("index.yaml"), indexOf(t, a1, a2); !bytes.Equal(got, want) {
		t.Fatalf("index after the second publish:\n%s\nwant chartroom index's:\n%s", got, want)
	}
	if !bytes.Equal(r.get("web-1.1.0.tgz"), data2) || !bytes.Equal(r.get("web-1.1.0.tgz.prov"), prov) {
		t.Fatal("the archive or its .prov in the bucket differs from the file")
	}
	if r.get("web-1.0.0.tgz.prov") != nil {
		t.Fatal("a .prov was written for an archive without one")
	}
}

// TestPublishAgain: the same bytes again are "already published" and change nothing; other
// bytes under a published version are refused, whether the index lists the version or only
// its key holds an archive, and nothing changes.
func TestPublishAgain(t *testing.T) {
	r := newRepo(t)
	dir, other := t.TempDir(), t.TempDir()
	a := archive(t, dir, "web", "1.0.0", "a")
	b := r.open(nil)
	if _, err := b.Publish(context.Background(), []string{a}); err != nil {
		t.Fatal(err)
	}
	index := r.get("index.yaml")

	res, err := b.Publish(context.Background(), []string{a})
	if err != nil {
		t.Fatalf("the same bytes again: %v", err)
	}
	if res.Charts[0].Status != publish.AlreadyPublished || res.Attempts != 0 {
		t.Fatalf("the same bytes again: %+v; want already published, no index write", res)
	}

	changed := archive(t, other, "web", "1.0.0", "other bytes")
	_, err = b.Publish(context.Background(), []string{changed})
	if !errors.Is(err, publish.ErrImmutable) || !strings.Contains(err.Error(), "bump the chart's version") {
		t.Fatalf("other bytes under a listed version: %v; want ErrImmutable", err)
	}
	if !bytes.Equal(r.get("web-1.0.0.tgz"), mustRead(t, a)) || !bytes.Equal(r.get("index.yaml"), index) {
		t.Fatal("a refused publish changed the bucket")
	}

	// An archive whose publish stopped before the index (its key taken, not listed).
	r.put("web-2.0.0.tgz", charttest.Archive(t, "web", "2.0.0", "first"))
	_, err = b.Publish(context.Background(), []string{archive(t, other, "web", "2.0.0", "second")})
	if !errors.Is(err, publish.ErrImmutable) || !strings.Contains(err.Error(), "holds other bytes") {
		t.Fatalf("other bytes under a taken key: %v; want ErrImmutable", err)
	}
	if !bytes.Equal(r.get("index.yaml"), index) {
		t.Fatal("a refused publish changed the index")
	}
	// The same bytes as the stranded archive complete its publish.
	stranded := filepath.Join(t.TempDir(), "web-2.0.0.tgz")
	if err := os.WriteFile(stranded, r.get("web-2.0.0.tgz"), 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := b.Publish(context.Background(), []string{stranded}); err != nil || res.Charts[0].Status != publish.Published {
		t.Fatalf("publishing the stranded archive's bytes: %+v, %v", res, err)
	}
	if v := versions(t, r.get("index.yaml")); len(v) != 2 || v["web@2.0.0"] != sha(t, stranded) {
		t.Fatalf("index versions %v", v)
	}
}

// TestPublishRefusesBadInput: what is not a publishable archive is refused before anything
// is written.
func TestPublishRefusesBadInput(t *testing.T) {
	r := newRepo(t)
	dir := t.TempDir()
	good := archive(t, dir, "web", "1.0.0", "a")
	renamed := filepath.Join(dir, "web.tgz")
	if err := os.WriteFile(renamed, mustRead(t, good), 0o644); err != nil {
		t.Fatal(err)
	}
	notChart := filepath.Join(dir, "junk-1.0.0.tgz")
	if err := os.WriteFile(notChart, []byte("not gzip"), 0o644); err != nil {
		t.Fatal(err)
	}
	badProvDir := t.TempDir()
	badProv := archive(t, badProvDir, "web", "1.0.0", "a")
	otherBytes := charttest.Archive(t, "web", "1.0.0", "b")
	if err := os.WriteFile(badProv+".prov", charttest.NewSigner(t, "P").Sign(t, otherBytes, "web-1.0.0.tgz"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := r.open(nil)
	for _, tc := range []struct {
		name     string
		archives []string
		want     string
	}{
		{"file name", []string{renamed}, "its file name must be web-1.0.0.tgz"},
		{"not a chart", []string{good, notChart}, "is not a chart archive helm would index"},
		{".prov for other bytes", []string{badProv}, "sign this archive again"},
		{"missing", []string{filepath.Join(dir, "none-1.0.0.tgz")}, "no such file"},
		{"twice", []string{good, badProv}, "have the same name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.Publish(context.Background(), tc.archives)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v; want an error saying %q", err, tc.want)
			}
			if objs := r.srv.Objects(t, r.bucket, ""); len(objs) != 0 {
				t.Fatalf("a refused publish wrote %v", objs)
			}
		})
	}

	r.put("index.yaml", []byte("apiVersion: v1\nentries:\n  web:\n  - name: web\n    version: not-semver\n    urls: [web-x.tgz]\n"))
	_, err := b.Publish(context.Background(), []string{good})
	if !errors.Is(err, publish.ErrBadIndex) || !strings.Contains(err.Error(), "--reindex") {
		t.Fatalf("an index with an entry helm drops: %v; want ErrBadIndex naming --reindex", err)
	}
}

// TestPublishRetriesOnConflict: another publisher changes the index between this one's read
// and its write; the conditional write fails, and the retry adds this entry to the other's.
func TestPublishRetriesOnConflict(t *testing.T) {
	r := newRepo(t)
	dir := t.TempDir()
	mine := archive(t, dir, "web", "1.0.0", "a")
	theirs := archive(t, dir, "api", "2.0.0", "b")
	other := r.open(nil)
	var once sync.Once
	b := r.open(func(req *http.Request) {
		if req.Method == http.MethodPut && strings.HasSuffix(req.URL.Path, "/index.yaml") {
			once.Do(func() {
				if _, err := other.Publish(context.Background(), []string{theirs}); err != nil {
					t.Errorf("the other publisher: %v", err)
				}
			})
		}
	})
	res, err := b.Publish(context.Background(), []string{mine})
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 {
		t.Fatalf("attempts %d; want 2 (the first write lost to the other publisher's)", res.Attempts)
	}
	v := versions(t, r.get("index.yaml"))
	if len(v) != 2 || v["web@1.0.0"] != sha(t, mine) || v["api@2.0.0"] != sha(t, theirs) {
		t.Fatalf("index versions %v; want both publishers' entries", v)
	}
	if got, want := r.get("index.yaml"), indexOf(t, mine, theirs); !bytes.Equal(got, want) {
		t.Fatalf("index:\n%s\nwant:\n%s", got, want)
	}
}

// TestPublishRaceOneVersion: two publishers of one version. With the same bytes, the one
// that loses the index race finds it listed: already published. With other bytes, the one
// that loses the archive race is refused, and the index lists the winner's bytes.
func TestPublishRaceOneVersion(t *testing.T) {
	r := newRepo(t)
	dir, dir2 := t.TempDir(), t.TempDir()
	a := archive(t, dir, "web", "1.0.0", "a")
	other := r.open(nil)
	var once sync.Once
	b := r.open(func(req *http.Request) {
		if req.Method == http.MethodPut && strings.HasSuffix(req.URL.Path, "/index.yaml") {
			once.Do(func() {
				if _, err := other.Publish(context.Background(), []string{a}); err != nil {
					t.Errorf("the other publisher: %v", err)
				}
			})
		}
	})
	res, err := b.Publish(context.Background(), []string{a})
	if err != nil {
		t.Fatal(err)
	}
	if res.Charts[0].Status != publish.AlreadyPublished || res.Attempts != 1 {
		t.Fatalf("same bytes, index race lost: %+v; want already published after one write", res)
	}

	mine := archive(t, dir, "web", "2.0.0", "mine")
	theirs := archive(t, dir2, "web", "2.0.0", "theirs")
	var once2 sync.Once
	b = r.open(func(req *http.Request) {
		if req.Method == http.MethodPut && strings.HasSuffix(req.URL.Path, "/web-2.0.0.tgz") {
			once2.Do(func() {
				if _, err := other.Publish(context.Background(), []string{theirs}); err != nil {
					t.Errorf("the other publisher: %v", err)
				}
			})
		}
	})
	_, err = b.Publish(context.Background(), []string{mine})
	if !errors.Is(err, publish.ErrImmutable) {
		t.Fatalf("other bytes, archive race lost: %v; want ErrImmutable", err)
	}
	if v := versions(t, r.get("index.yaml")); v["web@2.0.0"] != sha(t, theirs) {
		t.Fatalf("index lists web 2.0.0 as %s; want the winner's %s", v["web@2.0.0"], sha(t, theirs))
	}
}

// TestPublishConcurrent: 20 publishers at once, each its own client, one version each: the
// index ends with all 20.
func TestPublishConcurrent(t *testing.T) {
	r := newRepo(t)
	dir := t.TempDir()
	const n = 20
	var paths []string
	for i := range n {
		paths = append(paths, archive(t, dir, "web", fmt.Sprintf("1.0.%d", i), "x"))
	}
	var wg sync.WaitGroup
	attempts := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.open(nil).Publish(context.Background(), []string{paths[i]})
			if err != nil {
				t.Errorf("publisher %d: %v", i, err)
				return
			}
			attempts[i] = res.Attempts
		}()
	}
	wg.Wait()
	v := versions(t, r.get("index.yaml"))
	for i, p := range paths {
		if v[fmt.Sprintf("web@1.0.%d", i)] != sha(t, p) {
			t.Errorf("web 1.0.%d missing from the index", i)
		}
	}
	if len(v) != n {
		t.Fatalf("index has %d versions; want %d", len(v), n)
	}
	if got, want := r.get("index.yaml"), indexOf(t, paths...); !bytes.Equal(got, want) {
		t.Fatalf("index is not chartroom index's for the 20 archives:\n%s", got)
	}
	t.Logf("index writes per publisher: %v", attempts)
}

// TestReindex: the index rebuilt from the archives in the bucket (top level and one level
// of subdirectories, invalid ones skipped, entries without an archive dropped) is byte for
// byte chartroom index's for the same files; a publish that lands during the reindex is
// kept (the reindex starts over).
func TestReindex(t *testing.T) {
	r := newRepo(t)
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	a := archive(t, dir, "web", "1.0.0", "a")
	s := archive(t, sub, "api", "0.1.0", "s")
	late := archive(t, dir, "web", "3.0.0", "late")
	b := r.open(nil)
	if _, err := b.Publish(context.Background(), []string{archive(t, t.TempDir(), "gone", "1.0.0", "g")}); err != nil {
		t.Fatal(err)
	}
	// helm s3 push put these, with an index that knows nothing of them; gone's archive is deleted.
	r.put("web-1.0.0.tgz", mustRead(t, a))
	r.put("sub/api-0.1.0.tgz", mustRead(t, s))
	r.put("broken-1.0.0.tgz", []byte("not a chart"))
	r.put("deep/er/x-1.0.0.tgz", charttest.Archive(t, "x", "1.0.0", "too deep"))
	key := r.prefix + "/gone-1.0.0.tgz"
	if _, err := r.srv.Client().DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &r.bucket, Key: &key}); err != nil {
		t.Fatal(err)
	}

	var once sync.Once
	rb := r.open(func(req *http.Request) {
		if req.Method == http.MethodPut && strings.HasSuffix(req.URL.Path, "/index.yaml") {
			once.Do(func() {
				if _, err := b.Publish(context.Background(), []string{late}); err != nil {
					t.Errorf("the concurrent publish: %v", err)
				}
			})
		}
	})
	res, err := rb.Reindex(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 || res.Versions != 3 || len(res.Skipped) != 1 || res.Skipped[0].Path != "broken-1.0.0.tgz" {
		t.Fatalf("reindex: %+v", res)
	}
	if got, want := r.get("index.yaml"), indexOf(t, a, s, late); !bytes.Equal(got, want) {
		t.Fatalf("reindexed:\n%s\nwant chartroom index's:\n%s", got, want)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
