// Package publish keeps a static chart repository in a plain S3 bucket: chart archives,
// their provenance files and index.yaml under one key prefix, served to helm by the bucket
// itself (`helm repo add NAME https://BUCKET-URL/PREFIX`). It is what helm-s3 does, without
// its lost updates:
//
//   - An archive is written to <prefix>/<name>-<version>.tgz (and its .prov beside it) only
//     if no object is there (If-None-Match: *), so a published version's bytes never change:
//     publishing it again with the same bytes is "already published", with other bytes a
//     refusal ([ErrImmutable]), and of two publishers racing with different bytes one wins.
//   - index.yaml is changed only by conditional writes: read with its ETag, the new entries
//     merged in, written back with If-Match on that ETag (If-None-Match: * when there was
//     none). When another publisher changed it meanwhile, the write fails without effect
//     and is retried on the new index after a jittered, growing wait; so concurrent
//     publishers never lose each other's entries.
//
// The index is the one `chartroom index` writes (internal/staticindex): entries rendered
// from each archive's Chart.yaml, sorted as Helm sorts them, URLs relative to index.yaml
// (so the bucket's URL works whatever it is). [Bucket.Reindex] rebuilds it from the
// archives in the bucket, byte for byte what `chartroom index` writes for them.
//
// The order of writes makes every crash harmless: archives (and .prov files) first, the
// index last. An archive whose index write never happened is not listed, and publishing the
// same file again, or a reindex, lists it.
package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	blobs3 "github.com/chartroom/chartroom/internal/blob/s3"
	"github.com/chartroom/chartroom/internal/provenance"
	"github.com/chartroom/chartroom/internal/staticindex"
)

// IndexName is the index's key below the prefix.
const IndexName = "index.yaml"

// Defaults of Options.
const (
	// DefaultMaxAttempts is how many times an index write is tried before giving up.
	DefaultMaxAttempts = 60
	// DefaultBackoff is the longest wait before the first retry; each retry doubles it.
	DefaultBackoff = 50 * time.Millisecond
	// DefaultMaxBackoff caps the longest wait between two attempts.
	DefaultMaxBackoff = 2 * time.Second
	// maxProvSize bounds a .prov, as chartroom serve bounds it (one made by helm package
	// --sign is a few KB).
	maxProvSize = 1 << 20
	// maxIndexSize bounds the index read from the bucket.
	maxIndexSize = 256 << 20
)

// Errors.
var (
	// ErrImmutable: the chart version is published already, with other bytes.
	ErrImmutable = errors.New("published versions are immutable")
	// ErrContended: the index changed under every attempt to write it.
	ErrContended = errors.New("index.yaml kept changing")
	// ErrBadIndex: the bucket's index.yaml is not one chartroom can add to without losing entries.
	ErrBadIndex = errors.New("the bucket's index.yaml cannot be added to")
)

// Options tune a Bucket. The zero value is the documented default of each field.
type Options struct {
	// HTTPClient sends the requests; nil means the SDK's default client.
	HTTPClient s3.HTTPClient
	// Now is the clock of the index's created and generated times; nil means time.Now.
	Now func() time.Time
	// MaxAttempts is how many times an index write is tried; 0 means DefaultMaxAttempts.
	MaxAttempts int
	// Backoff is the longest wait before the first retry of a write that lost a race,
	// doubled at each further retry up to MaxBackoff; each wait is drawn uniformly between
	// zero and that bound, so that racing publishers spread out. 0 means DefaultBackoff.
	Backoff time.Duration
	// MaxBackoff caps the bound of a wait; 0 means DefaultMaxBackoff.
	MaxBackoff time.Duration
}

// Bucket is a static chart repository in a bucket under a prefix.
type Bucket struct {
	cfg    blobs3.Config
	client *s3.Client
	opts   Options
}

// Open returns the repository cfg names (bucket, prefix, service, credentials: fill them
// in with cfg.FromEnv). It sends no request.
func Open(cfg blobs3.Config, opts Options) (*Bucket, error) {
	client, err := cfg.Client(opts.HTTPClient)
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.Backoff <= 0 {
		opts.Backoff = DefaultBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	return &Bucket{cfg: cfg, client: client, opts: opts}, nil
}

// key is the object key of a path below the prefix.
func (b *Bucket) key(p string) string {
	if b.cfg.Prefix == "" {
		return p
	}
	return b.cfg.Prefix + "/" + p
}

// url names an object in messages: s3://bucket/key.
func (b *Bucket) url(p string) string { return "s3://" + b.cfg.Bucket + "/" + b.key(p) }

// String names the repository: its URL without credentials.
func (b *Bucket) String() string { return b.cfg.String() }

// Status says what publishing did with one archive.
type Status string

const (
	// Published: the version is new in the index.
	Published Status = "published"
	// AlreadyPublished: the index listed the version with the same digest already.
	AlreadyPublished Status = "already published"
)

// Chart is one archive's outcome.
type Chart struct {
	// Archive is the local file.
	Archive string `json:"archive"`
	Name    string `json:"name"`
	Version string `json:"version"`
	// Digest is the archive's sha256 (hex), as in the index.
	Digest string `json:"digest"`
	// URL is the archive's object, s3://bucket/key.
	URL string `json:"url"`
	// Prov says a .prov was found beside the archive and is in the bucket beside it.
	Prov   bool   `json:"prov"`
	Status Status `json:"status"`
}

// Result is what Publish did.
type Result struct {
	// Index is index.yaml's object, s3://bucket/key.
	Index  string  `json:"index"`
	Charts []Chart `json:"charts"`
	// Attempts is how many index writes were tried (0 when every version was listed already).
	Attempts int `json:"attempts"`
	// Warnings are changes made to entries the index kept (e.g. extra URLs dropped).
	Warnings []string `json:"warnings,omitempty"`
}

// local is an archive to publish.
type local struct {
	path   string
	file   string // its name, <name>-<version>.tgz: its key below the prefix
	prov   []byte // nil when there is no .prov beside it
	chart  Chart
	listed bool // the index lists it (with these bytes) already
}

// Publish publishes the chart archives (each with the .prov beside it, ARCHIVE.prov, when
// there is one): it writes each archive (and .prov) that is not in the bucket yet, then
// adds the versions the index does not list to it. A version the index lists with the same
// digest is AlreadyPublished; with another digest, or an archive key holding other bytes,
// Publish fails with ErrImmutable before the index changes.
func (b *Bucket) Publish(ctx context.Context, archives []string) (*Result, error) {
	if len(archives) == 0 {
		return nil, errors.New("no archive to publish")
	}
	stage, err := os.MkdirTemp("", "chartroom-publish-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)
	charts, err := b.prepare(ctx, stage, archives)
	if err != nil {
		return nil, err
	}
	res := &Result{Index: b.url(IndexName)}

	// Refuse a conflict before writing anything.
	old, _, err := b.readIndex(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := b.merge(ctx, stage, charts, old); err != nil {
		return nil, err
	}
	for _, c := range charts {
		if err := b.putArchive(ctx, c); err != nil {
			return nil, err
		}
	}
	for attempt := 1; ; attempt++ {
		old, etag, err := b.readIndex(ctx)
		if err != nil {
			return nil, err
		}
		ix, err := b.merge(ctx, stage, charts, old)
		if err != nil {
			return nil, err
		}
		if ix == nil {
			break // every version is listed
		}
		res.Attempts = attempt
		ok, err := b.writeIndex(ctx, ix, etag)
		if err != nil {
			return nil, err
		}
		if ok {
			res.Warnings = ix.Warnings
			for _, c := range charts {
				if !c.listed {
					c.chart.Status = Published
				}
			}
			break
		}
		if attempt >= b.opts.MaxAttempts {
			return nil, fmt.Errorf("%w: %d writes of %s in a row found it changed by other publishers: run the same command again (the archives are in the bucket already, nothing is lost)", ErrContended, attempt, b.url(IndexName))
		}
		if err := b.wait(ctx, attempt); err != nil {
			return nil, err
		}
	}
	for _, c := range charts {
		res.Charts = append(res.Charts, c.chart)
	}
	return res, nil
}

// prepare links each archive into stage as <file name> and reads what it is, refusing
// anything that is not a chart archive named <name>-<version>.tgz or whose .prov does not
// vouch for it.
func (b *Bucket) prepare(ctx context.Context, stage string, archives []string) ([]*local, error) {
	var charts []*local
	byFile := map[string]string{}
	for _, p := range archives {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		file := filepath.Base(p)
		if !strings.HasSuffix(file, ".tgz") {
			return nil, fmt.Errorf("%s: not a chart archive (.tgz): give the archives chartroom package or helm package made", p)
		}
		if other, ok := byFile[file]; ok {
			return nil, fmt.Errorf("%s and %s have the same name: they would be one object in the bucket; give one of them", other, p)
		}
		byFile[file] = p
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, unwrapPath(err))
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a file: give chart archives (.tgz)", p)
		}
		if err := os.Symlink(abs, filepath.Join(stage, file)); err != nil {
			return nil, err
		}
		c := &local{path: p, file: file}
		prov, err := os.ReadFile(abs + ".prov")
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("%s.prov: %w", p, unwrapPath(err))
		case len(prov) > maxProvSize:
			return nil, fmt.Errorf("%s.prov is larger than %d bytes: not a provenance file; sign the archive again", p, maxProvSize)
		default:
			c.prov = prov
		}
		charts = append(charts, c)
	}
	ix, err := staticindex.Build(ctx, stage, staticindex.Options{Now: b.opts.Now()})
	if err != nil {
		return nil, err
	}
	for _, s := range ix.Skipped {
		return nil, fmt.Errorf("%s is not a chart archive helm would index: %v; check it with chartroom check", byFile[s.Path], s.Err)
	}
	entries := map[string]int{}
	for i, e := range ix.Entries {
		entries[e.URL] = i
	}
	for _, c := range charts {
		e := ix.Entries[entries[c.file]]
		if want := e.Name + "-" + e.Version + ".tgz"; c.file != want {
			return nil, fmt.Errorf("%s holds %s %s: its file name must be %s, the name helm package gives it and its key in the bucket; rename it", c.path, e.Name, e.Version, want)
		}
		if c.prov != nil {
			if _, err := provenance.CheckFiles(c.prov, c.file, e.Digest); err != nil {
				return nil, fmt.Errorf("%s.prov: %w", c.path, err)
			}
		}
		c.chart = Chart{Archive: c.path, Name: e.Name, Version: e.Version, Digest: e.Digest,
			URL: b.url(c.file), Prov: c.prov != nil, Status: AlreadyPublished}
	}
	return charts, nil
}

// merge builds the index of the archives of stage that old (nil: none) does not list, with
// old's entries. A version old lists with the archive's digest is marked listed and its
// link taken out of stage; with another digest, it is ErrImmutable. ix is nil when old
// lists every archive.
func (b *Bucket) merge(ctx context.Context, stage string, charts []*local, old []byte) (*staticindex.Index, error) {
	for {
		pending := 0
		for _, c := range charts {
			if !c.listed {
				pending++
			}
		}
		if pending == 0 {
			return nil, nil
		}
		ix, err := staticindex.Build(ctx, stage, staticindex.Options{Now: b.opts.Now()})
		if err != nil {
			return nil, err
		}
		if len(ix.Skipped) > 0 || ix.Archives != pending {
			return nil, fmt.Errorf("the archives changed while being published: publish them again")
		}
		if old == nil {
			return ix, nil
		}
		if err := ix.Merge(old, b.url(IndexName)); err != nil {
			return nil, fmt.Errorf("%w: %w; rebuild it from the archives with chartroom publish --reindex %s", ErrBadIndex, err, b)
		}
		if len(ix.Skipped) > 0 {
			var bad []string
			for _, s := range ix.Skipped {
				bad = append(bad, fmt.Sprintf("%s (%v)", s.Path, s.Err))
			}
			return nil, fmt.Errorf("%w: it has entries helm would drop, which a new index would lose: %s; fix them, or rebuild the index from the archives with chartroom publish --reindex %s", ErrBadIndex, strings.Join(bad, "; "), b)
		}
		if len(ix.Shadowed) == 0 {
			return ix, nil
		}
		for _, s := range ix.Shadowed {
			c := findChart(charts, s.Name, s.Version)
			if c == nil {
				return nil, fmt.Errorf("%s: the index's %s %s has no archive to publish", b.url(IndexName), s.Name, s.Version)
			}
			if s.Digest != c.chart.Digest {
				return nil, fmt.Errorf("%w: %s %s is published in %s with digest sha256:%s, and %s is sha256:%s: a published version never changes; bump the chart's version and publish that", ErrImmutable, s.Name, s.Version, b, s.Digest, c.path, c.chart.Digest)
			}
			c.listed = true
			if err := os.Remove(filepath.Join(stage, c.file)); err != nil {
				return nil, err
			}
		}
	}
}

// findChart is the chart an index entry of name and version was shadowed by (the
// versions are equal as Helm compares them, which may differ in build metadata).
func findChart(charts []*local, name, version string) *local {
	var match *local
	for _, c := range charts {
		if c.chart.Name != name {
			continue
		}
		if c.chart.Version == version {
			return c
		}
		if staticindex.SameVersion(c.chart.Version, version) {
			match = c
		}
	}
	return match
}

// readIndex reads index.yaml and its ETag; nil and "" when there is none.
func (b *Bucket) readIndex(ctx context.Context) ([]byte, string, error) {
	key := b.key(IndexName)
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.cfg.Bucket, Key: &key})
	if blobs3.IsNotFound(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", b.failed("read "+b.url(IndexName), err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, maxIndexSize+1))
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", b.url(IndexName), err)
	}
	if len(data) > maxIndexSize {
		return nil, "", fmt.Errorf("%w: %s is larger than %d bytes", ErrBadIndex, b.url(IndexName), maxIndexSize)
	}
	etag := aws.ToString(out.ETag)
	if etag == "" {
		return nil, "", fmt.Errorf("%s: the service gave no ETag for %s, without which the index cannot be changed safely: use a service that gives ETags and honours If-Match on PUT", b, b.url(IndexName))
	}
	return data, etag, nil
}

// writeIndex writes ix only if index.yaml's ETag is still etag (none: only if there is no
// index). ok is false when that condition failed: another publisher changed the index.
func (b *Bucket) writeIndex(ctx context.Context, ix *staticindex.Index, etag string) (bool, error) {
	var buf strings.Builder
	if err := ix.Write(&buf); err != nil {
		return false, err
	}
	return b.putIndex(ctx, buf.String(), etag)
}

func (b *Bucket) putIndex(ctx context.Context, body, etag string) (bool, error) {
	key := b.key(IndexName)
	in := &s3.PutObjectInput{Bucket: &b.cfg.Bucket, Key: &key, Body: strings.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String("application/x-yaml")}
	if etag == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(etag)
	}
	_, err := b.client.PutObject(ctx, in)
	if blobs3.IsPreconditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, b.failed("write "+b.url(IndexName), err)
	}
	return true, nil
}

// putArchive writes c's archive and .prov unless their keys hold them already; a key that
// holds other bytes is ErrImmutable.
func (b *Bucket) putArchive(ctx context.Context, c *local) error {
	f, err := os.Open(c.path)
	if err != nil {
		return fmt.Errorf("%s: %w", c.path, unwrapPath(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := b.putOnce(ctx, c.file, f, fi.Size(), c.chart.Digest, "application/gzip", c.path); err != nil {
		return err
	}
	if c.prov == nil {
		return nil
	}
	sum := sha256.Sum256(c.prov)
	return b.putOnce(ctx, c.file+".prov", strings.NewReader(string(c.prov)), int64(len(c.prov)),
		hex.EncodeToString(sum[:]), "", c.path+".prov")
}

// putOnce writes body (size bytes, sha256 digest) to name below the prefix if nothing is
// there. When something is, it is fine if it has the same bytes, and ErrImmutable if not.
func (b *Bucket) putOnce(ctx context.Context, name string, body io.ReadSeeker, size int64, digest, contentType, source string) error {
	key := b.key(name)
	for attempt := 1; ; attempt++ {
		if _, err := body.Seek(0, io.SeekStart); err != nil {
			return err
		}
		in := &s3.PutObjectInput{Bucket: &b.cfg.Bucket, Key: &key, Body: body,
			ContentLength: aws.Int64(size), IfNoneMatch: aws.String("*")}
		if contentType != "" {
			in.ContentType = aws.String(contentType)
		}
		_, err := b.client.PutObject(ctx, in)
		if err == nil {
			return nil
		}
		if !blobs3.IsPreconditionFailed(err) {
			return b.failed("write "+b.url(name), err)
		}
		got, err := b.objectDigest(ctx, key)
		switch {
		case err == nil && got == digest:
			return nil
		case err == nil:
			return fmt.Errorf("%w: %s holds other bytes (sha256:%s) than %s (sha256:%s): a published version never changes; bump the chart's version and publish that", ErrImmutable, b.url(name), got, source, digest)
		case !blobs3.IsNotFound(err):
			return b.failed("read "+b.url(name), err)
		}
		// A write raced ours and lost, or is not complete yet: try again.
		if attempt >= b.opts.MaxAttempts {
			return fmt.Errorf("%w: %s: %d writes found a write of another publisher in progress: run the same command again", ErrContended, b.url(name), attempt)
		}
		if err := b.wait(ctx, attempt); err != nil {
			return err
		}
	}
}

// objectDigest reads an object and returns its sha256 (hex).
func (b *Bucket) objectDigest(ctx context.Context, key string) (string, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.cfg.Bucket, Key: &key})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, out.Body); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// wait sleeps before attempt+1: uniformly up to Backoff·2^(attempt-1), capped at MaxBackoff.
func (b *Bucket) wait(ctx context.Context, attempt int) error {
	bound := b.opts.MaxBackoff
	if attempt-1 < 30 {
		bound = min(b.opts.MaxBackoff, b.opts.Backoff<<(attempt-1))
	}
	t := time.NewTimer(rand.N(bound) + 1)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// failed describes a failed request, with its usual causes and what to check.
func (b *Bucket) failed(what string, err error) error {
	var cause string
	switch code, status := blobs3.ErrorCode(err), blobs3.HTTPStatus(err); {
	case code == "NoSuchBucket":
		cause = "the bucket " + b.cfg.Bucket + " does not exist: create it, or fix the bucket name"
	case code == "AccessDenied" || status == 403:
		cause = "the service refused: check that the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) may read and write objects in the bucket"
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "XAdminUserNotFound" || status == 401:
		cause = "the service refused the credentials: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)"
	case status == 0 && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded):
		cause = "the S3 service did not answer: check endpoint= of the bucket URL and that the service runs"
	default:
		cause = "check the bucket URL (bucket, endpoint=, region=, path-style=) and the credentials"
	}
	return fmt.Errorf("%s: %w; %s", what, err, cause)
}

// unwrapPath drops the *PathError wrapper, whose path the caller names already.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
