package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ociClient speaks the OCI Distribution API over plain net/http, with HTTP Basic credentials
// when user is set: the raw-HTTP side of the tests (crash safety, auth).
type ociClient struct {
	base       string // http://host:port
	user, pass string
	http       *http.Client
}

func newOCIClient(s *Server, user, pass string) *ociClient {
	return &ociClient{
		base: "http://" + s.Host(), user: user, pass: pass,
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 5 * time.Minute},
	}
}

func adminClient(s *Server) *ociClient { return newOCIClient(s, "admin", s.Password) }

const (
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar"
)

// request builds a request for a path (or an absolute URL, as in a Location header).
func (c *ociClient) request(ctx context.Context, method, pathOrURL string, body io.Reader) (*http.Request, error) {
	u := pathOrURL
	if strings.HasPrefix(pathOrURL, "/") {
		u = c.base + pathOrURL
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	return req, nil
}

// do sends a request and reads the whole response body.
func (c *ociClient) do(method, pathOrURL string, body []byte, header map[string]string) (*http.Response, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := c.request(context.Background(), method, pathOrURL, r)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// location resolves a response's Location header against its request URL.
func location(resp *http.Response) (*url.URL, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, fmt.Errorf("%s %s answered %d without a Location", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode)
	}
	return resp.Request.URL.Parse(loc)
}

// startUpload opens an upload session in repo and returns its URL.
func (c *ociClient) startUpload(repo string) (*url.URL, error) {
	resp, body, err := c.do("POST", "/v2/"+repo+"/blobs/uploads/", nil, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusAccepted {
		return nil, fmt.Errorf("POST upload in %s: %d %s", repo, resp.StatusCode, body)
	}
	return location(resp)
}

// withDigest adds ?digest= to an upload URL, keeping the query the server put there.
func withDigest(u *url.URL, digest string) string {
	v := *u
	q := v.Query()
	q.Set("digest", digest)
	v.RawQuery = q.Encode()
	return v.String()
}

// pushBlob uploads data to repo (POST, then PUT with the body) and returns its digest.
func (c *ociClient) pushBlob(repo string, data []byte) (string, error) {
	d := digestOf(data)
	u, err := c.startUpload(repo)
	if err != nil {
		return "", err
	}
	resp, body, err := c.do("PUT", withDigest(u, d), data, map[string]string{"Content-Type": "application/octet-stream"})
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("PUT blob %s in %s: %d %s", d, repo, resp.StatusCode, body)
	}
	return d, nil
}

// pushManifest stores a manifest under ref and returns the digest the server reports.
func (c *ociClient) pushManifest(repo, ref, mediaType string, manifest []byte) (string, error) {
	resp, body, err := c.do("PUT", "/v2/"+repo+"/manifests/"+ref, manifest, map[string]string{"Content-Type": mediaType})
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("PUT manifest %s:%s: %d %s", repo, ref, resp.StatusCode, body)
	}
	return resp.Header.Get("Docker-Content-Digest"), nil
}

// getManifest fetches a manifest by tag or digest.
func (c *ociClient) getManifest(repo, ref string) (int, []byte, string, error) {
	resp, body, err := c.do("GET", "/v2/"+repo+"/manifests/"+ref, nil, map[string]string{"Accept": mediaTypeManifest})
	if err != nil {
		return 0, nil, "", err
	}
	return resp.StatusCode, body, resp.Header.Get("Docker-Content-Digest"), nil
}

// getBlob fetches a blob.
func (c *ociClient) getBlob(repo, digest string) (int, []byte, error) {
	resp, body, err := c.do("GET", "/v2/"+repo+"/blobs/"+digest, nil, nil)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}

// headBlob answers the status of HEAD on a blob.
func (c *ociClient) headBlob(repo, digest string) (int, error) {
	resp, _, err := c.do("HEAD", "/v2/"+repo+"/blobs/"+digest, nil, nil)
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// tags lists a repository's tags; a missing repository is an empty list.
func (c *ociClient) tags(repo string) ([]string, error) {
	resp, body, err := c.do("GET", "/v2/"+repo+"/tags/list", nil, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("tags of %s: %d %s", repo, resp.StatusCode, body)
	}
	var list struct {
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("tags of %s: %w: %s", repo, err, body)
	}
	return list.Tags, nil
}

// catalog lists every repository.
func (c *ociClient) catalog() ([]string, error) {
	resp, body, err := c.do("GET", "/v2/_catalog", nil, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("catalog: %d %s", resp.StatusCode, body)
	}
	var list struct {
		Repositories []string `json:"repositories"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("catalog: %w: %s", err, body)
	}
	return list.Repositories, nil
}

// image is a pushed (or attempted) image: manifest bytes, digest, and its blobs by digest.
type image struct {
	repo, tag string
	manifest  []byte
	digest    string
	blobs     map[string][]byte
}

// newImage builds an OCI image manifest with a config and one layer of layerSize random bytes.
func newImage(repo, tag string, layerSize int) *image {
	config := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","nonce":%q}`, randomHex(8)))
	layer := randomBytes(layerSize)
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaTypeManifest,
		"config":        map[string]any{"mediaType": mediaTypeConfig, "digest": digestOf(config), "size": len(config)},
		"layers":        []any{map[string]any{"mediaType": mediaTypeLayer, "digest": digestOf(layer), "size": len(layer)}},
	}
	body, _ := json.Marshal(m)
	return &image{
		repo: repo, tag: tag, manifest: body, digest: digestOf(body),
		blobs: map[string][]byte{digestOf(config): config, digestOf(layer): layer},
	}
}

// push uploads the image's blobs, then its manifest under its tag.
func (c *ociClient) push(img *image) error {
	for _, b := range img.blobs {
		if _, err := c.pushBlob(img.repo, b); err != nil {
			return err
		}
	}
	d, err := c.pushManifest(img.repo, img.tag, mediaTypeManifest, img.manifest)
	if err != nil {
		return err
	}
	if d != img.digest {
		return fmt.Errorf("pushed %s:%s: server says digest %s, content hashes to %s", img.repo, img.tag, d, img.digest)
	}
	return nil
}

// verify pulls the image by tag and by digest and checks manifest and blobs byte for byte.
func (c *ociClient) verify(img *image) error {
	for _, ref := range []string{img.tag, img.digest} {
		status, body, d, err := c.getManifest(img.repo, ref)
		if err != nil {
			return err
		}
		if status != http.StatusOK || !bytes.Equal(body, img.manifest) || d != img.digest {
			return fmt.Errorf("GET manifest %s:%s = %d, digest %q, %d bytes; want 200, %s, the pushed %d bytes",
				img.repo, ref, status, d, len(body), img.digest, len(img.manifest))
		}
	}
	for d, want := range img.blobs {
		status, got, err := c.getBlob(img.repo, d)
		if err != nil {
			return err
		}
		if status != http.StatusOK || digestOf(got) != d || !bytes.Equal(got, want) {
			return fmt.Errorf("GET blob %s in %s = %d, %d bytes hashing to %s; want 200 and the pushed %d bytes",
				d, img.repo, status, len(got), digestOf(got), len(want))
		}
	}
	return nil
}

func digestOf(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
