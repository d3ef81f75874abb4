// Package fs stores blobs on the local filesystem under one root directory:
//
//	<root>/blobs/<algorithm>/<first two hex>/<hex>   committed blobs
//	<root>/uploads/<id>/data, state, owner           resumable uploads
//	<root>/tmp/                                      whole-blob writes in flight
//
// Every write goes to a temporary file, is fsynced, verified and only then renamed into
// place, so a crash never leaves a half-written blob visible under its digest. Bytes are
// hashed as they arrive (never read back to be verified), and the kernel is asked to start
// writing them to disk while the rest arrives, so that the fsync at the end is short.
package fs

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/blob"
)

// Store is a blob.Store on a local directory.
type Store struct {
	root string
	now  func() time.Time

	mu      sync.Mutex
	uploads map[string]*uploadLock // serialises operations on one upload; only while in use
}

// Options tune a Store. The zero value is the documented default of each field.
type Options struct {
	// Now is the store's clock, which marks when an upload was last active
	// (blob.UploadInfo.LastActive, ExpireUploads); nil means time.Now.
	Now func() time.Time
}

var _ blob.Store = (*Store)(nil)

// copyBufferSize is the chunk size of streamed reads and writes.
const copyBufferSize = 1 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}

// New opens (creating if needed) a store rooted at dir, with default Options. Leftover
// temporary files from a previous crash are removed.
func New(dir string) (*Store, error) {
	return NewWithOptions(dir, Options{})
}

// NewWithOptions is New with options.
func NewWithOptions(dir string, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{root: dir, now: opts.Now, uploads: map[string]*uploadLock{}}
	for _, sub := range []string{"blobs", "uploads", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("blob store %s: %w", dir, err)
		}
	}
	if err := os.RemoveAll(filepath.Join(dir, "tmp")); err != nil {
		return nil, fmt.Errorf("blob store %s: clean tmp: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, fmt.Errorf("blob store %s: %w", dir, err)
	}
	return s, nil
}

func (s *Store) path(d digest.Digest) (string, error) {
	if err := blob.Validate(d); err != nil {
		return "", fmt.Errorf("%q: %w", d, err)
	}
	hexPart := d.Encoded()
	return filepath.Join(s.root, "blobs", string(d.Algorithm()), hexPart[:2], hexPart), nil
}

// Stat implements blob.Stater.
func (s *Store) Stat(_ context.Context, d digest.Digest) (blob.Info, error) {
	p, err := s.path(d)
	if err != nil {
		return blob.Info{}, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return blob.Info{}, fmt.Errorf("stat %s: %w", d, blob.ErrNotFound)
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("stat %s: %w", d, err)
	}
	return blob.Info{Digest: d, Size: fi.Size()}, nil
}

// Open implements blob.Opener. It returns an *os.File positioned at offset.
func (s *Store) Open(_ context.Context, d digest.Digest, offset int64) (io.ReadCloser, error) {
	p, err := s.path(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open %s: %w", d, blob.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", d, err)
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("open %s at %d: %w", d, offset, err)
		}
	}
	return f, nil
}

// Put implements blob.Putter.
func (s *Store) Put(ctx context.Context, d digest.Digest, size int64, r io.Reader) (blob.Info, error) {
	final, err := s.path(d)
	if err != nil {
		return blob.Info{}, err
	}
	tmp, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "put-*")
	if err != nil {
		return blob.Info{}, fmt.Errorf("put %s: %w", d, err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	h := d.Algorithm().Hash()
	n, err := copyBuffered(ctx, io.MultiWriter(newWritebackFile(tmp, 0), h), r)
	if err == nil {
		err = checkWritten(d, size, n, h)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("put %s: %w", d, err)
	}
	if err := s.install(tmp.Name(), final); err != nil {
		return blob.Info{}, fmt.Errorf("put %s: %w", d, err)
	}
	return blob.Info{Digest: d, Size: n}, nil
}

// checkWritten compares what was written with what was announced.
func checkWritten(d digest.Digest, want, got int64, h hash.Hash) error {
	if want >= 0 && want != got {
		return fmt.Errorf("%w: got %d bytes, expected %d", blob.ErrSizeMismatch, got, want)
	}
	if actual := digest.NewDigest(d.Algorithm(), h); actual != d {
		return fmt.Errorf("%w: the bytes hash to %s", blob.ErrDigestMismatch, actual)
	}
	return nil
}

// install renames a verified, synced temporary file to its final path and syncs the directory.
func (s *Store) install(tmp, final string) error {
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Delete implements blob.Deleter.
func (s *Store) Delete(_ context.Context, d digest.Digest) error {
	p, err := s.path(d)
	if err != nil {
		return err
	}
	err = os.Remove(p)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", d, blob.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", d, err)
	}
	return nil
}

// List implements blob.Lister: the regular files of the tree of committed blobs that name a
// blob by their place, with their modification time. A Put rewrites the file, so a blob
// written again is young again.
func (s *Store) List(ctx context.Context, fn func(blob.Stored) error) error {
	return s.Walk(ctx, func(e Entry) error {
		if e.Digest == "" || !e.Regular {
			return nil
		}
		return fn(blob.Stored{Digest: e.Digest, Size: e.Size, Modified: e.Modified})
	})
}

// copyBuffered copies r to w with a pooled buffer, stopping when ctx is cancelled.
func copyBuffered(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}
