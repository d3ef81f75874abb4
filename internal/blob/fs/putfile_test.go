package fs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/blob"
)

// PutFile moves a verified file into the store (nothing is left at its path) and refuses one
// whose bytes are not the digest's or the size's, leaving it where it was and storing nothing.
func TestPutFile(t *testing.T) {
	ctx := context.Background()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	spool := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(spool, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	data := []byte("the archive, written once")
	d := digest.FromBytes(data)
	for _, tc := range []struct {
		name string
		d    digest.Digest
		size int64
		want error
	}{
		{"other digest", digest.FromString("other"), -1, blob.ErrDigestMismatch},
		{"other size", d, int64(len(data)) + 1, blob.ErrSizeMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write("refused", data)
			if _, err := s.PutFile(ctx, tc.d, tc.size, p); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("the refused file is gone: %v", err)
			}
			if _, err := s.Stat(ctx, tc.d); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("a refused file was stored: %v", err)
			}
		})
	}
	p := write("good", data)
	info, err := s.PutFile(ctx, d, int64(len(data)), p)
	if err != nil || info.Size != int64(len(data)) {
		t.Fatalf("PutFile: %+v %v", info, err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the file is still at its path: %v", err)
	}
	rc, err := s.Open(ctx, d, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("stored %q", got)
	}
	// The same blob again: it exists already, and the file still leaves its path.
	p = write("again", data)
	if _, err := s.PutFile(ctx, d, -1, p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the file is still at its path: %v", err)
	}
}
