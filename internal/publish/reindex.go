package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	blobs3 "github.com/chartroom/chartroom/internal/blob/s3"
	"github.com/chartroom/chartroom/internal/staticindex"
)

// ReindexResult is what Reindex did.
type ReindexResult struct {
	// Index is index.yaml's object, s3://bucket/key.
	Index string `json:"index"`
	// Charts is the number of chart names, Versions the number of entries.
	Charts   int `json:"charts"`
	Versions int `json:"versions"`
	// Skipped lists the archives left out and why (keys relative to the prefix).
	Skipped []staticindex.Skipped `json:"-"`
	// Attempts is how many index writes were tried.
	Attempts int `json:"attempts"`
}

// Reindex rebuilds index.yaml from the archives in the bucket: the objects
// <prefix>/*.tgz and <prefix>/*/*.tgz, the files `helm repo index` and `chartroom index`
// read in a directory. The index written is byte for byte the one `chartroom index` writes
// for a directory holding the same archives at the same paths (with the same time): URLs
// relative to index.yaml, invalid archives left out (listed in Skipped). Entries of the old
// index without an archive in the bucket are dropped.
//
// The write is conditional on the index read before the archives were listed, so a publish
// that lands meanwhile is not lost: the reindex then starts over.
func (b *Bucket) Reindex(ctx context.Context) (*ReindexResult, error) {
	stage, err := os.MkdirTemp("", "chartroom-reindex-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)
	have := map[string]string{} // relative path in stage → ETag of the object downloaded there
	res := &ReindexResult{Index: b.url(IndexName)}
	for attempt := 1; ; attempt++ {
		etag, err := b.indexETag(ctx)
		if err != nil {
			return nil, err
		}
		skipped, err := b.mirror(ctx, stage, have)
		if err != nil {
			return nil, err
		}
		ix, err := staticindex.Build(ctx, stage, staticindex.Options{Now: b.opts.Now()})
		if err != nil {
			return nil, err
		}
		res.Attempts = attempt
		ok, err := b.writeIndex(ctx, ix, etag)
		if err != nil {
			return nil, err
		}
		if ok {
			res.Charts, res.Versions = ix.Charts(), len(ix.Entries)
			res.Skipped = append(skipped, ix.Skipped...)
			return res, nil
		}
		if attempt >= b.opts.MaxAttempts {
			return nil, fmt.Errorf("%w: %d writes of %s in a row found it changed by publishers: run the reindex again when they are done", ErrContended, attempt, b.url(IndexName))
		}
		if err := b.wait(ctx, attempt); err != nil {
			return nil, err
		}
	}
}

// indexETag is index.yaml's ETag, "" when there is none.
func (b *Bucket) indexETag(ctx context.Context) (string, error) {
	key := b.key(IndexName)
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.cfg.Bucket, Key: &key})
	if blobs3.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", b.failed("read "+b.url(IndexName), err)
	}
	if aws.ToString(out.ETag) == "" {
		return "", fmt.Errorf("%s: the service gave no ETag for %s, without which the index cannot be changed safely: use a service that gives ETags and honours If-Match on PUT", b, b.url(IndexName))
	}
	return aws.ToString(out.ETag), nil
}

// mirror makes stage hold the bucket's archives (the keys helm's glob would find in a
// directory) at their paths below the prefix, downloading only what changed since have
// (path → ETag) was filled, and removing what is gone. Keys no directory could hold
// (empty, "." or ".." segments) are skipped.
func (b *Bucket) mirror(ctx context.Context, stage string, have map[string]string) ([]staticindex.Skipped, error) {
	prefix := b.key("")
	want := map[string]string{}
	var skipped []staticindex.Skipped
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.cfg.Bucket, Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, b.failed("list "+b.url(""), err)
		}
		for _, o := range page.Contents {
			rel := strings.TrimPrefix(aws.ToString(o.Key), prefix)
			if !archivePath(rel) {
				continue
			}
			if !cleanPath(rel) {
				skipped = append(skipped, staticindex.Skipped{Path: rel, Err: errors.New("the key is no file path a directory can hold")})
				continue
			}
			want[rel] = aws.ToString(o.ETag)
		}
	}
	for rel, etag := range have {
		if want[rel] != etag {
			if err := os.Remove(filepath.Join(stage, filepath.FromSlash(rel))); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
			delete(have, rel)
		}
	}
	for rel, etag := range want {
		if _, ok := have[rel]; ok {
			continue
		}
		err := b.download(ctx, rel, filepath.Join(stage, filepath.FromSlash(rel)))
		if blobs3.IsNotFound(err) {
			continue // deleted since the listing
		}
		if err != nil {
			return nil, err
		}
		have[rel] = etag
	}
	return skipped, nil
}

// archivePath reports whether a path relative to the prefix is one Helm's globs *.tgz and
// **/*.tgz (one level of subdirectories in Go) find in a directory.
func archivePath(rel string) bool {
	top, _ := path.Match("*.tgz", rel)
	sub, _ := path.Match("*/*.tgz", rel)
	return top || sub
}

// cleanPath reports whether a relative path is one a directory can hold as it is.
func cleanPath(rel string) bool {
	for _, seg := range strings.Split(rel, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

func (b *Bucket) download(ctx context.Context, rel, dest string) error {
	key := b.key(rel)
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.cfg.Bucket, Key: &key})
	if blobs3.IsNotFound(err) {
		return err
	}
	if err != nil {
		return b.failed("read "+b.url(rel), err)
	}
	defer out.Body.Close()
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	f, err := os.Create(dest)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, out.Body); err != nil {
		f.Close()
		return fmt.Errorf("read %s: %w", b.url(rel), err)
	}
	return f.Close()
}
