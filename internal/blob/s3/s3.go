// Package s3 stores blobs in a bucket of an S3-compatible object store (AWS S3, MinIO,
// versitygw, Ceph RGW, …) under one key prefix:
//
//	<prefix>/blobs/<algorithm>/<first two hex>/<hex>     committed blobs
//	<prefix>/uploads/<id>/state                          a resumable upload's state (JSON)
//	<prefix>/uploads/<id>/active-<nanos>-<hex owner>     its owner and last activity, for listing
//	<prefix>/uploads/<id>/tail-<random>                  its bytes not yet in a part
//	<prefix>/uploads/<id>/data                           its multipart upload (and, at commit, the whole)
//
// Nothing is ever visible under a blob's key before its bytes were proven to hash to its
// digest. A whole blob (Put) is streamed in parts of a multipart upload straight to its key,
// hashed on the way, and the upload is completed only when the digest matches (aborted
// otherwise); a blob smaller than one part is one PutObject of bytes already hashed.
//
// A resumable upload lives in the bucket, not in one process, so any replica continues it.
// Its state object holds the size so far, the running sha256 state, the multipart upload's
// id and its parts; every change of it is a conditional write on its ETag (If-Match), so
// of two replicas appending to one upload at once only one succeeds and the other fails
// without effect. Parts must be at least 5 MiB (S3's rule) except the last: bytes that do
// not yet fill a part are kept in a small tail object, named in the state, and joined with
// the next chunk. Committing uploads the tail as the last part (a server-side copy),
// completes the multipart upload at uploads/<id>/data, and copies that object server-side
// to the blob's key (S3 cannot rename): the digest is only known at the end of an upload.
package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/blob"
)

// Part sizes. S3 takes at most maxParts parts per multipart upload, each at least
// MinPartSize except the last.
const (
	// MinPartSize is the smallest part S3 accepts (but for the last).
	MinPartSize = 5 << 20
	// DefaultPartSize is Options.PartSize's default.
	DefaultPartSize = 8 << 20
	maxParts        = 10000
	// partsPerStep parts are of each size: the part size grows by PartSize every
	// partsPerStep parts, so that 10,000 parts hold 55,000 × PartSize (430 GiB at 8 MiB)
	// while a blob below 1,000 parts never holds more than one PartSize in memory.
	partsPerStep = 1000
	// maxCopySize is the largest object one CopyObject copies; larger ones are copied in parts.
	maxCopySize = 5 << 30
)

// Options tune a Store. The zero value is the documented default of each field.
type Options struct {
	// PartSize is the size of the parts of multipart uploads (the first thousand; then it
	// grows, see partsPerStep), and so the memory one upload in progress holds; at least
	// MinPartSize. 0 means DefaultPartSize.
	PartSize int64
	// Now is the store's clock, which marks when an upload was last active
	// (blob.UploadInfo.LastActive, ExpireUploads); nil means time.Now.
	Now func() time.Time
	// HTTPClient sends the requests; nil means the SDK's default client.
	HTTPClient s3.HTTPClient
}

// Store is a blob.Store in an S3 bucket.
type Store struct {
	cfg     Config
	client  *s3.Client
	presign *s3.PresignClient
	part    int64
	now     func() time.Time
	bufs    sync.Pool // *[]byte of part bytes

	mu      sync.Mutex
	uploads map[string]*uploadLock
}

var _ blob.Store = (*Store)(nil)

// New returns the store cfg describes. It sends no request: the first request shows whether
// the bucket is reachable (HasBlobs and CheckWritable are cheap ones).
func New(cfg Config, opts Options) (*Store, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if opts.PartSize == 0 {
		opts.PartSize = DefaultPartSize
	}
	if opts.PartSize < MinPartSize {
		return nil, fmt.Errorf("s3 part size %d: expected at least %d bytes (5 MiB, S3's smallest part)", opts.PartSize, MinPartSize)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	client, err := cfg.Client(opts.HTTPClient)
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, client: client, presign: s3.NewPresignClient(client), part: opts.PartSize,
		now: opts.Now, uploads: map[string]*uploadLock{}}
	s.bufs.New = func() any { b := make([]byte, s.part); return &b }
	return s, nil
}

// String names the store: its URL without credentials.
func (s *Store) String() string { return s.cfg.String() }

// key is the object key of a path inside the store.
func (s *Store) key(p string) string {
	if s.cfg.Prefix == "" {
		return p
	}
	return s.cfg.Prefix + "/" + p
}

func (s *Store) blobKey(d digest.Digest) (string, error) {
	if err := blob.Validate(d); err != nil {
		return "", fmt.Errorf("%q: %w", d, err)
	}
	h := d.Encoded()
	return s.key("blobs/" + string(d.Algorithm()) + "/" + h[:2] + "/" + h), nil
}

// partSize is the size of part n (1-based) of a multipart upload.
func (s *Store) partSize(n int) int64 {
	return s.part * int64(1+(n-1)/partsPerStep)
}

// getBuf returns a buffer of n bytes (pooled when n is the base part size) and its release.
func (s *Store) getBuf(n int64) ([]byte, func()) {
	if n != s.part {
		return make([]byte, n), func() {}
	}
	bp := s.bufs.Get().(*[]byte)
	return *bp, func() { s.bufs.Put(bp) }
}

// Errors of the S3 API, told apart by code and status.

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// isNotFound: no such key (or upload). A missing bucket is not "not found": it is a
// configuration error every request would hit.
func isNotFound(err error) bool {
	switch apiCode(err) {
	case "NoSuchKey", "NotFound", "NoSuchUpload":
		return true
	case "NoSuchBucket":
		return false
	}
	return httpStatus(err) == 404
}

// isConflict: a conditional write found the object changed (If-Match) or present
// (If-None-Match), or raced another conditional write.
func isConflict(err error) bool {
	switch apiCode(err) {
	case "PreconditionFailed", "ConditionalRequestConflict":
		return true
	}
	s := httpStatus(err)
	return s == 412 || s == 409 && apiCode(err) == ""
}

func isInvalidRange(err error) bool {
	return apiCode(err) == "InvalidRange" || httpStatus(err) == 416
}

// Stat implements blob.Stater.
func (s *Store) Stat(ctx context.Context, d digest.Digest) (blob.Info, error) {
	key, err := s.blobKey(d)
	if err != nil {
		return blob.Info{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
	if isNotFound(err) {
		return blob.Info{}, fmt.Errorf("stat %s: %w", d, blob.ErrNotFound)
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("stat %s in %s: %w", d, s, err)
	}
	return blob.Info{Digest: d, Size: aws.ToInt64(out.ContentLength)}, nil
}

// Open implements blob.Opener. The reader also seeks (io.Seeker): a seek moves where the
// next read starts, which a new ranged GET then serves.
func (s *Store) Open(ctx context.Context, d digest.Digest, offset int64) (io.ReadCloser, error) {
	key, err := s.blobKey(d)
	if err != nil {
		return nil, err
	}
	r := &objectReader{ctx: ctx, s: s, key: key, pos: offset, size: -1}
	if err := r.open(); err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("open %s: %w", d, blob.ErrNotFound)
		}
		return nil, fmt.Errorf("open %s at %d in %s: %w", d, offset, s, err)
	}
	return r, nil
}

// objectReader reads an object from pos on, with one GET until a seek moves elsewhere.
type objectReader struct {
	ctx  context.Context
	s    *Store
	key  string
	pos  int64
	size int64 // -1 until known
	body io.ReadCloser
}

// open starts the GET at pos.
func (r *objectReader) open() error {
	in := &s3.GetObjectInput{Bucket: &r.s.cfg.Bucket, Key: &r.key}
	if r.pos > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", r.pos))
	}
	out, err := r.s.client.GetObject(r.ctx, in)
	if isInvalidRange(err) {
		// Past the last byte: fine at the very end, an error beyond it.
		head, herr := r.s.client.HeadObject(r.ctx, &s3.HeadObjectInput{Bucket: &r.s.cfg.Bucket, Key: &r.key})
		if herr != nil {
			return herr
		}
		if size := aws.ToInt64(head.ContentLength); size != r.pos {
			return fmt.Errorf("offset %d is outside the blob's %d bytes", r.pos, size)
		}
		r.body = io.NopCloser(bytes.NewReader(nil))
		return nil
	}
	if err != nil {
		return err
	}
	r.body = out.Body
	return nil
}

func (r *objectReader) Read(p []byte) (int, error) {
	if r.body == nil {
		if err := r.open(); err != nil {
			return 0, fmt.Errorf("read %s at %d: %w", r.key, r.pos, err)
		}
	}
	n, err := r.body.Read(p)
	r.pos += int64(n)
	return n, err
}

// Seek implements io.Seeker for io.SeekStart and io.SeekCurrent.
func (r *objectReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.pos
	default:
		return r.pos, fmt.Errorf("seek %s: whence %d is not supported", r.key, whence)
	}
	if offset < 0 {
		return r.pos, fmt.Errorf("seek %s to %d: negative offset", r.key, offset)
	}
	if offset != r.pos {
		if r.body != nil {
			r.body.Close()
			r.body = nil
		}
		r.pos = offset
	}
	return r.pos, nil
}

func (r *objectReader) Close() error {
	if r.body == nil {
		return nil
	}
	err := r.body.Close()
	r.body = nil
	return err
}

// Delete implements blob.Deleter.
func (s *Store) Delete(ctx context.Context, d digest.Digest) error {
	if _, err := s.Stat(ctx, d); errors.Is(err, blob.ErrNotFound) {
		return fmt.Errorf("delete %s: %w", d, blob.ErrNotFound)
	} else if err != nil {
		return err
	}
	key, _ := s.blobKey(d)
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: &key}); err != nil {
		return fmt.Errorf("delete %s in %s: %w", d, s, err)
	}
	return nil
}

// HasBlobs reports whether the store holds at least one committed blob (one object under
// <prefix>/blobs/). It is one listing request, which also proves the bucket reachable.
func (s *Store) HasBlobs(ctx context.Context) (bool, error) {
	out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &s.cfg.Bucket,
		Prefix: aws.String(s.key("blobs/")), MaxKeys: aws.Int32(1)})
	if err != nil {
		return false, fmt.Errorf("blob store %s: %w", s, err)
	}
	return len(out.Contents) > 0, nil
}

// probePrefix starts the keys of readiness probes (beside blobs/ and uploads/).
const probePrefix = ".probe-"

// CheckWritable proves that the bucket takes writes now: it writes a one-byte object
// <prefix>/.probe-<random> and deletes it. It is cheap enough to back a readiness check.
func (s *Store) CheckWritable(ctx context.Context) error {
	key := s.key(probePrefix + randomHex(8))
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.cfg.Bucket, Key: &key,
		Body: bytes.NewReader([]byte{0}), ContentLength: aws.Int64(1)})
	if err == nil {
		_, err = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
	}
	if err != nil {
		return fmt.Errorf("blob store %s is not writable: %w", s, err)
	}
	return nil
}

// refusedCredentials are the error codes of S3 services for credentials they do not accept
// (XAdminUserNotFound is versitygw's, with status 404, for an unknown access key id).
var refusedCredentials = map[string]bool{"InvalidAccessKeyId": true, "SignatureDoesNotMatch": true,
	"AccessDenied": true, "InvalidToken": true, "ExpiredToken": true, "XAdminUserNotFound": true}

// CheckAccess proves that the store is usable, as a server checks at start: the endpoint
// answers, the bucket exists and the credentials may write to it (CheckWritable). Its error
// says which of these failed and what to check.
func (s *Store) CheckAccess(ctx context.Context) error {
	err := s.CheckWritable(ctx)
	if err == nil {
		return nil
	}
	var cause string
	switch code, status := apiCode(err), httpStatus(err); {
	case code == "NoSuchBucket":
		cause = "the bucket " + s.cfg.Bucket + " does not exist: create it, or fix the bucket name"
	case refusedCredentials[code] || status == 401 || status == 403:
		cause = "the service refused the credentials: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or storage-access-key-id and storage-secret-access-key in the config file), and that they may write to the bucket"
	case status == 0 && ctx.Err() == nil:
		cause = "the S3 service did not answer: check endpoint= of the storage URL and that the service runs"
	default:
		cause = "check the storage URL (bucket, endpoint, region, path-style) and the credentials"
	}
	return fmt.Errorf("%w; %s", err, cause)
}

// PresignGet returns a URL by which anyone may GET blob d for the next expiry, signed with
// the store's credentials; clients reach it at the endpoint's address. It sends no request
// and does not check that the blob exists.
func (s *Store) PresignGet(ctx context.Context, d digest.Digest, expiry time.Duration) (string, error) {
	key, err := s.blobKey(d)
	if err != nil {
		return "", err
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &key}, s3.WithPresignExpires(expiry))
	if err != nil {
		return "", fmt.Errorf("presign %s in %s: %w", d, s, err)
	}
	return req.URL, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
