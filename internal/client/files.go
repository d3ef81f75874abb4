package client

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
)

// tempFile is a download in progress. It lives in the destination directory, so that
// committing it is a rename: readers see the old file or the complete new one, never a
// partial download.
type tempFile struct {
	f      *os.File
	dest   string
	size   int64
	sha256 string // hex, after copyFrom
}

// newTempFile starts the file that will become dest.
func newTempFile(dest string) (*tempFile, error) {
	dir, base := filepath.Split(dest)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", dest, err)
	}
	return &tempFile{f: f, dest: dest}, nil
}

// copyFrom writes r into the file, hashing it; more than limit bytes is an error.
func (t *tempFile) copyFrom(r io.Reader, limit int64) error {
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(t.f, h), io.LimitReader(r, limit+1))
	t.size += n
	if err != nil {
		return err
	}
	if n > limit {
		return fmt.Errorf("the download exceeds %s; it is not a chart archive (or raise the limit)", humanBytes(limit))
	}
	t.sha256 = hexSum(h)
	return nil
}

// reader reads the file from its start.
func (t *tempFile) reader() io.Reader { return io.NewSectionReader(t.f, 0, t.size) }

// commit makes the file durable and renames it to its destination.
func (t *tempFile) commit() error {
	if err := t.f.Chmod(0o644); err != nil {
		t.discard()
		return fmt.Errorf("write %s: %w", t.dest, err)
	}
	if err := t.f.Sync(); err != nil {
		t.discard()
		return fmt.Errorf("write %s: %w", t.dest, err)
	}
	if err := t.f.Close(); err != nil {
		os.Remove(t.f.Name())
		return fmt.Errorf("write %s: %w", t.dest, err)
	}
	if err := os.Rename(t.f.Name(), t.dest); err != nil {
		os.Remove(t.f.Name())
		return fmt.Errorf("write %s: %w", t.dest, err)
	}
	if d, err := os.Open(filepath.Dir(t.dest)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// discard removes the file; safe to call after commit (it then does nothing).
func (t *tempFile) discard() {
	if t == nil {
		return
	}
	t.f.Close()
	if _, err := os.Stat(t.f.Name()); err == nil {
		os.Remove(t.f.Name())
	}
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }
