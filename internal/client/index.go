package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/safeyaml"
)

// indexFile is what chartroom reads of a repository's index.yaml.
type indexFile struct {
	APIVersion string                   `json:"apiVersion"`
	Entries    map[string][]*indexEntry `json:"entries"`
}

// indexEntry is one chart version of index.yaml.
type indexEntry struct {
	Name    string   `json:"name"`
	Version string   `json:"version"`
	URLs    []string `json:"urls"`
	Digest  string   `json:"digest"`
	Created string   `json:"created"`
}

// versions lists name's versions newest first, skipping versions that do not parse and
// entries without a download URL, as helm does.
func (ix *indexFile) versions(name string) []string {
	var out []string
	for _, e := range ix.Entries[name] {
		if e == nil || len(e.URLs) == 0 {
			continue
		}
		if _, err := semver.NewVersion(e.Version); err != nil {
			continue
		}
		out = append(out, e.Version)
	}
	chart.SortVersions(out)
	return out
}

// entry returns name's entry of exactly this version, or nil.
func (ix *indexFile) entry(name, version string) *indexEntry {
	for _, e := range ix.Entries[name] {
		if e != nil && e.Version == version && len(e.URLs) > 0 {
			return e
		}
	}
	return nil
}

// index fetches and parses a classic repository's index.yaml, once per client.
func (c *Client) index(ctx context.Context, loc location, op string) (*indexFile, error) {
	u := loc.indexURL()
	c.mu.Lock()
	ix := c.indexes[u]
	c.mu.Unlock()
	if ix != nil {
		return ix, nil
	}
	f := failure{op: op, host: loc.host, scope: "repository " + loc.String(),
		notFound: fmt.Sprintf("%s has no index.yaml: check the repository URL (https://HOST/NAMESPACE)", loc)}
	resp, err := c.get(ctx, loc, u)
	if err != nil {
		return nil, c.fail(f, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxIndexSize+1))
	if err != nil {
		return nil, c.fail(f, err)
	}
	if int64(len(data)) > maxIndexSize {
		return nil, &Error{Op: op, Msg: fmt.Sprintf("%s is larger than %d MiB; it is not a chart repository index", u, maxIndexSize>>20)}
	}
	ix = new(indexFile)
	if err := safeyaml.Unmarshal(data, ix); err != nil || ix.APIVersion == "" {
		why := "it has no apiVersion"
		if err != nil {
			why = oneLine(err)
		}
		return nil, &Error{Op: op, Msg: fmt.Sprintf("%s is not a chart repository index (%s): check the repository URL", u, why)}
	}
	c.mu.Lock()
	c.indexes[u] = ix
	c.mu.Unlock()
	return ix, nil
}

// get sends GET u with the repository's credentials when u is on the repository's host.
func (c *Client) get(ctx context.Context, loc location, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if err := c.authorize(ctx, req, loc); err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, statusError(resp)
	}
	return resp, nil
}

// authorize adds basic credentials to a request for the repository's own origin. Links to
// other hosts do not receive them (as helm's default, without --pass-credentials).
func (c *Client) authorize(ctx context.Context, req *http.Request, loc location) error {
	if req.URL.Host != loc.base.Host || req.URL.Scheme != loc.base.Scheme {
		return nil
	}
	cred, err := c.credential(ctx, loc.host, loc.base.String())
	if err != nil {
		return err
	}
	if cred.Username != "" || cred.Password != "" {
		req.SetBasicAuth(cred.Username, cred.Password)
	}
	req.Header.Set("User-Agent", c.opts.UserAgent)
	return nil
}

// resolveURL resolves an index.yaml URL (often relative) against the repository URL, as
// helm's repo.ResolveReferenceURL does.
func resolveURL(loc location, ref string) (string, error) {
	r, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("index.yaml lists %q, which is not a URL", ref)
	}
	if r.IsAbs() {
		return r.String(), nil
	}
	base := *loc.base
	base.Path = strings.TrimSuffix(base.Path, "/") + "/"
	base.RawPath = ""
	return base.ResolveReference(r).String(), nil
}
