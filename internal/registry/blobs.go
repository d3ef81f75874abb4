package registry

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/blob"
	"github.com/chartroom/chartroom/internal/meta"
)

var emptyDigest = digest.FromBytes(nil)

func isNotFound(err error) bool {
	return errors.Is(err, blob.ErrNotFound) || errors.Is(err, meta.ErrNotFound)
}

// mapBlobErr turns storage errors into domain errors, keeping the detail.
func mapBlobErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, blob.ErrDigestMismatch):
		return fmt.Errorf("%w: %v", ErrDigestInvalid, err)
	case errors.Is(err, blob.ErrSizeMismatch):
		return fmt.Errorf("%w: %v", ErrSizeInvalid, err)
	case errors.Is(err, blob.ErrUploadOffset):
		return fmt.Errorf("%w: %v", ErrRangeInvalid, err)
	case errors.Is(err, blob.ErrUploadNotFound):
		return fmt.Errorf("%w: %v", ErrUploadUnknown, err)
	case errors.Is(err, blob.ErrUnsupportedDigest):
		return fmt.Errorf("%w: %v", ErrDigestInvalid, err)
	case errors.Is(err, blob.ErrTooLarge):
		return fmt.Errorf("%w: %v", ErrTooLarge, err)
	case isNotFound(err):
		return fmt.Errorf("%w: %v", ErrBlobUnknown, err)
	}
	return err
}

// StatBlob returns the size of blob d in repo.
func (r *Registry) StatBlob(ctx context.Context, repo string, d digest.Digest) (int64, error) {
	if err := ValidateName(repo); err != nil {
		return 0, err
	}
	if err := blob.Validate(d); err != nil {
		return 0, mapBlobErr(err)
	}
	size, err := r.db.RepositoryBlob(ctx, repo, d)
	if errors.Is(err, meta.ErrNotFound) {
		if b, aerr := r.artifactHubBlob(ctx, repo, d); aerr != nil || b != nil {
			return int64(len(b)), aerr
		}
	}
	return size, mapBlobErr(err)
}

// OpenBlob returns blob d of repo from offset on, and the blob's full size.
// The reader may be an *os.File (so the HTTP server can use sendfile).
func (r *Registry) OpenBlob(ctx context.Context, repo string, d digest.Digest, offset int64) (io.ReadCloser, int64, error) {
	if err := ValidateName(repo); err != nil {
		return nil, 0, err
	}
	if err := blob.Validate(d); err != nil {
		return nil, 0, mapBlobErr(err)
	}
	size, err := r.db.RepositoryBlob(ctx, repo, d)
	var mem []byte
	if errors.Is(err, meta.ErrNotFound) {
		if mem, err = r.artifactHubBlob(ctx, repo, d); err == nil && mem == nil {
			err = meta.ErrNotFound
		}
		size = int64(len(mem))
	}
	if err != nil {
		return nil, 0, mapBlobErr(err)
	}
	if offset < 0 || offset > size {
		return nil, 0, fmt.Errorf("%w: offset %d is outside the blob's %d bytes", ErrRangeInvalid, offset, size)
	}
	if mem != nil {
		return memBlob{bytes.NewReader(mem[offset:])}, size, nil
	}
	rc, err := r.blobs.Open(ctx, d, offset)
	if err != nil {
		return nil, 0, mapBlobErr(err)
	}
	return rc, size, nil
}

// BlobRedirectExpiry is how long a URL from BlobURL is valid: long enough for a client to
// follow the redirect, short enough that a URL copied elsewhere soon stops working.
const BlobRedirectExpiry = 5 * time.Minute

// blobURLer is a blob store that makes URLs by which a client reads a blob from the store
// itself, with no credentials of its own (blob/s3's presigned URLs).
type blobURLer interface {
	PresignGet(ctx context.Context, d digest.Digest, expiry time.Duration) (string, error)
}

// BlobURL returns a URL by which a client reads blob d of repo straight from the blob store,
// valid for BlobRedirectExpiry, when Options.RedirectBlobs is on and the store can make one;
// "" otherwise (then OpenBlob serves it). Like StatBlob, it fails for a blob repo does not hold.
func (r *Registry) BlobURL(ctx context.Context, repo string, d digest.Digest) (string, error) {
	u, ok := r.blobs.(blobURLer)
	if !r.opts.RedirectBlobs || !ok {
		return "", nil
	}
	if err := ValidateName(repo); err != nil {
		return "", err
	}
	if err := blob.Validate(d); err != nil {
		return "", mapBlobErr(err)
	}
	_, err := r.db.RepositoryBlob(ctx, repo, d)
	if errors.Is(err, meta.ErrNotFound) {
		return "", nil // perhaps a blob the registry makes (artifacthub.go): OpenBlob knows
	}
	if err != nil {
		return "", mapBlobErr(err)
	}
	return u.PresignGet(ctx, d, BlobRedirectExpiry)
}

// DeleteBlob makes blob d unreadable in repo.
func (r *Registry) DeleteBlob(ctx context.Context, repo string, d digest.Digest) error {
	if _, err := r.StatBlob(ctx, repo, d); err != nil {
		return err
	}
	return mapBlobErr(r.db.UnlinkBlob(ctx, repo, d))
}

// MountBlob makes blob d, held by repository from, readable in repo without copying it.
// With from empty, any repository's copy is mounted. It returns the blob's size, or
// ErrBlobUnknown when there is nothing to mount (the caller then starts an upload).
// Whether the caller may read from is the caller's check.
func (r *Registry) MountBlob(ctx context.Context, repo, from string, d digest.Digest) (int64, error) {
	if err := ValidateName(repo); err != nil {
		return 0, err
	}
	if err := blob.Validate(d); err != nil {
		return 0, mapBlobErr(err)
	}
	if from != "" {
		if err := ValidateName(from); err != nil {
			return 0, err
		}
	}
	// One transaction: a garbage collection cannot take the blob away between the check
	// that from holds it and the link.
	size, err := r.db.MountBlob(ctx, repo, from, d)
	return size, mapBlobErr(err)
}

// BlobRepositories lists, in name order, at most n repositories that hold blob d (n ≤ 0:
// all): where a mount without a source repository may take it from.
func (r *Registry) BlobRepositories(ctx context.Context, d digest.Digest, n int) ([]string, error) {
	if err := blob.Validate(d); err != nil {
		return nil, mapBlobErr(err)
	}
	return r.db.BlobRepositories(ctx, d, n)
}

// PutBlob stores a whole blob sent in one request. size is the announced length (-1: unknown).
func (r *Registry) PutBlob(ctx context.Context, repo string, d digest.Digest, size int64, body io.Reader) (int64, error) {
	if err := ValidateName(repo); err != nil {
		return 0, err
	}
	if err := blob.Validate(d); err != nil {
		return 0, mapBlobErr(err)
	}
	if err := r.checkBlobSize(size); err != nil {
		return 0, err
	}
	info, err := r.blobs.Put(ctx, d, size, r.limit(body))
	if err != nil {
		return 0, mapBlobErr(err)
	}
	return info.Size, r.linkBlob(ctx, repo, d, info.Size)
}

func (r *Registry) checkBlobSize(size int64) error {
	if r.opts.MaxBlobSize > 0 && size > r.opts.MaxBlobSize {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, size, r.opts.MaxBlobSize)
	}
	return nil
}

// limit caps a body at MaxBlobSize, failing with ErrTooLarge past it.
func (r *Registry) limit(body io.Reader) io.Reader {
	if r.opts.MaxBlobSize <= 0 {
		return body
	}
	return &limitedReader{r: body, left: r.opts.MaxBlobSize, max: r.opts.MaxBlobSize}
}

type limitedReader struct {
	r         io.Reader
	left, max int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, fmt.Errorf("%w: the limit is %d bytes", blob.ErrTooLarge, l.max)
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, fmt.Errorf("%w: the limit is %d bytes", blob.ErrTooLarge, l.max)
	}
	return n, err
}

// Uploads. An upload id is random bytes plus an HMAC binding them to the repository, so any
// replica can check, without a lookup, that a PATCH or PUT continues an upload of that repository.

func (r *Registry) uploadMAC(repo, nonce string) string {
	m := hmac.New(sha256.New, r.uploadKey)
	m.Write([]byte(repo))
	m.Write([]byte{0})
	m.Write([]byte(nonce))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

func (r *Registry) checkUpload(repo, id string) error {
	if err := ValidateName(repo); err != nil {
		return err
	}
	if len(id) != 65 || id[32] != '-' || !hmac.Equal([]byte(id[33:]), []byte(r.uploadMAC(repo, id[:32]))) {
		return fmt.Errorf("%w: %q is not an upload of %s; start a new upload with POST", ErrUploadUnknown, id, repo)
	}
	return nil
}

// StartUpload opens an upload session in repo for user and returns its id. A user may have
// Options.MaxUploadsPerUser sessions open at once (ErrTooManyUploads beyond); finishing,
// cancelling or the expiry of one frees its place.
func (r *Registry) StartUpload(ctx context.Context, repo, user string) (string, error) {
	if err := ValidateName(repo); err != nil {
		return "", err
	}
	if err := r.refuseProxyRepo(ctx, repo, "push to"); err != nil {
		return "", err
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	nonce := hex.EncodeToString(b[:])
	id := nonce + "-" + r.uploadMAC(repo, nonce)
	if max := r.opts.MaxUploadsPerUser; max > 0 {
		r.uploadsMu.Lock()
		defer r.uploadsMu.Unlock()
		open, err := r.openUploads(ctx, user)
		if err != nil {
			return "", fmt.Errorf("start upload in %s: %w", repo, err)
		}
		if open >= max {
			return "", fmt.Errorf("%w: %s has %d upload sessions open, the most a user may have: finish or cancel (DELETE) one, or wait: sessions idle for more than %s are removed", ErrTooManyUploads, userName(user), open, r.opts.UploadExpiry)
		}
	}
	if err := r.blobs.CreateUpload(ctx, id, user); err != nil {
		return "", fmt.Errorf("start upload in %s: %w", repo, err)
	}
	return id, nil
}

// openUploads counts user's open upload sessions.
func (r *Registry) openUploads(ctx context.Context, user string) (int, error) {
	list, err := r.blobs.Uploads(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, u := range list {
		if u.Owner == user {
			n++
		}
	}
	return n, nil
}

func userName(user string) string {
	if user == "" {
		return "the anonymous user"
	}
	return "user " + user
}

// ExpireUploads ends the upload sessions idle for longer than Options.UploadExpiry and
// returns how many it ended. A server calls it at start and periodically.
func (r *Registry) ExpireUploads(ctx context.Context) (int, error) {
	n, err := r.blobs.ExpireUploads(ctx, r.opts.UploadExpiry)
	if err != nil {
		return n, fmt.Errorf("expire upload sessions idle for %s: %w", r.opts.UploadExpiry, err)
	}
	return n, nil
}

// UploadOffset returns how many bytes the upload holds.
func (r *Registry) UploadOffset(ctx context.Context, repo, id string) (int64, error) {
	if err := r.checkUpload(repo, id); err != nil {
		return 0, err
	}
	n, err := r.blobs.UploadSize(ctx, id)
	return n, mapBlobErr(err)
}

// AppendUpload appends a chunk at offset (-1: wherever the upload ends) and returns the new size.
func (r *Registry) AppendUpload(ctx context.Context, repo, id string, offset int64, body io.Reader) (int64, error) {
	cur, err := r.UploadOffset(ctx, repo, id)
	if err != nil {
		return 0, err
	}
	if offset < 0 {
		offset = cur
	}
	if r.opts.MaxBlobSize > 0 {
		body = &limitedReader{r: body, left: r.opts.MaxBlobSize - offset, max: r.opts.MaxBlobSize}
	}
	n, err := r.blobs.AppendUpload(ctx, id, offset, body)
	return n, mapBlobErr(err)
}

// FinishUpload appends the final chunk (body may be nil) and commits the upload as blob d,
// which must match the bytes. offset is where body starts (-1: wherever the upload ends).
// It returns the blob's size.
func (r *Registry) FinishUpload(ctx context.Context, repo, id string, d digest.Digest, offset int64, body io.Reader) (int64, error) {
	cur, err := r.UploadOffset(ctx, repo, id)
	if err != nil {
		return 0, err
	}
	if err := blob.Validate(d); err != nil {
		return 0, mapBlobErr(err)
	}
	if body != nil && cur == 0 && offset <= 0 {
		// Monolithic upload (POST, then PUT with everything): write the blob in one pass.
		info, err := r.blobs.Put(ctx, d, -1, r.limit(body))
		_ = r.blobs.AbortUpload(ctx, id)
		if err != nil {
			return 0, mapBlobErr(err)
		}
		return info.Size, r.linkBlob(ctx, repo, d, info.Size)
	}
	if body != nil {
		if _, err := r.AppendUpload(ctx, repo, id, offset, body); err != nil {
			return 0, err
		}
	}
	info, err := r.blobs.CommitUpload(ctx, id, d)
	if err != nil {
		return 0, mapBlobErr(err)
	}
	return info.Size, r.linkBlob(ctx, repo, d, info.Size)
}

// CancelUpload discards an upload.
func (r *Registry) CancelUpload(ctx context.Context, repo, id string) error {
	if err := r.checkUpload(repo, id); err != nil {
		return err
	}
	return mapBlobErr(r.blobs.AbortUpload(ctx, id))
}
