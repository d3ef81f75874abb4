package oci

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
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
)

// handlerFunc is what every route runs. A returned error is answered by writeError; a handler
// writes only successful answers.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route is one row of the route table.
type route struct {
	endpoint endpoint
	method   string
	name     string      // stable route name for logs and metrics
	action   auth.Action // what the caller needs on the repository
	handle   handlerFunc
}

type routeKey struct {
	endpoint endpoint
	method   string
}

// routeTable lists every route of the API. HEAD is served by the GET route where a route has
// no HEAD row of its own (net/http drops the body).
//
// Reads need pull, writes push, deletes delete; an upload session is part of a push, so all of
// its requests (status and cancel included) need push, as in the CNCF distribution registry.
func (h *handler) routeTable() map[routeKey]route {
	rows := []route{
		{epBase, http.MethodGet, "oci.base", auth.Pull, h.ping},
		{epCatalog, http.MethodGet, "oci.catalog", auth.Pull, h.catalog},
		{epTags, http.MethodGet, "oci.tags.list", auth.Pull, h.listTags},
		{epManifest, http.MethodGet, "oci.manifest.get", auth.Pull, h.getManifest},
		{epManifest, http.MethodHead, "oci.manifest.head", auth.Pull, h.getManifest},
		{epManifest, http.MethodPut, "oci.manifest.put", auth.Push, h.putManifest},
		{epManifest, http.MethodDelete, "oci.manifest.delete", auth.Delete, h.deleteManifest},
		{epBlob, http.MethodGet, "oci.blob.get", auth.Pull, h.getBlob},
		{epBlob, http.MethodHead, "oci.blob.head", auth.Pull, h.getBlob},
		{epBlob, http.MethodDelete, "oci.blob.delete", auth.Delete, h.deleteBlob},
		{epUploadStart, http.MethodPost, "oci.upload.start", auth.Push, h.startUpload},
		{epUpload, http.MethodGet, "oci.upload.status", auth.Push, h.uploadStatus},
		{epUpload, http.MethodPatch, "oci.upload.patch", auth.Push, h.patchUpload},
		{epUpload, http.MethodPut, "oci.upload.finish", auth.Push, h.finishUpload},
		{epUpload, http.MethodDelete, "oci.upload.cancel", auth.Push, h.cancelUpload},
		{epReferrers, http.MethodGet, "oci.referrers", auth.Pull, h.referrers},
	}
	table := make(map[routeKey]route, len(rows))
	for _, rt := range rows {
		table[routeKey{rt.endpoint, rt.method}] = rt
	}
	return table
}

// target is what a request path names.
type target struct {
	endpoint endpoint
	name     string // repository, "" for /v2/ and the catalog
	ref      string // tag or digest, blob digest, upload id
}

// ServeHTTP is the one wrapper around every handler: it sets the API version header, matches
// the route, checks the name and the caller's rights, runs the handler and answers its error.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	t, err := parsePath(r.URL.EscapedPath())
	if err != nil {
		httpx.SetRoute(r, "oci.unknown")
		h.writeError(w, r, err)
		return
	}
	rt, ok := h.routes[routeKey{t.endpoint, r.Method}]
	if !ok && r.Method == http.MethodHead {
		rt, ok = h.routes[routeKey{t.endpoint, http.MethodGet}]
	}
	if !ok {
		httpx.SetRoute(r, "oci.unknown")
		w.Header().Set("Allow", h.allowed(t.endpoint))
		h.writeError(w, r, newError(codeUnsupported, "%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, h.allowed(t.endpoint)))
		return
	}
	httpx.SetRoute(r, rt.name)
	if t.endpoint != epBase && t.endpoint != epCatalog {
		if err := registry.ValidateName(t.name); err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	p, err := h.authz.Authorize(r, t.name, rt.action)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.SetUser(r, p.Name)
	r = withPrincipal(r, p)
	r.SetPathValue("name", t.name)
	r.SetPathValue("reference", t.ref)
	if err := rt.handle(w, r); err != nil {
		h.writeError(w, r, err)
	}
}

// allowed lists the methods an endpoint answers, for the Allow header.
func (h *handler) allowed(ep endpoint) string {
	var methods []string
	for k := range h.routes {
		if k.endpoint == ep {
			methods = append(methods, k.method)
			if k.method == http.MethodGet {
				methods = append(methods, http.MethodHead)
			}
		}
	}
	slices.Sort(methods)
	return strings.Join(slices.Compact(methods), ", ")
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
	writeJSON(w, http.StatusOK, "application/json", struct{}{})
	return nil
}
