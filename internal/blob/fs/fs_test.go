package fs

import (
	"bytes"
	"context"
	"testing"
	"time"

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
