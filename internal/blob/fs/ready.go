package fs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// CheckWritable proves that the store can take writes now: in each directory writes land in
// (whole-blob writes in tmp/, uploads/, committed blobs/) it creates a small file named
// .probe-*, writes to it and removes it. It is cheap enough to back a readiness check.
func (s *Store) CheckWritable(ctx context.Context) error {
	for _, sub := range []string{"tmp", "uploads", "blobs"} {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := probe(filepath.Join(s.root, sub)); err != nil {
			return fmt.Errorf("blob store %s is not writable: %w", s.root, err)
		}
	}
	return nil
}

// probePrefix starts the names of readiness probe files; checks of the store skip them.
const probePrefix = ".probe-"

func probe(dir string) error {
	f, err := os.CreateTemp(dir, probePrefix+"*")
	if err != nil {
		return err
	}
	_, err = f.Write([]byte{0})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(f.Name()); err == nil {
		err = rerr
	}
	return err
}
