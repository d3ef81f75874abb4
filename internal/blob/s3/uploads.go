package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/blob"
)

// session is the state object of a resumable upload: what its bytes are and where they are.
// Its bytes are the parts of the multipart upload Upload, in order, then the tail object.
type session struct {
	Owner string `json:"owner"`
	// Active is when the upload was created or last appended to, by the store's clock.
	Active time.Time `json:"active"`
	// Marker is the name of the activity marker written for Active.
	Marker string `json:"marker"`
	// Size is how many bytes the upload holds.
	Size int64 `json:"size"`
	// Hash is the sha256 state after Size bytes (encoding.BinaryMarshaler).
	Hash []byte `json:"hash"`
	// Upload is the id of the multipart upload at uploads/<id>/data; "" until the first
	// part is full.
	Upload string `json:"upload,omitempty"`
	Parts  []part `json:"parts,omitempty"`
	// Tail is the name of the object holding the bytes after the parts ("" for none).
	Tail     string `json:"tail,omitempty"`
	TailSize int64  `json:"tailSize,omitempty"`
	// Ended is set when the session is over (committing, aborted, expired) while its objects
	// are being removed: nothing may use it any more.
	Ended string `json:"ended,omitempty"`
}

type part struct {
	N    int32  `json:"n"`
	ETag string `json:"etag"`
	Size int64  `json:"size"`
}

var uploadIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// uploadKey is the key of name inside upload id's folder.
func (s *Store) uploadKey(id, name string) string { return s.key("uploads/" + id + "/" + name) }

func checkID(id string) error {
	if !uploadIDPattern.MatchString(id) {
		return fmt.Errorf("upload %q: %w", id, blob.ErrUploadNotFound)
	}
	return nil
}

// markerName names the activity marker of an upload active at t, started by owner.
func markerName(t time.Time, owner string) string {
	return fmt.Sprintf("active-%020d-%s", t.UnixNano(), hex.EncodeToString([]byte(owner)))
}

// parseMarker reads a marker name.
func parseMarker(name string) (time.Time, string, bool) {
	if len(name) < 28 || name[:7] != "active-" || name[27] != '-' {
		return time.Time{}, "", false
	}
	ns, err := strconv.ParseInt(name[7:27], 10, 64)
	owner, herr := hex.DecodeString(name[28:])
	if err != nil || herr != nil {
		return time.Time{}, "", false
	}
	return time.Unix(0, ns), string(owner), true
}

// uploadLock serialises operations on one upload within this process (across processes the
// conditional writes of the state object do).
type uploadLock struct {
	sync.Mutex
	refs int
}

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

// readSession reads upload id's state and its ETag. ErrUploadNotFound when there is none or
// it has ended.
func (s *Store) readSession(ctx context.Context, id string) (*session, string, error) {
	key := s.uploadKey(id, "state")
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
	if isNotFound(err) {
		return nil, "", blob.ErrUploadNotFound
	}
	if err != nil {
		return nil, "", fmt.Errorf("read the state of upload %s in %s: %w", id, s, err)
	}
	defer out.Body.Close()
	var st session
	if err := json.NewDecoder(io.LimitReader(out.Body, 1<<20)).Decode(&st); err != nil {
		return nil, "", fmt.Errorf("upload %s in %s: corrupt state: %w", id, s, err)
	}
	if st.Ended != "" {
		return &st, aws.ToString(out.ETag), blob.ErrUploadNotFound
	}
	return &st, aws.ToString(out.ETag), nil
}

// writeSession writes upload id's state: only if its ETag is still etag, or, with etag "",
// only if there is none. errChanged when that condition fails.
func (s *Store) writeSession(ctx context.Context, id string, st *session, etag string) error {
	body, err := json.Marshal(st)
	if err != nil {
		return err
	}
	key := s.uploadKey(id, "state")
	in := &s3.PutObjectInput{Bucket: &s.cfg.Bucket, Key: &key, Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String("application/json")}
	if etag == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(etag)
	}
	_, err = s.client.PutObject(ctx, in)
	if isConflict(err) {
		return errChanged
	}
	if err != nil {
		return fmt.Errorf("write the state of upload %s in %s: %w", id, s, err)
	}
	return nil
}

func restoreHash(st *session) (hash.Hash, error) {
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.Hash); err != nil {
		return nil, fmt.Errorf("corrupt upload state: %w", err)
	}
	return h, nil
}

func marshalHash(h hash.Hash) []byte {
	b, _ := h.(encoding.BinaryMarshaler).MarshalBinary() // sha256's never fails
	return b
}

// CreateUpload implements blob.Uploader.
func (s *Store) CreateUpload(ctx context.Context, id, owner string) error {
	if err := checkID(id); err != nil {
		return err
	}
	defer s.lock(id)()
	now := s.now()
	st := &session{Owner: owner, Active: now, Marker: markerName(now, owner), Hash: marshalHash(sha256.New())}
	if err := s.writeSession(ctx, id, st, ""); err != nil {
		if errors.Is(err, errChanged) {
			return fmt.Errorf("create upload %s: it exists already", id)
		}
		return fmt.Errorf("create upload %s: %w", id, err)
	}
	if err := s.putObject(ctx, s.uploadKey(id, st.Marker), nil); err != nil {
		s.removeSession(ctx, id, st)
		return fmt.Errorf("create upload %s in %s: %w", id, s, err)
	}
	return nil
}

// UploadSize implements blob.Uploader.
func (s *Store) UploadSize(ctx context.Context, id string) (int64, error) {
	if err := checkID(id); err != nil {
		return 0, err
	}
	st, _, err := s.readSession(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("upload %s: %w", id, err)
	}
	return st.Size, nil
}

// AppendUpload implements blob.Uploader. The bytes not yet in a part (the tail, at most one
// part) are read back and joined with the chunk; every full part is uploaded; what is left
// becomes the new tail object; the new state, written only if nobody changed the upload
// meanwhile, makes the append count. Until then the upload is as it was.
func (s *Store) AppendUpload(ctx context.Context, id string, offset int64, r io.Reader) (int64, error) {
	if err := checkID(id); err != nil {
		return 0, err
	}
	defer s.lock(id)()
	st, etag, err := s.readSession(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("append to upload %s: %w", id, err)
	}
	if offset != st.Size {
		return st.Size, fmt.Errorf("append to upload %s at %d: %w (it ends at %d)", id, offset, blob.ErrUploadOffset, st.Size)
	}
	h, err := restoreHash(st)
	if err != nil {
		return st.Size, fmt.Errorf("append to upload %s: %w", id, err)
	}
	next := *st
	next.Parts = append([]part(nil), st.Parts...)
	a := &appender{s: s, id: id, next: &next}
	added, err := a.run(ctx, r, h)
	if err == nil {
		next.Size = st.Size + added
		next.Hash = marshalHash(h)
		next.Active = s.now()
		next.Marker = markerName(next.Active, st.Owner)
		err = s.writeSession(ctx, id, &next, etag)
		if errors.Is(err, errChanged) {
			err = fmt.Errorf("%w: %w", blob.ErrUploadOffset, errChanged)
		}
	}
	if err != nil {
		a.undo(ctx)
		return st.Size, fmt.Errorf("append to upload %s: %w", id, err)
	}
	// The append stands; what follows only tidies up (or marks the activity for listing:
	// the state holds the authoritative time).
	if next.Marker != st.Marker {
		_ = s.putObject(ctx, s.uploadKey(id, next.Marker), nil)
		s.deleteKey(ctx, s.uploadKey(id, st.Marker))
	}
	if st.Tail != "" && next.Tail != st.Tail {
		s.deleteKey(ctx, s.uploadKey(id, st.Tail))
	}
	return next.Size, nil
}

// appender uploads one chunk's parts and tail for AppendUpload.
type appender struct {
	s       *Store
	id      string
	next    *session
	created string // a multipart upload this append started
	tail    string // a tail object this append wrote
}

// run reads r to its end, uploading each full part, and leaves next describing the result
// (but for size, hash and activity). It returns how many bytes r gave.
func (a *appender) run(ctx context.Context, r io.Reader, h hash.Hash) (int64, error) {
	s, next := a.s, a.next
	buf, release := s.getBuf(s.partSize(len(next.Parts) + 1))
	defer func() { release() }()
	n := 0
	if next.Tail != "" {
		if next.TailSize <= 0 || next.TailSize >= int64(len(buf)) {
			return 0, fmt.Errorf("corrupt upload state: a tail of %d bytes", next.TailSize)
		}
		if err := s.readInto(ctx, s.uploadKey(a.id, next.Tail), buf[:next.TailSize]); err != nil {
			return 0, fmt.Errorf("read the tail of the upload: %w", err)
		}
		n = int(next.TailSize)
	}
	var added int64
	changed := false // the bytes after the parts are no longer the stored tail
	for {
		m, last, err := readPart(ctx, r, buf[n:], h)
		n += m
		added += int64(m)
		if m > 0 {
			changed = true
		}
		if err != nil {
			return 0, err
		}
		if n < len(buf) {
			break // last is true: r ended before the part filled
		}
		if err := a.uploadPart(ctx, buf[:n]); err != nil {
			return 0, err
		}
		n = 0
		if size := s.partSize(len(next.Parts) + 1); size != int64(len(buf)) {
			release()
			buf, release = s.getBuf(size)
		}
		if last {
			break
		}
	}
	if !changed {
		return 0, nil
	}
	next.Tail, next.TailSize = "", 0
	if n > 0 {
		a.tail = "tail-" + randomHex(8)
		if err := s.putObject(ctx, s.uploadKey(a.id, a.tail), buf[:n]); err != nil {
			return 0, fmt.Errorf("write the tail of the upload to %s: %w", s, err)
		}
		next.Tail, next.TailSize = a.tail, int64(n)
	}
	return added, nil
}

func (a *appender) uploadPart(ctx context.Context, data []byte) error {
	s, next := a.s, a.next
	num := len(next.Parts) + 1
	if num > maxParts {
		return fmt.Errorf("%w: more than %d bytes do not fit in one S3 multipart upload of %d parts; raise the part size", blob.ErrTooLarge, next.Size, maxParts)
	}
	key := s.uploadKey(a.id, "data")
	if next.Upload == "" {
		out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.cfg.Bucket, Key: &key})
		if err != nil {
			return fmt.Errorf("start a multipart upload in %s: %w", s, err)
		}
		next.Upload = aws.ToString(out.UploadId)
		a.created = next.Upload
	}
	etag, err := s.uploadPart(ctx, key, next.Upload, num, data)
	if err != nil {
		return err
	}
	next.Parts = append(next.Parts, part{N: int32(num), ETag: aws.ToString(etag), Size: int64(len(data))})
	return nil
}

// undo removes what a failed append wrote that no state names. Parts it added to an
// existing multipart upload stay, unnamed: a later append overwrites them, and completing
// the upload leaves them out.
func (a *appender) undo(ctx context.Context) {
	if a.created != "" {
		a.s.abortMultipart(ctx, a.s.uploadKey(a.id, "data"), a.created)
	}
	if a.tail != "" {
		a.s.deleteKey(ctx, a.s.uploadKey(a.id, a.tail))
	}
}

// CommitUpload implements blob.Uploader. For a sha256 digest the running hash proves the
// bytes before anything is written; the session is then claimed (so that no append or
// expiry can interfere), its multipart upload completed with the tail as last part, and the
// result copied to the blob's key. Other digests are checked by reading the completed
// object back. Whatever happens after the claim, the session ends.
func (s *Store) CommitUpload(ctx context.Context, id string, d digest.Digest) (blob.Info, error) {
	if err := checkID(id); err != nil {
		return blob.Info{}, err
	}
	key, err := s.blobKey(d)
	if err != nil {
		return blob.Info{}, err
	}
	defer s.lock(id)()
	st, etag, err := s.readSession(ctx, id)
	if err != nil {
		return blob.Info{}, fmt.Errorf("commit upload %s: %w", id, err)
	}
	var mismatch error
	if d.Algorithm() == digest.SHA256 {
		h, err := restoreHash(st)
		if err != nil {
			return blob.Info{}, fmt.Errorf("commit upload %s: %w", id, err)
		}
		mismatch = checkWritten(d, -1, st.Size, h)
	}
	st.Ended = "committing"
	if mismatch != nil {
		st.Ended = "digest mismatch"
	}
	if err := s.writeSession(ctx, id, st, etag); err != nil {
		if errors.Is(err, errChanged) {
			err = fmt.Errorf("%w: %w", blob.ErrUploadOffset, err)
		}
		return blob.Info{}, fmt.Errorf("commit upload %s: %w", id, err)
	}
	defer s.removeSession(ctx, id, st)
	if mismatch != nil {
		return blob.Info{}, fmt.Errorf("commit upload %s as %s: %w", id, d, mismatch)
	}
	if err := s.assemble(ctx, id, st, key, d); err != nil {
		return blob.Info{}, fmt.Errorf("commit upload %s as %s: %w", id, d, err)
	}
	return blob.Info{Digest: d, Size: st.Size}, nil
}

// assemble writes the bytes of upload id to key, checking them against d when the running
// hash could not (digests other than sha256).
func (s *Store) assemble(ctx context.Context, id string, st *session, key string, d digest.Digest) error {
	src := ""
	switch {
	case st.Upload != "":
		parts := make([]types.CompletedPart, 0, len(st.Parts)+1)
		for _, p := range st.Parts {
			parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(p.N), ETag: aws.String(p.ETag)})
		}
		data := s.uploadKey(id, "data")
		if st.Tail != "" {
			num := int32(len(st.Parts) + 1)
			out, err := s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: &s.cfg.Bucket, Key: &data,
				UploadId: &st.Upload, PartNumber: aws.Int32(num), CopySource: s.copySource(s.uploadKey(id, st.Tail))})
			if err != nil {
				return fmt.Errorf("add the tail as the last part in %s: %w", s, err)
			}
			parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.CopyPartResult.ETag})
		}
		if err := s.completeMultipart(ctx, data, st.Upload, parts); err != nil {
			return err
		}
		src = data
	case st.Tail != "":
		src = s.uploadKey(id, st.Tail)
	}
	if d.Algorithm() != digest.SHA256 {
		h := d.Algorithm().Hash()
		var n int64
		if src != "" {
			var err error
			if n, err = s.hashObject(ctx, src, h); err != nil {
				return err
			}
		}
		if err := checkWritten(d, st.Size, n, h); err != nil {
			return err
		}
	}
	if src == "" {
		if err := s.putObject(ctx, key, nil); err != nil {
			return fmt.Errorf("write %s to %s: %w", key, s, err)
		}
		return nil
	}
	return s.copyObject(ctx, src, key, st.Size)
}

// AbortUpload implements blob.Uploader.
func (s *Store) AbortUpload(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	defer s.lock(id)()
	if err := s.end(ctx, id, "aborted", time.Time{}); err != nil {
		return fmt.Errorf("abort upload %s: %w", id, err)
	}
	return nil
}

// end marks upload id ended for reason (if it was last active before cutoff, when cutoff is
// not zero) and removes it. ErrUploadNotFound when there is no such open upload; errIdle...
// errNotIdle when it was active since cutoff.
func (s *Store) end(ctx context.Context, id, reason string, cutoff time.Time) error {
	st, etag, err := s.readSession(ctx, id)
	if err != nil {
		return err
	}
	if !cutoff.IsZero() && !st.Active.Before(cutoff) {
		return errNotIdle
	}
	st.Ended = reason
	if err := s.writeSession(ctx, id, st, etag); err != nil {
		return err
	}
	s.removeSession(ctx, id, st)
	return nil
}

var errNotIdle = errors.New("active since")

// cleanupTimeout bounds the removal of an ended session's objects.
const cleanupTimeout = time.Minute

// removeSession deletes what upload id left in the bucket, the state last: its activity
// marker first (so that listings stop showing it), its multipart upload, every other
// object of its folder. It runs to the end even when ctx is cancelled; what it cannot
// remove, ExpireUploads removes later.
func (s *Store) removeSession(ctx context.Context, id string, st *session) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	s.deleteKey(ctx, s.uploadKey(id, st.Marker))
	if st.Upload != "" {
		s.abortMultipart(ctx, s.uploadKey(id, "data"), st.Upload)
	}
	keys, err := s.listKeys(ctx, s.uploadKey(id, ""))
	if err != nil {
		return
	}
	state := s.uploadKey(id, "state")
	for _, k := range keys {
		if k.key != state {
			s.deleteKey(ctx, k.key)
		}
	}
	s.deleteKey(ctx, state)
}

func (s *Store) deleteKey(ctx context.Context, key string) {
	_, _ = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
}

// object is one listed key.
type object struct {
	key      string
	modified time.Time
}

// listKeys lists every key under prefix.
func (s *Store) listKeys(ctx context.Context, prefix string) ([]object, error) {
	var out []object
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.cfg.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s in %s: %w", prefix, s, err)
		}
		for _, o := range page.Contents {
			out = append(out, object{key: aws.ToString(o.Key), modified: aws.ToTime(o.LastModified)})
		}
	}
	return out, nil
}
