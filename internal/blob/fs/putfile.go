package fs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/blob"
)

// PutFile stores the local file at path as blob d, as Put does, but moves the file into place
// instead of copying it when it is on the store's filesystem: an upload the caller already
// wrote to disk is not written again. size is the expected length, or -1 when unknown. The
// file is verified (its bytes are read and hashed) and synced before it is moved. On success
// nothing is left at path; on failure the file is left there, the caller's to remove.
func (s *Store) PutFile(ctx context.Context, d digest.Digest, size int64, path string) (blob.Info, error) {
	final, err := s.path(d)
	if err != nil {
		return blob.Info{}, err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return blob.Info{}, fmt.Errorf("put %s from %s: %w", d, path, err)
	}
	h := d.Algorithm().Hash()
	n, err := copyBuffered(ctx, h, f)
	if err == nil {
		err = checkWritten(d, size, n, h)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("put %s from %s: %w", d, path, err)
	}
	err = s.install(path, final)
	if errors.Is(err, syscall.EXDEV) { // another filesystem: copy
		f, err := os.Open(path)
		if err != nil {
			return blob.Info{}, fmt.Errorf("put %s from %s: %w", d, path, err)
		}
		defer f.Close()
		info, err := s.Put(ctx, d, size, f)
		if err == nil {
			_ = os.Remove(path)
		}
		return info, err
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("put %s from %s: %w", d, path, err)
	}
	return blob.Info{Digest: d, Size: n}, nil
}
