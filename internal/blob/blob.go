// Package blob defines content-addressed blob storage: the contract every backend honours
// (filesystem now, S3-compatible later) and the errors callers match with errors.Is.
//
// A blob is addressed by its digest (sha256 or sha512, github.com/opencontainers/go-digest).
// Backends verify size and digest on every write: a blob is visible under its digest only
// after its bytes were proven to hash to it, and never half-written.
package blob

import (
	"context"
	_ "crypto/sha256" // registers sha256 with go-digest
	_ "crypto/sha512" // registers sha512 with go-digest
	"errors"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
)

// Errors returned by backends, wrapped with the operation and digest.
var (
	// ErrNotFound means no blob (or upload) exists under that name.
	ErrNotFound = errors.New("blob not found")
	// ErrDigestMismatch means the bytes written do not hash to the digest given.
	ErrDigestMismatch = errors.New("content does not match its digest")
	// ErrSizeMismatch means the bytes written are not as many as announced.
	ErrSizeMismatch = errors.New("content size does not match the size given")
	// ErrUploadNotFound means the upload session does not exist (never started, finished or cancelled).
	ErrUploadNotFound = errors.New("upload not found")
	// ErrUploadOffset means a chunk did not start where the upload currently ends.
	ErrUploadOffset = errors.New("chunk does not start at the end of the upload")
	// ErrTooLarge means a write exceeded the configured size limit.
	ErrTooLarge = errors.New("content exceeds the size limit")
	// ErrUnsupportedDigest means the digest algorithm is not sha256 or sha512, or is malformed.
	ErrUnsupportedDigest = errors.New("unsupported digest")
)

// Info describes a stored blob.
type Info struct {
	Digest digest.Digest
	Size   int64
}

// Stater reports whether a blob exists and its size.
type Stater interface {
	// Stat returns the blob's Info, or ErrNotFound.
	Stat(ctx context.Context, d digest.Digest) (Info, error)
}

// Opener reads blobs.
type Opener interface {
	// Open returns the blob's bytes starting at offset (0 ≤ offset ≤ size), or ErrNotFound.
	// The caller closes the reader. Backends may return an *os.File so that the HTTP
	// server can use sendfile.
	Open(ctx context.Context, d digest.Digest, offset int64) (io.ReadCloser, error)
}

// Putter writes whole blobs.
type Putter interface {
	// Put stores the bytes read from r under d. size is the expected length, or -1 when unknown.
	// Nothing is stored unless the bytes hash to d (ErrDigestMismatch) and, when size ≥ 0, number
	// exactly size (ErrSizeMismatch). Putting a blob that already exists succeeds.
	Put(ctx context.Context, d digest.Digest, size int64, r io.Reader) (Info, error)
}

// Deleter removes blobs.
type Deleter interface {
	// Delete removes the blob; deleting a missing blob returns ErrNotFound.
	Delete(ctx context.Context, d digest.Digest) error
}

// Uploader keeps resumable upload sessions: a blob written in chunks, possibly over several
// requests and replicas, that becomes a blob only when Commit proves its digest.
type Uploader interface {
	// CreateUpload starts an empty upload session under id (chosen by the caller, unguessable)
	// for owner, who started it (UploadInfo.Owner; "" for nobody in particular).
	CreateUpload(ctx context.Context, id, owner string) error
	// AppendUpload appends r to the upload. offset must equal the upload's current size
	// (ErrUploadOffset otherwise); it returns the new size. A failed append leaves the upload
	// at its previous size.
	AppendUpload(ctx context.Context, id string, offset int64, r io.Reader) (int64, error)
	// UploadSize returns how many bytes the upload holds, or ErrUploadNotFound.
	UploadSize(ctx context.Context, id string) (int64, error)
	// CommitUpload verifies the upload hashes to d and makes it the blob d, ending the session.
	// On ErrDigestMismatch the session is ended too and nothing is stored.
	CommitUpload(ctx context.Context, id string, d digest.Digest) (Info, error)
	// AbortUpload discards the session.
	AbortUpload(ctx context.Context, id string) error
}

// UploadInfo describes an open upload session.
type UploadInfo struct {
	// ID is the session's id (CreateUpload's).
	ID string
	// Owner is who started it (CreateUpload's owner).
	Owner string
	// LastActive is when the session was created or last appended to, by the store's clock.
	LastActive time.Time
}

// UploadSweeper keeps upload sessions from piling up: clients abandon sessions (a crash, a
// cancelled push), and nothing else would ever end them.
type UploadSweeper interface {
	// Uploads lists the open sessions (started and not yet committed, aborted or expired), in
	// no particular order.
	Uploads(ctx context.Context) ([]UploadInfo, error)
	// ExpireUploads ends, as AbortUpload does, every session that has not been active
	// (created or appended to) for longer than idle by the store's clock, and returns how
	// many it ended. A session is judged under the same lock as its appends, so one that
	// becomes active meanwhile is kept.
	ExpireUploads(ctx context.Context, idle time.Duration) (int, error)
}

// Stored is a committed blob as a listing sees it.
type Stored struct {
	Digest digest.Digest
	Size   int64
	// Modified is when the blob was last written (a Put of an existing blob writes it
	// again), by the clock of whatever keeps it: the filesystem's, the S3 server's.
	Modified time.Time
}

// Lister lists committed blobs: garbage collection compares them with what the database
// records, and deletes (Deleter) those nothing links once older than its grace period.
type Lister interface {
	// List calls fn for every committed blob, in no particular order, and stops at the
	// first error fn returns (List returns it). A blob written or deleted while List runs
	// may or may not be passed.
	List(ctx context.Context, fn func(Stored) error) error
}

// Store is a complete blob backend.
type Store interface {
	Stater
	Opener
	Putter
	Deleter
	Lister
	Uploader
	UploadSweeper
}

// Validate checks that d is a well-formed sha256 or sha512 digest.
func Validate(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return errors.Join(ErrUnsupportedDigest, err)
	}
	switch d.Algorithm() {
	case digest.SHA256, digest.SHA512:
		return nil
	}
	return ErrUnsupportedDigest
}
