package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// client speaks the parts of the OCI Distribution Spec v1.1 push and pull API the benchmark
// needs, with net/http's client as any Go registry client would.
type client struct {
	base       *url.URL
	user, pass string
	http       *http.Client
}

func newClient(base, user, pass string, conns int) (*client, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		MaxIdleConns:        2 * conns,
		MaxIdleConnsPerHost: 2 * conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      256 << 10,
	}
	return &client{base: u, user: user, pass: pass, http: &http.Client{Transport: tr}}, nil
}

// request sends one request. body may be nil; size is its length (-1: unknown). It reads and
// closes the response unless keep is set, and fails unless the status is want.
func (c *client) request(ctx context.Context, method, target string, body io.Reader, size int64, hdr map[string]string, want int, keep bool) (*http.Response, error) {
	u, err := c.base.Parse(target)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Body = io.NopCloser(body)
		req.ContentLength = size
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u.Path, err)
	}
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: got %s, want %d: %s", method, u.Path, resp.Status, want, msg)
	}
	if !keep {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, nil
}

// location resolves an upload's Location header and adds digest to its query, if given.
func (c *client) location(resp *http.Response, digest string) (string, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", fmt.Errorf("%s %s: no Location header", resp.Request.Method, resp.Request.URL.Path)
	}
	u, err := c.base.Parse(loc)
	if err != nil {
		return "", err
	}
	if digest != "" {
		q := u.Query()
		q.Set("digest", digest)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

var octet = map[string]string{"Content-Type": "application/octet-stream"}

// pushMonolithic pushes a blob as POST (open a session) then PUT with the whole body.
func (c *client) pushMonolithic(ctx context.Context, repo, digest string, body io.Reader, size int64) error {
	resp, err := c.request(ctx, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, 0, nil, http.StatusAccepted, false)
	if err != nil {
		return err
	}
	loc, err := c.location(resp, digest)
	if err != nil {
		return err
	}
	_, err = c.request(ctx, http.MethodPut, loc, body, size, octet, http.StatusCreated, false)
	return err
}

// pushChunked pushes a blob as POST, one PATCH with Content-Range per chunk, then PUT
// ?digest= with no body.
func (c *client) pushChunked(ctx context.Context, repo string, b *blobSpec, chunk int64) error {
	resp, err := c.request(ctx, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, 0, nil, http.StatusAccepted, false)
	if err != nil {
		return err
	}
	for off := int64(0); off < b.size(); off += chunk {
		n := min(chunk, b.size()-off)
		loc, err := c.location(resp, "")
		if err != nil {
			return err
		}
		hdr := map[string]string{
			"Content-Type":  "application/octet-stream",
			"Content-Range": fmt.Sprintf("%d-%d", off, off+n-1),
		}
		if resp, err = c.request(ctx, http.MethodPatch, loc, b.section(off, n), n, hdr, http.StatusAccepted, false); err != nil {
			return err
		}
	}
	loc, err := c.location(resp, b.digest)
	if err != nil {
		return err
	}
	_, err = c.request(ctx, http.MethodPut, loc, nil, 0, nil, http.StatusCreated, false)
	return err
}

// discard is io.Discard without ReadFrom, so that io.CopyBuffer uses the caller's buffer.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// pull GETs a blob and drains it into w (hash it to verify, or discard), checking its length
// against size. It returns the bytes read.
func (c *client) pull(ctx context.Context, repo, digest string, size int64, w io.Writer, buf []byte) (int64, error) {
	resp, err := c.request(ctx, http.MethodGet, "/v2/"+repo+"/blobs/"+digest, nil, 0, nil, http.StatusOK, true)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.CopyBuffer(w, resp.Body, buf)
	if err != nil {
		return n, fmt.Errorf("GET blob %s: after %d bytes: %w", digest, n, err)
	}
	if n != size {
		return n, fmt.Errorf("GET blob %s: got %d bytes, want %d", digest, n, size)
	}
	return n, nil
}

// verify pulls a blob and checks that its bytes hash to its digest.
func (c *client) verify(ctx context.Context, repo, digest string, size int64, buf []byte) error {
	h := sha256.New()
	if _, err := c.pull(ctx, repo, digest, size, h, buf); err != nil {
		return err
	}
	if got := fmt.Sprintf("sha256:%x", h.Sum(nil)); got != digest {
		return fmt.Errorf("GET blob %s: the bytes hash to %s", digest, got)
	}
	return nil
}

const manifestType = "application/vnd.oci.image.manifest.v1+json"

// putManifest PUTs an OCI image manifest under a tag.
func (c *client) putManifest(ctx context.Context, repo, tag string, body []byte) error {
	hdr := map[string]string{"Content-Type": manifestType}
	_, err := c.request(ctx, http.MethodPut, "/v2/"+repo+"/manifests/"+tag, &byteReader{b: body}, int64(len(body)), hdr, http.StatusCreated, false)
	return err
}

// getManifest GETs a manifest by tag and returns its length.
func (c *client) getManifest(ctx context.Context, repo, tag string) (int64, error) {
	hdr := map[string]string{"Accept": manifestType}
	resp, err := c.request(ctx, http.MethodGet, "/v2/"+repo+"/manifests/"+tag, nil, 0, hdr, http.StatusOK, true)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("GET manifest %s: got %d bytes, Content-Length %s", tag, n, strconv.FormatInt(resp.ContentLength, 10))
	}
	return n, err
}

// byteReader is a minimal bytes.Reader (no Seek, so net/http does not try to rewind it).
type byteReader struct{ b []byte }

func (r *byteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}
