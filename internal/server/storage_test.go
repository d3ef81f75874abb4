package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/blob/s3/s3test"
)

// s3Config is a server configuration over a fresh data directory whose blobs are kept in
// bucket/prefix of srv.
func s3Config(t *testing.T, srv *s3test.Server, bucket, prefix string) Config {
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.AdminPassword = "test-password"
	cfg.Storage = srv.URL(bucket, prefix)
	cfg.StorageAccessKeyID, cfg.StorageSecretAccessKey = srv.AccessKey, srv.SecretKey
	return cfg
}

func startS3Server(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	s, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() { hs.Close(); s.Close() })
	return hs
}

func do(t *testing.T, client *http.Client, method, url string, body []byte, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", "test-password")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestServeOnS3 serves blobs from a bucket: a monolithic and a chunked OCI upload land in
// the bucket under the prefix (nothing under the data directory's blobs/), come back through
// the server, and, with StorageRedirect, by a 307 to a presigned URL of the bucket that a
// client without credentials follows. /readyz proves the bucket writable.
func TestServeOnS3(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	cfg := s3Config(t, srv, bucket, "reg")
	hs := startS3Server(t, cfg)
	small := []byte("a small layer")
	big := bytes.Repeat([]byte("0123456789abcdef"), (9<<20)/16) // 9 MiB: two parts
	ds, db := digest.FromBytes(small), digest.FromBytes(big)

	resp := do(t, http.DefaultClient, "POST", hs.URL+"/v2/team/app/blobs/uploads/?digest="+ds.String(), small)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("monolithic push: %s", resp.Status)
	}
	resp = do(t, http.DefaultClient, "POST", hs.URL+"/v2/team/app/blobs/uploads/", nil)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || loc == "" {
		t.Fatalf("start upload: %s", resp.Status)
	}
	if !strings.HasPrefix(loc, "http") {
		loc = hs.URL + loc
	}
	for off := 0; off < len(big); {
		n := min(3<<20+11, len(big)-off)
		resp = do(t, http.DefaultClient, "PATCH", loc, big[off:off+n], "Content-Type", "application/octet-stream",
			"Content-Range", rangeHeader(off, n))
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("PATCH at %d: %s", off, resp.Status)
		}
		loc = resp.Header.Get("Location")
		if !strings.HasPrefix(loc, "http") {
			loc = hs.URL + loc
		}
		off += n
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	resp = do(t, http.DefaultClient, "PUT", loc+sep+"digest="+db.String(), nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("finish chunked upload: %s", resp.Status)
	}
	keys := srv.Objects(t, bucket, "")
	for _, d := range []digest.Digest{ds, db} {
		want := "reg/blobs/sha256/" + d.Encoded()[:2] + "/" + d.Encoded()
		found := false
		for _, k := range keys {
			found = found || k == want
		}
		if !found {
			t.Errorf("%s is not in the bucket: %v", want, keys)
		}
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "reg/blobs/") {
			t.Errorf("the bucket holds %s besides blobs", k)
		}
	}
	if has, _ := filepathHasFiles(filepath.Join(cfg.DataDir, BlobsDir)); has {
		t.Error("blobs were written to the data directory")
	}
	check := func(t *testing.T, base string, client *http.Client, d digest.Digest, want []byte) *http.Response {
		t.Helper()
		resp := do(t, client, "GET", base+"/v2/team/app/blobs/"+d.String(), nil)
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
			t.Fatalf("GET %s: %s, %d bytes", d, resp.Status, len(got))
		}
		return resp
	}
	check(t, hs.URL, http.DefaultClient, ds, small)
	check(t, hs.URL, http.DefaultClient, db, big)
	if status, body, _ := get(t, hs.URL+"/readyz"); status != http.StatusOK {
		t.Fatalf("readyz: %d %s", status, body)
	}

	t.Run("redirect", func(t *testing.T) {
		cfg := s3Config(t, srv, bucket, "redir")
		cfg.StorageRedirect = true
		hs2 := startS3Server(t, cfg)
		resp := do(t, http.DefaultClient, "POST", hs2.URL+"/v2/team/app/blobs/uploads/?digest="+db.String(), big)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("push: %s", resp.Status)
		}
		// A client that follows redirects (with the registry's credentials, to another host
		// than the registry's: Go drops them) gets the bytes.
		check(t, strings.Replace(hs2.URL, "127.0.0.1", "localhost", 1), http.DefaultClient, db, big)
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp = do(t, noFollow, "GET", hs2.URL+"/v2/team/app/blobs/"+db.String(), nil)
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, srv.Endpoint+"/"+bucket+"/redir/blobs/") || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("GET with redirects: %s Location %q Cache-Control %q", resp.Status, loc, resp.Header.Get("Cache-Control"))
		}
		// Followed without the registry's credentials: the URL carries its own signature.
		r2, err := http.Get(loc)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r2.Body)
		r2.Body.Close()
		if r2.StatusCode != http.StatusOK || !bytes.Equal(got, big) {
			t.Fatalf("following the redirect: %s, %d bytes", r2.Status, len(got))
		}
		// HEAD is answered by the registry itself; a blob the repository lacks is still 404.
		resp = do(t, noFollow, "HEAD", hs2.URL+"/v2/team/app/blobs/"+db.String(), nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Length") != "9437184" {
			t.Fatalf("HEAD: %s %q", resp.Status, resp.Header.Get("Content-Length"))
		}
		resp = do(t, noFollow, "GET", hs2.URL+"/v2/team/other/blobs/"+db.String(), nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET from a repository without the blob: %s", resp.Status)
		}
	})

	t.Run("bucket unreachable", func(t *testing.T) {
		srv.Stop()
		status, body, _ := get(t, hs.URL+"/readyz")
		if status != http.StatusServiceUnavailable || !strings.Contains(body, "s3://"+bucket+"/reg") {
			t.Fatalf("readyz with the S3 server down: %d %s", status, body)
		}
	})
}

func rangeHeader(off, n int) string { return fmt.Sprintf("%d-%d", off, off+n-1) }

// filepathHasFiles reports whether there is any file at or under p.
func filepathHasFiles(p string) (bool, error) {
	found := false
	err := filepath.WalkDir(p, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if !e.IsDir() {
			found = true
		}
		return nil
	})
	return found, err
}

// TestStartOnS3RefusesLostDatabase: an empty data directory beside a bucket prefix that holds
// blobs is a lost database, as on the filesystem; another prefix is a fresh start.
func TestStartOnS3RefusesLostDatabase(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	cfg := s3Config(t, srv, bucket, "reg")
	hs := startS3Server(t, cfg)
	body := []byte("a layer")
	resp := do(t, http.DefaultClient, "POST", hs.URL+"/v2/team/app/blobs/uploads/?digest="+digest.FromBytes(body).String(), body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("push: %s", resp.Status)
	}
	lost := s3Config(t, srv, bucket, "reg") // a new, empty data directory
	_, err := New(context.Background(), lost, slog.New(slog.DiscardHandler))
	if !errors.Is(err, ErrDatabaseLost) || !strings.Contains(err.Error(), "s3://"+bucket+"/reg") || !strings.Contains(err.Error(), "another bucket or prefix") {
		t.Fatalf("New beside a populated bucket: %v", err)
	}
	fresh := s3Config(t, srv, bucket, "other")
	s, err := New(context.Background(), fresh, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New on an empty prefix: %v", err)
	}
	s.Close()
}

// TestStorageConfigRefused: a storage URL that cannot work, redirects without S3, half the
// credentials or none at all are refused before anything is created, saying what to do.
func TestStorageConfigRefused(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		t.Setenv(k, "")
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"not s3", func(c *Config) { c.Storage = "gs://bucket" }, `storage: "gs://bucket": unsupported scheme`},
		{"endpoint without scheme", func(c *Config) { c.Storage = "s3://bucket?endpoint=minio:9000" }, "not an http(s) base URL"},
		{"redirect without s3", func(c *Config) { c.StorageRedirect = true }, "storage-redirect: only S3 storage"},
		{"half the credentials", func(c *Config) { c.Storage = "s3://bucket"; c.StorageAccessKeyID = "AK" }, "give both or neither"},
		{"no credentials", func(c *Config) { c.Storage = "s3://bucket" }, "no S3 credentials for s3://bucket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.DataDir = filepath.Join(t.TempDir(), "data")
			tc.mutate(&cfg)
			_, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v; want %q", err, tc.want)
			}
			if has, _ := filepathHasFiles(filepath.Join(cfg.DataDir, DatabaseFile)); has {
				t.Error("a database was created")
			}
		})
	}
}

// TestStartOnS3RefusesUnusableStorage: wrong credentials, a missing bucket or an endpoint
// that does not answer stop the start with an error that names the storage setting and the
// cause, also when the data directory already holds a database (a restart), and nothing is
// served half-configured.
func TestStartOnS3RefusesUnusableStorage(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	good := s3Config(t, srv, bucket, "reg")
	s, err := New(context.Background(), good, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.Close() // the data directory now holds a database: a restart
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"wrong secret", func(c *Config) { c.StorageSecretAccessKey = "not-the-secret" }, "refused the credentials"},
		{"unknown key", func(c *Config) { c.StorageAccessKeyID = "nobody" }, "refused the credentials"},
		{"missing bucket", func(c *Config) { c.Storage = srv.URL("no-such-bucket", "reg") }, "the bucket no-such-bucket does not exist"},
		{"endpoint down", func(c *Config) {
			c.Storage = "s3://" + bucket + "/reg?endpoint=http://127.0.0.1:1&region=us-east-1&path-style=true"
		}, "did not answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, dir := range []string{good.DataDir, filepath.Join(t.TempDir(), "fresh")} {
				cfg := good
				cfg.DataDir = dir
				tc.mutate(&cfg)
				s, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
				if err == nil {
					s.Close()
					t.Fatalf("New on %s started", dir)
				}
				if !strings.HasPrefix(err.Error(), "storage: ") || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("New on %s = %v; want storage: … %q", dir, err, tc.want)
				}
				if dir != good.DataDir {
					if has, _ := filepathHasFiles(filepath.Join(dir, DatabaseFile)); has {
						t.Error("a database was created")
					}
				}
			}
		})
	}
}
