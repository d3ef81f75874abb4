package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// LoginHost reads the host of a login target: HOST[:PORT], oci://HOST/…, https://HOST/…
// or http://HOST/… (which also means plain HTTP).
func LoginHost(s string) (host string, plainHTTP bool, err error) {
	switch {
	case strings.HasPrefix(s, "oci://"):
		host, _, _ = strings.Cut(strings.TrimPrefix(s, "oci://"), "/")
	case strings.HasPrefix(s, "https://"), strings.HasPrefix(s, "http://"):
		u, perr := url.Parse(s)
		if perr != nil {
			return "", false, fmt.Errorf("%q is not a URL", s)
		}
		host, plainHTTP = u.Host, u.Scheme == "http"
	default:
		host, _, _ = strings.Cut(s, "/")
	}
	if host == "" || strings.ContainsAny(host, " @") {
		return "", false, fmt.Errorf("%q is not a registry host: write HOST or HOST:PORT, e.g. charts.example.com", s)
	}
	return host, plainHTTP, nil
}

// Login checks username and password against the registry at host (its OCI API answers
// GET /v2/ with 200 for them) and stores them in helm's registry config, where chartroom,
// helm push and helm pull find them. It returns the file written.
func (c *Client) Login(ctx context.Context, host, username, password string) (string, error) {
	op := "login to " + host
	reg, err := remote.NewRegistry(host)
	if err != nil {
		return "", &Error{Op: op, Msg: fmt.Sprintf("%q is not a registry host: %v", host, err)}
	}
	reg.PlainHTTP = c.opts.PlainHTTP
	cred := auth.Credential{Username: username, Password: password}
	reg.Client = &auth.Client{Client: c.http, Credential: auth.StaticCredential(host, cred), Header: c.oci.Header}
	c.mu.Lock()
	c.sources[host] = "the given username and password"
	c.mu.Unlock()
	f := failure{op: op, host: host, oci: true, scope: "the registry",
		notFound: fmt.Sprintf("%s has no OCI API at /v2/: chartroom login works with chartroom servers and OCI registries; for a classic repository pass --username and --password-stdin to each command", host)}
	if err := reg.Ping(ctx); err != nil {
		if errors.Is(err, errdef.ErrNotFound) {
			err = &httpStatusError{status: 404}
		}
		e := c.fail(f, err)
		var ce *Error
		if errors.As(e, &ce) && errors.Is(ce, ErrUnauthorized) {
			what := "the username and password"
			if c.opts.CredentialSource != "" {
				what = c.opts.CredentialSource
			}
			ce.Msg = fmt.Sprintf("%s rejected %s (401 Unauthorized): check them and try again", host, what)
		}
		return "", e
	}
	if err := c.store.Put(ctx, host, cred); err != nil {
		return "", &Error{Op: op, Msg: err.Error(), Err: err}
	}
	return c.store.HelmPath(), nil
}

// Logout removes host's login from helm's registry config. inDocker tells that docker's
// config.json still holds one (chartroom leaves docker's file to `docker logout`).
func (c *Client) Logout(ctx context.Context, host string) (inDocker bool, err error) {
	op := "logout from " + host
	deleted, inDocker, err := c.store.Delete(ctx, host)
	if err != nil {
		return false, &Error{Op: op, Msg: err.Error(), Err: err}
	}
	if !deleted {
		msg := fmt.Sprintf("there is no login for %s in %s", host, c.store.HelmPath())
		if inDocker {
			msg += fmt.Sprintf("; the one in %s belongs to docker: run `docker logout %s`", c.store.DockerPath(), host)
		}
		return inDocker, &Error{Op: op, Kind: ErrNotFound, Msg: msg}
	}
	return inDocker, nil
}
