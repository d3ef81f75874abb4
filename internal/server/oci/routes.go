package oci

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server/auth"
	"github.com/chartroom/chartroom/internal/server/httpx"
)

// endpoint is an OCI Distribution Spec v1.1 endpoint, recognised from the URL path alone.
type endpoint int

const (
	epBase        endpoint = iota // /v2/
	epCatalog                     // /v2/_catalog
	epTags                        // /v2/<name>/tags/list
	epManifest                    // /v2/<name>/manifests/<reference>
	epBlob                        // /v2/<name>/blobs/<digest>
	epUploadStart                 // /v2/<name>/blobs/uploads/
	epUpload                      // /v2/<name>/blobs/uploads/<id>
	epReferrers                   // /v2/<name>/referrers/<digest>
	epToken                       // /v2/token: the token service (token.go)
)

// routeTable lists every route of the API. HEAD is served by the GET route where a route has
// no HEAD row of its own (net/http drops the body).
//
// Reads need pull, writes push, deletes delete; an upload session is part of a push, so all of
// its requests (status and cancel included) need push, as in the CNCF distribution registry.
// The audit log records every manifest push and every delete (audited); blobs uploaded are
// recorded by the manifest that uses them, and refused requests of every route anyway.
func (h *handler) routeTable() *httpx.Routes[endpoint, target] {
	const audited = true
	return httpx.NewRoutes(
		route(epBase, http.MethodGet, "oci.base", auth.Pull, !audited, h.ping),
		route(epCatalog, http.MethodGet, "oci.catalog", auth.Pull, !audited, h.catalog),
		route(epTags, http.MethodGet, "oci.tags.list", auth.Pull, !audited, h.listTags),
		route(epManifest, http.MethodGet, "oci.manifest.get", auth.Pull, !audited, h.getManifest),
		route(epManifest, http.MethodHead, "oci.manifest.head", auth.Pull, !audited, h.getManifest),
		route(epManifest, http.MethodPut, "oci.manifest.put", auth.Push, audited, h.putManifest),
		route(epManifest, http.MethodDelete, "oci.manifest.delete", auth.Delete, audited, h.deleteManifest),
		route(epBlob, http.MethodGet, "oci.blob.get", auth.Pull, !audited, h.getBlob),
		route(epBlob, http.MethodHead, "oci.blob.head", auth.Pull, !audited, h.getBlob),
		route(epBlob, http.MethodDelete, "oci.blob.delete", auth.Delete, audited, h.deleteBlob),
		route(epUploadStart, http.MethodPost, "oci.upload.start", auth.Push, !audited, h.startUpload),
		route(epUpload, http.MethodGet, "oci.upload.status", auth.Push, !audited, h.uploadStatus),
		route(epUpload, http.MethodPatch, "oci.upload.patch", auth.Push, !audited, h.patchUpload),
		route(epUpload, http.MethodPut, "oci.upload.finish", auth.Push, !audited, h.finishUpload),
		route(epUpload, http.MethodDelete, "oci.upload.cancel", auth.Push, !audited, h.cancelUpload),
		route(epReferrers, http.MethodGet, "oci.referrers", auth.Pull, !audited, h.referrers),
		// The token service authenticates only: what a token grants is decided per scope.
		route(epToken, http.MethodGet, "oci.token", auth.Pull, !audited, h.token),
		route(epToken, http.MethodPost, "oci.token", auth.Pull, !audited, h.token),
	)
}

// Routes lists every route of the API, for tests that must cover them all.
func Routes() []httpx.RouteInfo[string] {
	return routeInfos((&handler{}).routeTable())
}

func routeInfos(rs *httpx.Routes[endpoint, target]) []httpx.RouteInfo[string] {
	var out []httpx.RouteInfo[string]
	for _, ri := range rs.List() {
		out = append(out, httpx.RouteInfo[string]{Endpoint: ri.Endpoint.String(), Method: ri.Method, Name: ri.Name, Action: ri.Action, Audit: ri.Audit})
	}
	return out
}

// String names an endpoint as its path pattern.
func (e endpoint) String() string {
	switch e {
	case epBase:
		return "/v2/"
	case epCatalog:
		return "/v2/_catalog"
	case epTags:
		return "/v2/<name>/tags/list"
	case epManifest:
		return "/v2/<name>/manifests/<reference>"
	case epBlob:
		return "/v2/<name>/blobs/<digest>"
	case epUploadStart:
		return "/v2/<name>/blobs/uploads/"
	case epUpload:
		return "/v2/<name>/blobs/uploads/<id>"
	case epReferrers:
		return "/v2/<name>/referrers/<digest>"
	case epToken:
		return "/v2/token"
	}
	return fmt.Sprintf("endpoint(%d)", int(e))
}

// route is a row of the table whose handler reads the repository name and reference as the
// path values "name" and "reference".
func route(ep endpoint, method, name string, action auth.Action, audit bool, handle func(w http.ResponseWriter, r *http.Request) error) httpx.Route[endpoint, target] {
	return httpx.Route[endpoint, target]{Endpoint: ep, Method: method, Name: name, Action: action, Audit: audit,
		Handle: func(w http.ResponseWriter, r *http.Request, t target) error {
			r.SetPathValue("name", t.name)
			r.SetPathValue("reference", t.ref)
			return handle(w, r)
		}}
}

// target is what a request path names.
type target struct {
	endpoint endpoint
	name     string // repository, "" for /v2/ and the catalog
	ref      string // tag or digest, blob digest, upload id
}

// ServeHTTP sets the API version header every answer carries, then dispatches the request
// (httpx.API: match the route, check the name and the caller's rights, run the handler,
// answer its error).
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	h.api.ServeHTTP(w, r)
}

// authorize checks the repository name of the endpoints that have one, then the caller's
// rights on the repository (on the registry for /v2/ and the catalog).
func (h *handler) authorize(r *http.Request, t target, action auth.Action) (auth.Principal, auth.Target, error) {
	if t.endpoint == epToken {
		return h.authorizeToken(r)
	}
	if t.endpoint == epBase || t.endpoint == epCatalog {
		at := auth.RegistryTarget()
		p, err := h.authz.Authorize(r, at, action)
		return p, at, err
	}
	if err := registry.ValidateName(t.name); err != nil {
		return auth.Principal{}, auth.Target{}, err
	}
	at := auth.RepositoryTarget(t.name)
	p, err := h.authz.Authorize(r, at, action)
	return p, at, err
}

// regFor is the registry a request reads: the registry, or for a read its caller may not
// make (httpx.Hidden), the registry that holds nothing, so that the answer is exactly the one
// a missing repository gets.
func (h *handler) regFor(r *http.Request) *registry.Registry {
	if httpx.Hidden(r) {
		return h.missing
	}
	return h.reg
}

// parsePath recognises an endpoint from the escaped URL path. Repository names may hold "/",
// so the path is read from the right: /v2/team/charts/myapp/manifests/1.0.0 names repository
// team/charts/myapp. Each segment is unescaped on its own, so "%2e%2e" arrives as ".." (refused
// by the name grammar) and an escaped "/" cannot smuggle a separator into a segment.
func parsePath(escaped string) (target, error) {
	rest, ok := strings.CutPrefix(escaped, "/v2")
	if !ok {
		return target{}, notFound(escaped)
	}
	if rest == "" || rest == "/" {
		return target{endpoint: epBase}, nil
	}
	rest, ok = strings.CutPrefix(rest, "/")
	if !ok {
		return target{}, notFound(escaped)
	}
	if rest == "_catalog" {
		return target{endpoint: epCatalog}, nil
	}
	if rest == "token" {
		return target{endpoint: epToken}, nil
	}
	segs := strings.Split(rest, "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil || strings.Contains(u, "/") {
			return target{}, fmt.Errorf("%w: path segment %q is not a valid name component", registry.ErrNameInvalid, s)
		}
		segs[i] = u
	}
	n := len(segs)
	name := func(k int) string { return strings.Join(segs[:n-k], "/") }
	switch {
	case n >= 3 && segs[n-2] == "tags" && segs[n-1] == "list":
		return target{endpoint: epTags, name: name(2)}, nil
	case n >= 4 && segs[n-3] == "blobs" && segs[n-2] == "uploads":
		if segs[n-1] == "" {
			return target{endpoint: epUploadStart, name: name(3)}, nil
		}
		return target{endpoint: epUpload, name: name(3), ref: segs[n-1]}, nil
	case n >= 3 && segs[n-2] == "blobs" && segs[n-1] == "uploads":
		return target{endpoint: epUploadStart, name: name(2)}, nil
	case n >= 3 && segs[n-2] == "blobs":
		return target{endpoint: epBlob, name: name(2), ref: segs[n-1]}, nil
	case n >= 3 && segs[n-2] == "manifests":
		return target{endpoint: epManifest, name: name(2), ref: segs[n-1]}, nil
	case n >= 3 && segs[n-2] == "referrers":
		return target{endpoint: epReferrers, name: name(2), ref: segs[n-1]}, nil
	}
	return target{}, notFound(escaped)
}

func notFound(path string) error {
	return newError(codeNotFound, "%s is not an endpoint of the OCI Distribution API (v1.1)", path)
}

// ping answers the API version check: 200 {} once the caller is authorized.
func (h *handler) ping(w http.ResponseWriter, r *http.Request) error {
	httpx.WriteJSON(w, http.StatusOK, httpx.ContentTypeJSON, struct{}{})
	return nil
}

// callerContext lets a caller who may push to what the request names see the chart versions
// its signed-only namespace quarantines (they sign what they publish); to readers such a
// version does not exist.
func (h *handler) callerContext(r *http.Request, p auth.Principal, t auth.Target) context.Context {
	if !t.Registry && h.authz.MayPublish(p, t) {
		return registry.WithQuarantined(r.Context())
	}
	return r.Context()
}
