package fs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/blob"
	"github.com/chartroom/chartroom/internal/blob/blobtest"
)

func TestContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T, dir string, now func() time.Time) (blob.Store, string) {
		if dir == "" {
			dir = t.TempDir()
		}
		s, err := NewWithOptions(dir, Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return s, dir
	})
}

// TestUploadLocksAreReleased: an upload costs no memory while no request works on it, so
// thousands of abandoned sessions hold nothing in the process.
func TestUploadLocksAreReleased(t *testing.T) {
	ctx := context.Background()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if err := s.CreateUpload(ctx, id, "alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendUpload(ctx, id, 0, bytes.NewReader([]byte("chunk"))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AppendUpload(ctx, "a", 0, bytes.NewReader([]byte("wrong offset"))); err == nil {
		t.Fatal("append at a wrong offset succeeded")
	}
	if err := s.AbortUpload(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ExpireUploads(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.uploads) != 0 {
		t.Fatalf("%d upload locks are kept for idle uploads", len(s.uploads))
	}
}

// TestLargeBlobs sends blobs of several blocks through both write paths, with a failed
// append in the middle and a restart (a new Store over the same directory) before the
// commit: the resumable state must match the bytes kept, whatever the copy loop overlaps.
func TestLargeBlobs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := randomData(3*writebackChunk + 5*copyBufferSize/2 + 7)
	d := digest.FromBytes(data)

	if _, err := s.Put(ctx, d, int64(len(data)), &shortReads{r: bytes.NewReader(data), rnd: rand.New(rand.NewPCG(3, 4))}); err != nil {
		t.Fatalf("put: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", d.Encoded()[:2], d.Encoded())); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("put stored other bytes (%v)", err)
	}
	if err := s.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}

	const id = "big"
	if err := s.CreateUpload(ctx, id, "alice"); err != nil {
		t.Fatal(err)
	}
	first := len(data) / 3
	if n, err := s.AppendUpload(ctx, id, 0, bytes.NewReader(data[:first])); err != nil || n != int64(first) {
		t.Fatalf("append 1: %d, %v", n, err)
	}
	// The client goes away 2.5 blocks into the second chunk: those bytes are written and
	// hashed, then dropped, and the upload still ends at the first chunk.
	cut := io.MultiReader(bytes.NewReader(data[first:first+5*copyBufferSize/2]), iotest.ErrReader(io.ErrUnexpectedEOF))
	if _, err := s.AppendUpload(ctx, id, int64(first), cut); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("append cut short: got %v", err)
	}
	if n, err := s.UploadSize(ctx, id); err != nil || n != int64(first) {
		t.Fatalf("size after the failed append: %d, %v", n, err)
	}

	s, err = New(dir) // a restart, or another replica over the same storage
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.AppendUpload(ctx, id, int64(first), bytes.NewReader(data[first:])); err != nil || n != int64(len(data)) {
		t.Fatalf("append 2: %d, %v", n, err)
	}
	if _, err := s.CommitUpload(ctx, id, d); err != nil {
		t.Fatalf("commit: %v", err)
	}
	rc, err := s.Open(ctx, d, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, err := io.ReadAll(rc); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("committed upload holds other bytes (%v)", err)
	}
}

// randomData returns n reproducible pseudo-random bytes.
func randomData(n int) []byte {
	var seed [32]byte
	seed[0] = byte(n)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(seed).Read(b)
	return b
}

// shortReads hands out at most 1–64 KiB per Read, as a socket does.
type shortReads struct {
	r   io.Reader
	rnd *rand.Rand
}

func (s *shortReads) Read(p []byte) (int, error) {
	if n := 1 + s.rnd.IntN(64<<10); len(p) > n {
		p = p[:n]
	}
	return s.r.Read(p)
}
