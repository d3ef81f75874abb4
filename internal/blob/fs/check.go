package fs

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/blob"
)

// Read-side helpers for checking a store (chartroom fsck, the start-up check of serve) and
// the few repairs that are safe on it. None of them creates or cleans anything unless it
// says so: unlike New, they may run beside a server that is using the store.

// OpenExisting returns the store rooted at dir without creating or cleaning anything (New
// removes leftover temporary files, which a running server may still be writing).
// ErrNotFound when dir does not exist.
func OpenExisting(dir string) (*Store, error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blob store %s: %w", dir, blob.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob store %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("blob store %s: not a directory", dir)
	}
	return &Store{root: dir, now: time.Now, uploads: map[string]*uploadLock{}}, nil
}

// Root is the directory the store lives in.
func (s *Store) Root() string { return s.root }

// errStop ends a walk early.
var errStop = errors.New("stop")

// HasBlobs reports whether the store rooted at dir holds at least one committed blob (any
// file under dir/blobs). A missing dir holds none. It reads directories only.
func HasBlobs(dir string) (bool, error) {
	found := false
	err := filepath.WalkDir(filepath.Join(dir, "blobs"), func(_ string, e iofs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if !e.IsDir() {
			found = true
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return false, fmt.Errorf("blob store %s: %w", dir, err)
	}
	return found, nil
}

// Entry is one file in the tree of committed blobs.
type Entry struct {
	// Digest is the blob the file's place names; "" for a file whose place names none
	// (not <algorithm>/<first two hex>/<hex> of a sha256 or sha512 digest): a stray file.
	Digest digest.Digest
	// Path is the file's path.
	Path string
	// Size is the file's size in bytes.
	Size int64
	// Regular is false for anything that is not a regular file (a directory where a blob
	// should be, a symbolic link, a device).
	Regular bool
	// Modified is the file's modification time (zero for a directory).
	Modified time.Time
}

// Walk calls fn for every file in the tree of committed blobs, in lexical order, without
// opening any. Files that do not name a blob by their place are passed with Digest "".
func (s *Store) Walk(ctx context.Context, fn func(Entry) error) error {
	base := filepath.Join(s.root, "blobs")
	err := filepath.WalkDir(base, func(p string, e iofs.DirEntry, err error) error {
		if err != nil {
			if p == base && errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if e.IsDir() {
			// <algorithm>/<first two hex>/: descend. A directory deeper than that is a stray
			// entry in itself.
			if p == base || len(parts) < 3 {
				return nil
			}
			if err := fn(Entry{Path: p}); err != nil {
				return err
			}
			return filepath.SkipDir
		}
		fi, err := e.Info()
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil // removed since the directory was read
			}
			return err
		}
		ent := Entry{Path: p, Size: fi.Size(), Regular: fi.Mode().IsRegular(), Modified: fi.ModTime()}
		if len(parts) == 3 {
			d := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[2])
			if blob.Validate(d) == nil && parts[1] == parts[2][:2] {
				ent.Digest = d
			}
		}
		return fn(ent)
	})
	if err != nil {
		return fmt.Errorf("walk blob store %s: %w", s.root, err)
	}
	return nil
}

// LeftoverKind tells what a leftover is.
type LeftoverKind string

// Kinds of leftovers.
const (
	// LeftoverTemp is a file under tmp/: a whole-blob write in flight or interrupted.
	LeftoverTemp LeftoverKind = "temp-file"
	// LeftoverUpload is an upload session under uploads/: resumable, or abandoned.
	LeftoverUpload LeftoverKind = "upload-session"
)

// Leftover is something a write leaves behind until it finishes: a temporary file or a
// resumable upload session.
type Leftover struct {
	Kind LeftoverKind
	Path string
	// Size is the bytes held (an upload's data so far).
	Size int64
	// Modified is when it last changed (for an upload, its latest file).
	Modified time.Time
	// Broken is set for an upload session whose state cannot be read: it cannot be resumed.
	Broken bool
}

// Leftovers lists the store's temporary files and upload sessions, oldest first.
func (s *Store) Leftovers() ([]Leftover, error) {
	var out []Leftover
	tmp, err := readDirIfExists(filepath.Join(s.root, "tmp"))
	if err != nil {
		return nil, fmt.Errorf("blob store %s: %w", s.root, err)
	}
	for _, e := range tmp {
		if strings.HasPrefix(e.Name(), probePrefix) {
			continue // a readiness probe, removed as soon as written
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed since the directory was read
		}
		out = append(out, Leftover{Kind: LeftoverTemp, Path: filepath.Join(s.root, "tmp", e.Name()), Size: fi.Size(), Modified: fi.ModTime()})
	}
	uploads, err := readDirIfExists(filepath.Join(s.root, "uploads"))
	if err != nil {
		return nil, fmt.Errorf("blob store %s: %w", s.root, err)
	}
	for _, e := range uploads {
		if strings.HasPrefix(e.Name(), probePrefix) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		l := Leftover{Kind: LeftoverUpload, Path: filepath.Join(s.root, "uploads", e.Name()), Modified: fi.ModTime()}
		if !fi.IsDir() {
			l.Broken = true
			out = append(out, l)
			continue
		}
		inside, _ := readDirIfExists(l.Path)
		for _, f := range inside {
			if fi, err := f.Info(); err == nil && fi.ModTime().After(l.Modified) {
				l.Modified = fi.ModTime()
			}
		}
		if fi, err := os.Stat(filepath.Join(l.Path, "data")); err == nil {
			l.Size = fi.Size()
		}
		if _, _, err := readState(l.Path); err != nil {
			l.Broken = true
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Modified.Before(out[j].Modified) })
	return out, nil
}

func readDirIfExists(dir string) ([]os.DirEntry, error) {
	es, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return es, err
}

// RemoveLeftover deletes a temporary file or upload session that Leftovers listed.
// A client still using an upload session has to start that upload again.
func (s *Store) RemoveLeftover(l Leftover) error {
	dir := map[LeftoverKind]string{LeftoverTemp: "tmp", LeftoverUpload: "uploads"}[l.Kind]
	if dir == "" || filepath.Dir(l.Path) != filepath.Join(s.root, dir) {
		return fmt.Errorf("remove %s: not a leftover of the store at %s", l.Path, s.root)
	}
	if err := os.RemoveAll(l.Path); err != nil {
		return fmt.Errorf("remove %s: %w", l.Path, err)
	}
	return nil
}

// ErrIntact means a blob asked to be quarantined turned out to hash to its digest.
var ErrIntact = errors.New("the blob's bytes match its digest")

// Quarantine moves blob d, whose bytes do not match its digest, out of the store into dir
// (created if needed; it must be on the same filesystem) as <algorithm>-<hex>, with a
// numbered suffix when that name is taken. It hashes the file once more first and leaves it
// in place (ErrIntact) if it is intact now, for instance because a client has just uploaded
// the same content again; if that happens between the check and the move, the intact file
// is put back. It returns where the damaged bytes went.
func (s *Store) Quarantine(ctx context.Context, d digest.Digest, dir string) (string, error) {
	p, err := s.path(d)
	if err != nil {
		return "", err
	}
	before, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("quarantine %s: %w", d, blob.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("quarantine %s: %w", d, err)
	}
	_, err = blob.Verify(ctx, s, d)
	if err == nil {
		return "", fmt.Errorf("quarantine %s: %w", d, ErrIntact)
	}
	if !errors.Is(err, blob.ErrDigestMismatch) {
		return "", fmt.Errorf("quarantine %s: %w", d, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("quarantine %s: %w", d, err)
	}
	name := string(d.Algorithm()) + "-" + d.Encoded()
	dest := filepath.Join(dir, name)
	for i := 1; ; i++ {
		if _, err := os.Lstat(dest); errors.Is(err, os.ErrNotExist) {
			break
		}
		dest = filepath.Join(dir, name+"."+strconv.Itoa(i))
	}
	if err := os.Rename(p, dest); err != nil {
		return "", fmt.Errorf("quarantine %s: %w", d, err)
	}
	moved, err := os.Stat(dest)
	if err == nil && !os.SameFile(before, moved) {
		// The store replaced the file between the check and the move: that one was
		// written and verified by the store, so it goes back.
		if err := os.Rename(dest, p); err != nil {
			return "", fmt.Errorf("quarantine %s: put back the copy written meanwhile: %w", d, err)
		}
		return "", fmt.Errorf("quarantine %s: %w", d, ErrIntact)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return dest, fmt.Errorf("quarantine %s: %w", d, err)
	}
	if err := syncDir(dir); err != nil {
		return dest, fmt.Errorf("quarantine %s: %w", d, err)
	}
	return dest, nil
}
