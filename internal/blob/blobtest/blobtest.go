// Package blobtest is the shared contract suite every blob.Store backend runs:
// a backend joins by calling Run with a constructor (NewStore).
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/blob"
)

// NewStore opens a store for the suite, whose clock is now. With storage "" it is a new,
// empty store; otherwise it is a new store over the storage of an earlier one (a restart).
// It returns the store and the name of its storage (a directory, a bucket and prefix, …).
type NewStore func(t *testing.T, storage string, now func() time.Time) (blob.Store, string)

// Run exercises every method of the blob.Store contract against stores made by open.
func Run(t *testing.T, open NewStore) {
	newStore := func(t *testing.T) blob.Store {
		s, _ := open(t, "", time.Now)
		return s
	}
	ctx := context.Background()
	content := []byte("hello, chartroom")
	d := digest.FromBytes(content)
	d512 := digest.SHA512.FromBytes(content)

	t.Run("list", func(t *testing.T) {
		s := newStore(t)
		if got := list(t, s); len(got) != 0 {
			t.Fatalf("empty store lists %v", got)
		}
		before := time.Now().Add(-time.Minute) // the clocks of the store and of its server may differ a little
		other := []byte("another blob")
		for _, b := range []struct {
			d    digest.Digest
			data []byte
		}{{d, content}, {d512, content}, {digest.FromBytes(other), other}} {
			if _, err := s.Put(ctx, b.d, int64(len(b.data)), bytes.NewReader(b.data)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateUpload(ctx, "listed-not", ""); err != nil {
			t.Fatal(err)
		}
		after := time.Now().Add(time.Minute)
		got := list(t, s)
		if len(got) != 3 {
			t.Fatalf("listed %v, want the 3 blobs put (and no upload session)", got)
		}
		for _, want := range []struct {
			d    digest.Digest
			size int
		}{{d, len(content)}, {d512, len(content)}, {digest.FromBytes(other), len(other)}} {
			st, ok := got[want.d]
			if !ok || st.Size != int64(want.size) || st.Modified.Before(before) || st.Modified.After(after) {
				t.Errorf("%s: listed %+v (present %v), want size %d modified between %s and %s", want.d, st, ok, want.size, before, after)
			}
		}
		if err := s.Delete(ctx, d512); err != nil {
			t.Fatal(err)
		}
		if got := list(t, s); len(got) != 2 || got[d512].Digest != "" {
			t.Fatalf("after deleting %s: listed %v", d512, got)
		}
		stop := errors.New("stop")
		calls := 0
		err := s.List(ctx, func(blob.Stored) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("List with fn failing: %v after %d calls, want fn's error after 1", err, calls)
		}
	})

	t.Run("put stat open delete", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Stat(ctx, d); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("stat missing: got %v, want ErrNotFound", err)
		}
		info, err := s.Put(ctx, d, int64(len(content)), bytes.NewReader(content))
		if err != nil || info.Size != int64(len(content)) {
			t.Fatalf("put: %v %+v", err, info)
		}
		if info, err := s.Stat(ctx, d); err != nil || info.Size != int64(len(content)) {
			t.Fatalf("stat: %v %+v", err, info)
		}
		if got := read(t, s, d, 0); !bytes.Equal(got, content) {
			t.Fatalf("open: got %q", got)
		}
		if got := read(t, s, d, 7); !bytes.Equal(got, content[7:]) {
			t.Fatalf("open at 7: got %q", got)
		}
		if err := s.Delete(ctx, d); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if err := s.Delete(ctx, d); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("second delete: got %v, want ErrNotFound", err)
		}
	})

	t.Run("put sha512", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Put(ctx, d512, -1, bytes.NewReader(content)); err != nil {
			t.Fatalf("put: %v", err)
		}
		if got := read(t, s, d512, 0); !bytes.Equal(got, content) {
			t.Fatalf("open: got %q", got)
		}
	})

	t.Run("put refuses wrong digest or size and stores nothing", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Put(ctx, d, -1, strings.NewReader("other bytes")); !errors.Is(err, blob.ErrDigestMismatch) {
			t.Fatalf("wrong digest: got %v", err)
		}
		if _, err := s.Put(ctx, d, 3, bytes.NewReader(content)); !errors.Is(err, blob.ErrSizeMismatch) {
			t.Fatalf("wrong size: got %v", err)
		}
		if _, err := s.Stat(ctx, d); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("after refused puts: got %v, want ErrNotFound", err)
		}
	})

	t.Run("put is idempotent", func(t *testing.T) {
		s := newStore(t)
		for i := 0; i < 2; i++ {
			if _, err := s.Put(ctx, d, -1, bytes.NewReader(content)); err != nil {
				t.Fatalf("put %d: %v", i, err)
			}
		}
	})

	t.Run("malformed digests are refused", func(t *testing.T) {
		s := newStore(t)
		for _, bad := range []digest.Digest{"", "sha256:abc", "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256:../../../etc/passwd"} {
			if _, err := s.Stat(ctx, bad); !errors.Is(err, blob.ErrUnsupportedDigest) {
				t.Errorf("stat %q: got %v, want ErrUnsupportedDigest", bad, err)
			}
		}
	})

	for _, tc := range []struct {
		name string
		d    digest.Digest
	}{{"sha256", d}, {"sha512", d512}} {
		t.Run("chunked upload "+tc.name, func(t *testing.T) {
			s := newStore(t)
			const id = "upload-1"
			if err := s.CreateUpload(ctx, id, "owner"); err != nil {
				t.Fatalf("create: %v", err)
			}
			n, err := s.AppendUpload(ctx, id, 0, bytes.NewReader(content[:5]))
			if err != nil || n != 5 {
				t.Fatalf("append 1: %d %v", n, err)
			}
			if _, err := s.AppendUpload(ctx, id, 3, bytes.NewReader(content[3:])); !errors.Is(err, blob.ErrUploadOffset) {
				t.Fatalf("append at wrong offset: got %v", err)
			}
			if size, err := s.UploadSize(ctx, id); err != nil || size != 5 {
				t.Fatalf("size after refused append: %d %v", size, err)
			}
			n, err = s.AppendUpload(ctx, id, 5, bytes.NewReader(content[5:]))
			if err != nil || n != int64(len(content)) {
				t.Fatalf("append 2: %d %v", n, err)
			}
			if _, err := s.CommitUpload(ctx, id, tc.d); err != nil {
				t.Fatalf("commit: %v", err)
			}
			if got := read(t, s, tc.d, 0); !bytes.Equal(got, content) {
				t.Fatalf("open: got %q", got)
			}
			if _, err := s.UploadSize(ctx, id); !errors.Is(err, blob.ErrUploadNotFound) {
				t.Fatalf("upload after commit: got %v", err)
			}
		})
	}

	t.Run("failed append keeps previous size", func(t *testing.T) {
		s := newStore(t)
		const id = "upload-2"
		if err := s.CreateUpload(ctx, id, "owner"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendUpload(ctx, id, 0, bytes.NewReader(content[:4])); err != nil {
			t.Fatal(err)
		}
		broken := io.MultiReader(bytes.NewReader([]byte("xyz")), errReader{})
		if _, err := s.AppendUpload(ctx, id, 4, broken); err == nil {
			t.Fatal("append from a failing reader succeeded")
		}
		if size, err := s.UploadSize(ctx, id); err != nil || size != 4 {
			t.Fatalf("size after failed append: %d %v", size, err)
		}
		if _, err := s.AppendUpload(ctx, id, 4, bytes.NewReader(content[4:])); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CommitUpload(ctx, id, d); err != nil {
			t.Fatalf("commit after recovered append: %v", err)
		}
	})

	t.Run("commit with wrong digest stores nothing", func(t *testing.T) {
		s := newStore(t)
		const id = "upload-3"
		if err := s.CreateUpload(ctx, id, "owner"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendUpload(ctx, id, 0, strings.NewReader("not it")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CommitUpload(ctx, id, d); !errors.Is(err, blob.ErrDigestMismatch) {
			t.Fatalf("commit: got %v, want ErrDigestMismatch", err)
		}
		if _, err := s.Stat(ctx, d); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("stat: got %v", err)
		}
	})

	t.Run("abort and unknown uploads", func(t *testing.T) {
		s := newStore(t)
		if err := s.CreateUpload(ctx, "upload-4", "owner"); err != nil {
			t.Fatal(err)
		}
		if err := s.AbortUpload(ctx, "upload-4"); err != nil {
			t.Fatalf("abort: %v", err)
		}
		for _, id := range []string{"upload-4", "never", "../escape"} {
			if _, err := s.UploadSize(ctx, id); !errors.Is(err, blob.ErrUploadNotFound) {
				t.Errorf("size of %q: got %v, want ErrUploadNotFound", id, err)
			}
		}
	})

	t.Run("idle uploads expire", func(t *testing.T) { uploadExpiry(t, open) })

	t.Run("empty blob", func(t *testing.T) {
		s := newStore(t)
		empty := digest.FromBytes(nil)
		if err := s.CreateUpload(ctx, "upload-5", "owner"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CommitUpload(ctx, "upload-5", empty); err != nil {
			t.Fatalf("commit empty: %v", err)
		}
		if info, err := s.Stat(ctx, empty); err != nil || info.Size != 0 {
			t.Fatalf("stat empty: %v %+v", err, info)
		}
	})
}

// Clock is a settable clock for stores under test.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that reads start until advanced.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// uploadExpiry: sessions are listed with their owner and last activity, sessions idle longer
// than the expiry are ended (and only those), and open sessions survive a restart.
func uploadExpiry(t *testing.T, open NewStore) {
	ctx := context.Background()
	clock := NewClock(time.Date(2031, 5, 4, 12, 0, 0, 0, time.UTC))
	s, storage := open(t, "", clock.Now)
	t0 := clock.Now()
	for _, u := range []struct{ id, owner string }{{"idle", "alice"}, {"appended", "alice"}, {"empty-owner", ""}} {
		if err := s.CreateUpload(ctx, u.id, u.owner); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AppendUpload(ctx, "idle", 0, strings.NewReader("abc")); err != nil {
		t.Fatal(err)
	}
	clock.Advance(20 * time.Hour)
	if err := s.CreateUpload(ctx, "fresh", "bob"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(3 * time.Hour)
	if _, err := s.AppendUpload(ctx, "appended", 0, strings.NewReader("abc")); err != nil {
		t.Fatal(err)
	}
	want := map[string]blob.UploadInfo{
		"idle":        {ID: "idle", Owner: "alice", LastActive: t0},
		"empty-owner": {ID: "empty-owner", Owner: "", LastActive: t0},
		"appended":    {ID: "appended", Owner: "alice", LastActive: t0.Add(23 * time.Hour)},
		"fresh":       {ID: "fresh", Owner: "bob", LastActive: t0.Add(20 * time.Hour)},
	}
	checkUploads(t, s, want)

	clock.Advance(2 * time.Hour) // t0+25h: "idle" and "empty-owner" have been idle for 25h
	if n, err := s.ExpireUploads(ctx, 24*time.Hour); err != nil || n != 2 {
		t.Fatalf("expire: %d %v, want 2 ended", n, err)
	}
	for _, id := range []string{"idle", "empty-owner"} {
		if _, err := s.UploadSize(ctx, id); !errors.Is(err, blob.ErrUploadNotFound) {
			t.Errorf("size of expired upload %q: got %v, want ErrUploadNotFound", id, err)
		}
		if _, err := s.AppendUpload(ctx, id, 0, strings.NewReader("x")); !errors.Is(err, blob.ErrUploadNotFound) {
			t.Errorf("append to expired upload %q: got %v, want ErrUploadNotFound", id, err)
		}
		delete(want, id)
	}
	checkUploads(t, s, want)
	if n, err := s.ExpireUploads(ctx, 24*time.Hour); err != nil || n != 0 {
		t.Fatalf("second expire: %d %v, want none", n, err)
	}

	// A restart keeps the open sessions, their owners and their contents.
	s, _ = open(t, storage, clock.Now)
	checkUploads(t, s, want)
	if size, err := s.UploadSize(ctx, "appended"); err != nil || size != 3 {
		t.Fatalf("size after restart: %d %v", size, err)
	}
	if _, err := s.CommitUpload(ctx, "appended", digest.FromString("abc")); err != nil {
		t.Fatalf("commit after restart: %v", err)
	}
	delete(want, "appended")
	checkUploads(t, s, want)
	clock.Advance(25 * time.Hour)
	if n, err := s.ExpireUploads(ctx, 24*time.Hour); err != nil || n != 1 {
		t.Fatalf("expire after restart: %d %v, want 1", n, err)
	}
	checkUploads(t, s, map[string]blob.UploadInfo{})
}

func checkUploads(t *testing.T, s blob.Store, want map[string]blob.UploadInfo) {
	t.Helper()
	list, err := s.Uploads(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]blob.UploadInfo{}
	for _, u := range list {
		got[u.ID] = u
	}
	if len(got) != len(want) {
		t.Fatalf("uploads %v, want %v", list, want)
	}
	for id, w := range want {
		if g, ok := got[id]; !ok || g.Owner != w.Owner || !g.LastActive.Equal(w.LastActive) {
			t.Errorf("upload %q: %+v, want %+v", id, g, w)
		}
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func read(t *testing.T, s blob.Store, d digest.Digest, offset int64) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), d, offset)
	if err != nil {
		t.Fatalf("open %s: %v", d, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", d, err)
	}
	return b
}

// list returns what s.List passes, by digest.
func list(t *testing.T, s blob.Store) map[digest.Digest]blob.Stored {
	t.Helper()
	out := map[digest.Digest]blob.Stored{}
	if err := s.List(context.Background(), func(st blob.Stored) error {
		if _, dup := out[st.Digest]; dup {
			t.Errorf("List passed %s twice", st.Digest)
		}
		out[st.Digest] = st
		return nil
	}); err != nil {
		t.Fatalf("list: %v", err)
	}
	return out
}
