package fs

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/blob"
)

// An upload is the directory <root>/uploads/<id>/ of three files: data; state, the size that
// is known good and the running sha256 state at that size, so that finishing an upload does
// not re-read it, whose modification time is when the upload was last active (by the store's
// clock); owner, who started it. If a crash leaves data longer than state says, the tail is
// cut off on the next append. A directory without state is an upload whose creation a crash
// interrupted: unusable, removed when it expires.

var uploadIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

func (s *Store) uploadDir(id string) (string, error) {
	if !uploadIDPattern.MatchString(id) {
		return "", fmt.Errorf("upload %q: %w", id, blob.ErrUploadNotFound)
	}
	return filepath.Join(s.root, "uploads", id), nil
}

// uploadLock serialises operations on one upload within this process.
type uploadLock struct {
	sync.Mutex
	refs int // holders and waiters; the map entry goes when the last one leaves
}

// lock locks upload id and returns the unlock function. The lock exists only while someone
// holds or waits for it, so idle and abandoned uploads cost no memory.
func (s *Store) lock(id string) func() {
	s.mu.Lock()
	l, ok := s.uploads[id]
	if !ok {
		l = &uploadLock{}
		s.uploads[id] = l
	}
	l.refs++
	s.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		s.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(s.uploads, id)
		}
		s.mu.Unlock()
	}
}

// CreateUpload implements blob.Uploader.
func (s *Store) CreateUpload(_ context.Context, id, owner string) error {
	dir, err := s.uploadDir(id)
	if err != nil {
		return err
	}
	defer s.lock(id)()
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("create upload %s: %w", id, err)
	}
	err = writeFileSync(filepath.Join(dir, "data"), nil)
	if err == nil {
		err = writeFileSync(filepath.Join(dir, "owner"), []byte(owner))
	}
	if err == nil {
		err = writeState(dir, 0, sha256.New())
	}
	if err == nil {
		err = s.touch(dir)
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return fmt.Errorf("create upload %s: %w", id, err)
	}
	return nil
}

// touch marks the upload in dir active now, by the store's clock.
func (s *Store) touch(dir string) error {
	now := s.now()
	return os.Chtimes(filepath.Join(dir, "state"), now, now)
}

// activity returns when the upload in dir was last active, and whether it is complete (has
// a state). An error wrapping os.ErrNotExist means there is no such upload.
func activity(dir string) (time.Time, bool, error) {
	fi, err := os.Stat(filepath.Join(dir, "state"))
	if err == nil {
		return fi.ModTime(), true, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return time.Time{}, false, err
	}
	fi, err = os.Stat(dir)
	if err != nil {
		return time.Time{}, false, err
	}
	return fi.ModTime(), false, nil
}

// Uploads implements blob.UploadSweeper.
func (s *Store) Uploads(ctx context.Context) ([]blob.UploadInfo, error) {
	entries, err := os.ReadDir(filepath.Join(s.root, "uploads"))
	if err != nil {
		return nil, fmt.Errorf("list uploads: %w", err)
	}
	out := make([]blob.UploadInfo, 0, len(entries))
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		id := e.Name()
		if !e.IsDir() || !uploadIDPattern.MatchString(id) {
			continue
		}
		dir := filepath.Join(s.root, "uploads", id)
		active, complete, err := activity(dir)
		if errors.Is(err, os.ErrNotExist) || err == nil && !complete {
			continue // ended meanwhile, or never fully created
		}
		if err != nil {
			return nil, fmt.Errorf("list uploads: %w", err)
		}
		owner, err := os.ReadFile(filepath.Join(dir, "owner"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("list uploads: %w", err)
		}
		out = append(out, blob.UploadInfo{ID: id, Owner: string(owner), LastActive: active})
	}
	return out, nil
}

// ExpireUploads implements blob.UploadSweeper.
func (s *Store) ExpireUploads(ctx context.Context, idle time.Duration) (int, error) {
	entries, err := os.ReadDir(filepath.Join(s.root, "uploads"))
	if err != nil {
		return 0, fmt.Errorf("expire uploads: %w", err)
	}
	cutoff := s.now().Add(-idle)
	n := 0
	var errs []error
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if !e.IsDir() || !uploadIDPattern.MatchString(e.Name()) {
			continue
		}
		expired, err := s.expire(e.Name(), cutoff)
		if err != nil {
			errs = append(errs, err)
		} else if expired {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// expire removes upload id if it was last active before cutoff.
func (s *Store) expire(id string, cutoff time.Time) (bool, error) {
	defer s.lock(id)()
	dir := filepath.Join(s.root, "uploads", id)
	active, _, err := activity(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("expire upload %s: %w", id, err)
	}
	if !active.Before(cutoff) {
		return false, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return false, fmt.Errorf("expire upload %s: %w", id, err)
	}
	return true, nil
}

// UploadSize implements blob.Uploader.
func (s *Store) UploadSize(_ context.Context, id string) (int64, error) {
	dir, err := s.uploadDir(id)
	if err != nil {
		return 0, err
	}
	size, _, err := readState(dir)
	if err != nil {
		return 0, fmt.Errorf("upload %s: %w", id, err)
	}
	return size, nil
}

// AppendUpload implements blob.Uploader.
func (s *Store) AppendUpload(ctx context.Context, id string, offset int64, r io.Reader) (int64, error) {
	dir, err := s.uploadDir(id)
	if err != nil {
		return 0, err
	}
	defer s.lock(id)()
	size, h, err := readState(dir)
	if err != nil {
		return 0, fmt.Errorf("append to upload %s: %w", id, err)
	}
	if offset != size {
		return size, fmt.Errorf("append to upload %s at %d: %w (it ends at %d)", id, offset, blob.ErrUploadOffset, size)
	}
	f, err := os.OpenFile(filepath.Join(dir, "data"), os.O_WRONLY, 0)
	if err != nil {
		return 0, fmt.Errorf("append to upload %s: %w", id, err)
	}
	defer f.Close()
	// Cut off anything a crashed or failed append left past the known-good size.
	if err := f.Truncate(size); err != nil {
		return 0, fmt.Errorf("append to upload %s: %w", id, err)
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		return 0, fmt.Errorf("append to upload %s: %w", id, err)
	}
	n, err := copyBuffered(ctx, io.MultiWriter(newWritebackFile(f, size), h), r)
	if err == nil {
		// The data must be on disk before the state that vouches for it: after a power loss,
		// a state naming bytes the disk lost would let a commit trust their hash.
		err = f.Sync()
	}
	if err == nil {
		err = writeState(dir, size+n, h)
	}
	if err != nil {
		_ = f.Truncate(size)
		return size, fmt.Errorf("append to upload %s: %w", id, err)
	}
	// The new state's modification time is already the wall clock's now; this sets the
	// store's, which tests drive. The append stands whether or not it succeeds.
	_ = s.touch(dir)
	return size + n, nil
}

// CommitUpload implements blob.Uploader.
func (s *Store) CommitUpload(ctx context.Context, id string, d digest.Digest) (blob.Info, error) {
	dir, err := s.uploadDir(id)
	if err != nil {
		return blob.Info{}, err
	}
	final, err := s.path(d)
	if err != nil {
		return blob.Info{}, err
	}
	defer s.lock(id)()
	size, h, err := readState(dir)
	if err != nil {
		return blob.Info{}, fmt.Errorf("commit upload %s: %w", id, err)
	}
	data := filepath.Join(dir, "data")
	f, err := os.OpenFile(data, os.O_RDWR, 0)
	if err != nil {
		return blob.Info{}, fmt.Errorf("commit upload %s: %w", id, err)
	}
	err = f.Truncate(size)
	if err == nil && d.Algorithm() != digest.SHA256 {
		// The running state is sha256 only; other algorithms hash the data once here.
		h = d.Algorithm().Hash()
		_, err = copyBuffered(ctx, h, io.NewSectionReader(f, 0, size))
	}
	if err == nil {
		err = checkWritten(d, -1, size, h)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, blob.ErrDigestMismatch) {
		_ = os.RemoveAll(dir)
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("commit upload %s as %s: %w", id, d, err)
	}
	if err := s.install(data, final); err != nil {
		return blob.Info{}, fmt.Errorf("commit upload %s as %s: %w", id, d, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return blob.Info{}, fmt.Errorf("commit upload %s: clean up: %w", id, err)
	}
	return blob.Info{Digest: d, Size: size}, nil
}

// AbortUpload implements blob.Uploader.
func (s *Store) AbortUpload(_ context.Context, id string) error {
	dir, err := s.uploadDir(id)
	if err != nil {
		return err
	}
	defer s.lock(id)()
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("abort upload %s: %w", id, blob.ErrUploadNotFound)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("abort upload %s: %w", id, err)
	}
	return nil
}

// writeFileSync writes a new file and syncs it.
func writeFileSync(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeState records size and hash state atomically (temporary file + rename).
func writeState(dir string, size int64, h hash.Hash) error {
	st, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	buf := binary.BigEndian.AppendUint64(nil, uint64(size))
	buf = append(buf, st...)
	tmp := filepath.Join(dir, "state.tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(buf)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "state")); err != nil {
		return err
	}
	return syncDir(dir)
}

func readState(dir string) (int64, hash.Hash, error) {
	buf, err := os.ReadFile(filepath.Join(dir, "state"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil, blob.ErrUploadNotFound
	}
	if err != nil {
		return 0, nil, err
	}
	if len(buf) < 8 {
		return 0, nil, fmt.Errorf("corrupt upload state")
	}
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(buf[8:]); err != nil {
		return 0, nil, fmt.Errorf("corrupt upload state: %w", err)
	}
	return int64(binary.BigEndian.Uint64(buf[:8])), h, nil
}
