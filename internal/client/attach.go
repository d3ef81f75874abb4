package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/chartroom/chartroom/internal/provenance"
)

// AttachProvenance adds the provenance file prov to a chart version already published at
// dest without one (oci://HOST/NAMESPACE or https://HOST/NAMESPACE): chartroom's
// POST /api/NAMESPACE/prov, which serves it over both protocols from then on (an OCI
// namespace of chartroom is the same namespace). This is how a version pushed unsigned is
// signed afterwards: pushing it again with its .prov would not change it, since a published
// version never changes. A version that has this very .prov already is no error; one with
// another .prov is [ErrConflict]; a registry without the API is [ErrNotFound].
func (c *Client) AttachProvenance(ctx context.Context, prov []byte, dest string) error {
	loc, err := parseLocation(dest)
	if err != nil {
		return &Error{Op: "attach provenance", Msg: err.Error()}
	}
	st, err := provenance.Parse(prov)
	if err != nil || st.Metadata == nil {
		return &Error{Op: "attach provenance", Msg: fmt.Sprintf("not a provenance file: %v", err), Err: err}
	}
	md := st.Metadata
	if loc.oci {
		scheme := "https"
		if c.opts.PlainHTTP {
			scheme = "http"
		}
		loc.base = &url.URL{Scheme: scheme, Host: loc.host, Path: "/" + loc.path}
	}
	f := failure{
		op:       fmt.Sprintf("add the provenance file of %s %s in %s", md.Name, md.Version, loc),
		host:     loc.host,
		write:    true,
		scope:    "namespace " + loc.path,
		notFound: fmt.Sprintf("%s has no chartroom provenance API (POST /api/%s/prov): a version published without its .prov cannot be signed afterwards there; publish a new version with its .prov", loc.host, loc.path),
		conflict: fmt.Sprintf("%s %s in %s already has another provenance file, and a published version never changes: publish a new version (chartroom bump)", md.Name, md.Version, loc),
	}
	u := *loc.base
	u.Path = "/api/" + loc.path + "/prov"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(prov))
	if err != nil {
		return &Error{Op: f.op, Msg: err.Error()}
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	if err := c.authorize(ctx, req, loc); err != nil {
		return &Error{Op: f.op, Msg: err.Error()}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.fail(f, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusConflict {
		// chartroom answers 409 both when this .prov is there already (which is what was
		// asked) and when another one is: the published .prov tells which.
		if same, _ := c.hasProvenance(ctx, loc, md.Name, md.Version, prov); same {
			return nil
		}
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return c.fail(f, statusError(resp))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	return nil
}

// hasProvenance reports whether the classic repository serves prov as the .prov of the
// chart version.
func (c *Client) hasProvenance(ctx context.Context, loc location, name, version string, prov []byte) (bool, error) {
	resp, err := c.get(ctx, loc, loc.archiveURL(name, version)+".prov")
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, maxProvSize+1))
	if err != nil {
		return false, err
	}
	return bytes.Equal(got, prov), nil
}
