package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/blob"
	"github.com/chartroom/chartroom/internal/blob/blobtest"
	blobs3 "github.com/chartroom/chartroom/internal/blob/s3"
	"github.com/chartroom/chartroom/internal/blob/s3/s3test"
)

// TestContract runs the shared blob store suite on a real S3-compatible server, each store
// under a prefix of its own in one bucket.
func TestContract(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	n := 0
	blobtest.Run(t, func(t *testing.T, prefix string, now func() time.Time) (blob.Store, string) {
		if prefix == "" {
			n++
			prefix = "contract/" + strings.ReplaceAll(t.Name(), "/", "_") + "-" + string(rune('a'+n%26))
		}
		return srv.Store(t, bucket, prefix, blobs3.Options{Now: now, PartSize: blobs3.MinPartSize}), prefix
	})
}

// random returns n random bytes.
func random(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func readBlob(t *testing.T, s blob.Store, d digest.Digest, offset int64) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), d, offset)
	if err != nil {
		t.Fatalf("open %s at %d: %v", d, offset, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", d, err)
	}
	return b
}

// TestPartThresholds: blobs on each side of the part size, written whole (Put) and as a
// resumable upload in odd chunks whose every chunk goes to another store instance (another
// replica) than the one before, come back byte for byte; nothing of the upload is left.
func TestPartThresholds(t *testing.T) {
	const mib = 1 << 20
	ctx := context.Background()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	opts := blobs3.Options{PartSize: blobs3.MinPartSize}
	replicas := []blob.Store{srv.Store(t, bucket, "p", opts), srv.Store(t, bucket, "p", opts)}
	sizes := []struct {
		name string
		size int
	}{{"0 bytes", 0}, {"1 byte", 1}, {"5 MiB-1", 5*mib - 1}, {"5 MiB", 5 * mib}, {"5 MiB+1", 5*mib + 1}, {"12 MiB", 12 * mib}}
	// Odd chunk sizes: below, across and beyond part boundaries.
	chunks := []int{1, 3*mib + 7, 333, 2 * mib, 5*mib + 3, 17}
	for _, tc := range sizes {
		data := random(t, tc.size)
		d := digest.FromBytes(data)
		t.Run("put "+tc.name, func(t *testing.T) {
			s := replicas[0]
			if _, err := s.Put(ctx, d, int64(len(data)), bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			if info, err := replicas[1].Stat(ctx, d); err != nil || info.Size != int64(len(data)) {
				t.Fatalf("stat: %+v %v", info, err)
			}
			if got := readBlob(t, replicas[1], d, 0); !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes, want %d", len(got), len(data))
			}
			if err := s.Delete(ctx, d); err != nil {
				t.Fatal(err)
			}
		})
		for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
			d := alg.FromBytes(data)
			t.Run("chunked upload on two replicas "+tc.name+" "+string(alg), func(t *testing.T) {
				id := strings.NewReplacer(" ", "", "+", "plus", "-", "minus").Replace("thresholds-"+tc.name) + "-" + string(alg)
				if err := replicas[0].CreateUpload(ctx, id, "alice"); err != nil {
					t.Fatal(err)
				}
				off, i := 0, 0
				for off < len(data) {
					n := min(chunks[i%len(chunks)], len(data)-off)
					s := replicas[(i+1)%2]
					size, err := s.AppendUpload(ctx, id, int64(off), bytes.NewReader(data[off:off+n]))
					if err != nil || size != int64(off+n) {
						t.Fatalf("append %d bytes at %d: %d %v", n, off, size, err)
					}
					off += n
					i++
				}
				if size, err := replicas[i%2].UploadSize(ctx, id); err != nil || size != int64(len(data)) {
					t.Fatalf("size: %d %v", size, err)
				}
				info, err := replicas[(i+1)%2].CommitUpload(ctx, id, d)
				if err != nil || info.Size != int64(len(data)) {
					t.Fatalf("commit: %+v %v", info, err)
				}
				if got := readBlob(t, replicas[i%2], d, 0); !bytes.Equal(got, data) {
					t.Fatalf("read back %d bytes, want %d", len(got), len(data))
				}
				if left := srv.Objects(t, bucket, "p/uploads/"); len(left) != 0 {
					t.Errorf("the committed upload left %v", left)
				}
				if left := srv.MultipartUploads(t, bucket); len(left) != 0 {
					t.Errorf("multipart uploads left: %v", left)
				}
			})
		}
	}
}

// TestPutMultipartMismatch: a multipart Put whose bytes are not the digest's (or the size's)
// stores nothing and leaves no multipart upload behind.
func TestPutMultipartMismatch(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	s := srv.Store(t, bucket, "", blobs3.Options{PartSize: blobs3.MinPartSize})
	data := random(t, 11<<20)
	other := digest.FromString("other")
	if _, err := s.Put(ctx, other, -1, bytes.NewReader(data)); !errors.Is(err, blob.ErrDigestMismatch) {
		t.Fatalf("wrong digest: %v", err)
	}
	d := digest.FromBytes(data)
	if _, err := s.Put(ctx, d, 6<<20, bytes.NewReader(data)); !errors.Is(err, blob.ErrSizeMismatch) {
		t.Fatalf("wrong size: %v", err)
	}
	for _, x := range []digest.Digest{other, d} {
		if _, err := s.Stat(ctx, x); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("stat %s: %v", x, err)
		}
	}
	if left := srv.MultipartUploads(t, bucket); len(left) != 0 {
		t.Errorf("multipart uploads left: %v", left)
	}
	if left := srv.Objects(t, bucket, ""); len(left) != 0 {
		t.Errorf("objects left: %v", left)
	}
}

// TestConcurrentAppendsOneWins: two replicas appending at the same offset of one upload at
// once: one append counts, the other fails without effect, and the upload commits to the
// winner's bytes.
func TestConcurrentAppendsOneWins(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	opts := blobs3.Options{PartSize: blobs3.MinPartSize}
	a, b := srv.Store(t, bucket, "", opts), srv.Store(t, bucket, "", opts)
	if err := a.CreateUpload(ctx, "race", "alice"); err != nil {
		t.Fatal(err)
	}
	chunks := [][]byte{random(t, 6<<20), random(t, 6<<20)}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range []blob.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.AppendUpload(ctx, "race", 0, bytes.NewReader(chunks[i]))
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil:
			won = i
		case !errors.Is(err, blob.ErrUploadOffset):
			t.Fatalf("append %d: %v, want success or ErrUploadOffset", i, err)
		}
	}
	if won < 0 || errs[1-won] == nil {
		t.Fatalf("appends: %v; want exactly one to succeed", errs)
	}
	if size, err := b.UploadSize(ctx, "race"); err != nil || size != int64(len(chunks[won])) {
		t.Fatalf("size %d %v", size, err)
	}
	d := digest.FromBytes(chunks[won])
	if _, err := a.CommitUpload(ctx, "race", d); err != nil {
		t.Fatal(err)
	}
	if got := readBlob(t, b, d, 0); !bytes.Equal(got, chunks[won]) {
		t.Fatal("the committed blob is not the winner's bytes")
	}
}

// TestOpenRanges: Open at an offset, and seeks on the reader (the blob handler's ranges).
func TestOpenRanges(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	s := srv.Store(t, srv.NewBucket(t), "x", blobs3.Options{})
	data := []byte("0123456789abcdef")
	d := digest.FromBytes(data)
	if _, err := s.Put(ctx, d, -1, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if got := readBlob(t, s, d, 10); string(got) != "abcdef" {
		t.Fatalf("at 10: %q", got)
	}
	if got := readBlob(t, s, d, 16); len(got) != 0 {
		t.Fatalf("at the end: %q", got)
	}
	if _, err := s.Open(ctx, d, 17); err == nil {
		t.Fatal("open past the end succeeded")
	}
	rc, err := s.Open(ctx, d, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := rc.(io.Seeker).Seek(4, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(io.LimitReader(rc, 3))
	if string(got) != "456" {
		t.Fatalf("after seek to 4: %q", got)
	}
	if _, err := s.Open(ctx, digest.FromString("absent"), 0); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("open of a missing blob: %v", err)
	}
}

// TestPresignGet: the presigned URL serves the blob to a client without credentials.
func TestPresignGet(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	s := srv.Store(t, srv.NewBucket(t), "", blobs3.Options{})
	data := []byte("served by the object store itself")
	d := digest.FromBytes(data)
	if _, err := s.Put(ctx, d, -1, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	u, err := s.PresignGet(ctx, d, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
		t.Fatalf("GET presigned: %s %q", resp.Status, got)
	}
	// Without the signature the object is not readable.
	resp, err = http.Get(strings.Split(u, "?")[0])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatal("the object is readable without a signature")
	}
}

// TestExpireRemovesMultipartUploads: expiring an idle upload that holds parts aborts its
// multipart upload and removes every object of it; a writable probe leaves nothing.
func TestExpireRemovesMultipartUploads(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	clock := blobtest.NewClock(time.Now())
	s := srv.Store(t, bucket, "pre", blobs3.Options{PartSize: blobs3.MinPartSize, Now: clock.Now})
	if err := s.CreateUpload(ctx, "idle", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendUpload(ctx, "idle", 0, bytes.NewReader(random(t, 7<<20))); err != nil {
		t.Fatal(err)
	}
	if len(srv.MultipartUploads(t, bucket)) != 1 {
		t.Fatal("no multipart upload after a part-sized append")
	}
	if err := s.CheckWritable(ctx); err != nil {
		t.Fatal(err)
	}
	if has, err := s.HasBlobs(ctx); err != nil || has {
		t.Fatalf("HasBlobs of a store without blobs: %v %v", has, err)
	}
	clock.Advance(2 * time.Hour)
	if n, err := s.ExpireUploads(ctx, time.Hour); err != nil || n != 1 {
		t.Fatalf("expire: %d %v", n, err)
	}
	if left := srv.MultipartUploads(t, bucket); len(left) != 0 {
		t.Errorf("multipart uploads left: %v", left)
	}
	if left := srv.Objects(t, bucket, ""); len(left) != 0 {
		t.Errorf("objects left: %v", left)
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want blobs3.Config
		err  string
	}{
		{url: "s3://charts", want: blobs3.Config{Bucket: "charts"}},
		{url: "s3://charts/team/prod/?region=eu-west-1", want: blobs3.Config{Bucket: "charts", Prefix: "team/prod", Region: "eu-west-1"}},
		{url: "s3://charts/x?endpoint=http://127.0.0.1:7070/&path-style=true", want: blobs3.Config{Bucket: "charts", Prefix: "x", Endpoint: "http://127.0.0.1:7070", PathStyle: true}},
		{url: "https://charts", err: "unsupported scheme"},
		{url: "s3:///prefix", err: "names no bucket"},
		{url: "s3://Charts", err: "not a bucket name"},
		{url: "s3://127.0.0.1:7070/bucket", err: "not a bucket name"},
		{url: "s3://key:hunter2@charts", err: "credentials do not belong"},
		{url: "s3://charts?endpoint=minio:9000", err: "not an http(s) base URL"},
		{url: "s3://charts?path-style=yes", err: "expected true or false"},
		{url: "s3://charts?bucket=x", err: "unknown parameter bucket"},
		{url: "s3://charts/a/../b", err: "not \".\" or \"..\""},
		{url: "s3://charts/a//b", err: "non-empty"},
		{url: "s3://charts?region=", err: "not a region"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			got, err := blobs3.ParseURL(tc.url)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one saying %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("the error repeats the secret: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v %v, want %+v", got, err, tc.want)
			}
		})
	}
}

func TestCredentials(t *testing.T) {
	env := map[string]string{"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK", "AWS_DEFAULT_REGION": "eu-central-1"}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	c := blobs3.Config{Bucket: "b"}.FromEnv(getenv)
	if c.AccessKeyID != "AK" || c.SecretAccessKey != "SK" || c.Region != "eu-central-1" {
		t.Fatalf("from the environment: %+v", c)
	}
	own := blobs3.Config{Bucket: "b", AccessKeyID: "mine", SecretAccessKey: "s", Region: "us-west-2"}.FromEnv(getenv)
	if own.AccessKeyID != "mine" || own.SecretAccessKey != "s" || own.Region != "us-west-2" {
		t.Fatalf("configured credentials replaced: %+v", own)
	}
	none := blobs3.Config{Bucket: "b"}.FromEnv(func(string) (string, bool) { return "", false })
	if none.Region != "us-east-1" {
		t.Fatalf("default region %q", none.Region)
	}
	if _, err := blobs3.New(none, blobs3.Options{}); !errors.Is(err, blobs3.ErrNoCredentials) || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("no credentials: %v", err)
	}
}
