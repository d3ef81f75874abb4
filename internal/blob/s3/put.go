package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/blob"
)

// Put implements blob.Putter. A blob that fits in one part is hashed in memory and written
// with one PutObject; a larger one is streamed, part by part, into a multipart upload at its
// key, completed only once the bytes are proven to hash to d (and aborted otherwise). At most
// one part is held in memory.
func (s *Store) Put(ctx context.Context, d digest.Digest, size int64, r io.Reader) (blob.Info, error) {
	key, err := s.blobKey(d)
	if err != nil {
		return blob.Info{}, err
	}
	h := d.Algorithm().Hash()
	buf, release := s.getBuf(s.partSize(1))
	defer release()
	n, last, err := readPart(ctx, r, buf, h)
	if err != nil {
		return blob.Info{}, fmt.Errorf("put %s: %w", d, err)
	}
	if last {
		if err := checkWritten(d, size, int64(n), h); err != nil {
			return blob.Info{}, fmt.Errorf("put %s: %w", d, err)
		}
		if err := s.putObject(ctx, key, buf[:n]); err != nil {
			return blob.Info{}, fmt.Errorf("put %s in %s: %w", d, s, err)
		}
		return blob.Info{Digest: d, Size: int64(n)}, nil
	}
	total, err := s.putMultipart(ctx, key, d, size, r, buf[:n], h)
	if err != nil {
		return blob.Info{}, fmt.Errorf("put %s: %w", d, err)
	}
	return blob.Info{Digest: d, Size: total}, nil
}

// putMultipart streams first (a full part, already hashed into h) and the rest of r into a
// multipart upload at key, completing it only if the whole hashes to d and numbers size
// bytes (size < 0: any).
func (s *Store) putMultipart(ctx context.Context, key string, d digest.Digest, size int64, r io.Reader, first []byte, h hash.Hash) (int64, error) {
	mpu, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.cfg.Bucket, Key: &key})
	if err != nil {
		return 0, fmt.Errorf("start a multipart upload in %s: %w", s, err)
	}
	id := aws.ToString(mpu.UploadId)
	done := false
	defer func() {
		if !done {
			s.abortMultipart(ctx, key, id)
		}
	}()
	var parts []types.CompletedPart
	total := int64(len(first))
	etag, err := s.uploadPart(ctx, key, id, 1, first)
	if err != nil {
		return 0, err
	}
	parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(1), ETag: etag})
	for {
		if size >= 0 && total > size {
			return 0, fmt.Errorf("%w: got more than %d bytes", blob.ErrSizeMismatch, size)
		}
		num := len(parts) + 1
		if num > maxParts {
			return 0, fmt.Errorf("%w: more than %d bytes do not fit in one S3 multipart upload of %d parts; raise the part size", blob.ErrTooLarge, total, maxParts)
		}
		buf, release := s.getBuf(s.partSize(num))
		n, last, err := readPart(ctx, r, buf, h)
		if err == nil && n > 0 {
			etag, err = s.uploadPart(ctx, key, id, num, buf[:n])
			parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(num)), ETag: etag})
			total += int64(n)
		}
		release()
		if err != nil {
			return 0, err
		}
		if last {
			break
		}
	}
	if err := checkWritten(d, size, total, h); err != nil {
		return 0, err
	}
	if err := s.completeMultipart(ctx, key, id, parts); err != nil {
		return 0, err
	}
	done = true
	return total, nil
}

// readPart fills buf from r, hashing what it reads into h. last says r ended (the part may
// then be shorter, or empty).
func readPart(ctx context.Context, r io.Reader, buf []byte, h hash.Hash) (n int, last bool, err error) {
	for n < len(buf) {
		if err := ctx.Err(); err != nil {
			return n, false, err
		}
		m, rerr := r.Read(buf[n:min(len(buf), n+readChunk)])
		if m > 0 {
			h.Write(buf[n : n+m])
			n += m
		}
		if rerr == io.EOF {
			return n, true, nil
		}
		if rerr != nil {
			return n, false, rerr
		}
	}
	return n, false, nil
}

// readChunk bounds one Read, so that cancellation is noticed between reads of a large part.
const readChunk = 1 << 20

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

func (s *Store) putObject(ctx context.Context, key string, data []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.cfg.Bucket, Key: &key,
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))})
	return err
}

func (s *Store) uploadPart(ctx context.Context, key, id string, num int, data []byte) (*string, error) {
	out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &s.cfg.Bucket, Key: &key, UploadId: &id,
		PartNumber: aws.Int32(int32(num)), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))})
	if err != nil {
		return nil, fmt.Errorf("upload part %d of %s to %s: %w", num, key, s, err)
	}
	return out.ETag, nil
}

func (s *Store) completeMultipart(ctx context.Context, key, id string, parts []types.CompletedPart) error {
	_, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.cfg.Bucket, Key: &key,
		UploadId: &id, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		return fmt.Errorf("complete the multipart upload of %s in %s: %w", key, s, err)
	}
	return nil
}

// abortMultipart discards a multipart upload, also when ctx is cancelled (a client that went
// away must not leave its parts to be paid for). Failures are left to ExpireUploads.
func (s *Store) abortMultipart(ctx context.Context, key, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, _ = s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.cfg.Bucket, Key: &key, UploadId: &id})
}

// copySource is the CopySource of key: bucket/key, URL-escaped segment by segment.
func (s *Store) copySource(key string) *string {
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return aws.String(url.PathEscape(s.cfg.Bucket) + "/" + strings.Join(segs, "/"))
}

// copyObject copies src to dst inside the bucket, server-side: one CopyObject up to 5 GiB,
// a multipart copy of 1 GiB ranges beyond.
func (s *Store) copyObject(ctx context.Context, src, dst string, size int64) error {
	if size <= maxCopySize {
		_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &s.cfg.Bucket, Key: &dst, CopySource: s.copySource(src)})
		if err != nil {
			return fmt.Errorf("copy %s to %s in %s: %w", src, dst, s, err)
		}
		return nil
	}
	mpu, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.cfg.Bucket, Key: &dst})
	if err != nil {
		return fmt.Errorf("start copying %s to %s in %s: %w", src, dst, s, err)
	}
	id := aws.ToString(mpu.UploadId)
	var parts []types.CompletedPart
	const step = 1 << 30
	for off, num := int64(0), int32(1); off < size; off, num = off+step, num+1 {
		end := min(off+step, size) - 1
		out, err := s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: &s.cfg.Bucket, Key: &dst, UploadId: &id,
			PartNumber: aws.Int32(num), CopySource: s.copySource(src), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", off, end))})
		if err != nil {
			s.abortMultipart(ctx, dst, id)
			return fmt.Errorf("copy %s to %s in %s: part %d: %w", src, dst, s, num, err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.CopyPartResult.ETag})
	}
	if err := s.completeMultipart(ctx, dst, id, parts); err != nil {
		s.abortMultipart(ctx, dst, id)
		return err
	}
	return nil
}

// readInto reads object key, which must hold exactly len(dst) bytes, into dst.
func (s *Store) readInto(ctx context.Context, key string, dst []byte) error {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
	if err != nil {
		return err
	}
	defer out.Body.Close()
	if _, err := io.ReadFull(out.Body, dst); err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	if n, _ := out.Body.Read(make([]byte, 1)); n > 0 {
		return fmt.Errorf("read %s: longer than the %d bytes expected", key, len(dst))
	}
	return nil
}

// hashObject hashes a whole object into h and returns its size.
func (s *Store) hashObject(ctx context.Context, key string, h hash.Hash) (int64, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
	if err != nil {
		return 0, err
	}
	defer out.Body.Close()
	n, err := io.Copy(h, out.Body)
	if err != nil {
		return n, fmt.Errorf("read %s: %w", key, err)
	}
	return n, nil
}

var errChanged = errors.New("the upload was changed by another request meanwhile")
