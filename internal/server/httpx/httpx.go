// Package httpx is the HTTP skeleton both protocol packages (server/oci, server/repo) and the
// assembly share: request-scoped facts the middleware logs and counts (route name, user), the
// principal a request was authorized as, JSON answers, and the route table and dispatch every
// protocol request goes through (routes.go), with one exit for every error answer.
package httpx

import (
	"context"
	"errors"
	"net/http"

	"github.com/chartroom/chartroom/internal/server/auth"
)

// ErrBodyStalled is the error a handler reads from a request body that delivered no byte
// for the server's body idle timeout; the request cannot complete (answer 408).
var ErrBodyStalled = errors.New("request body stalled")

type infoKey struct{}

// Info is what handlers tell the middleware about a request.
type Info struct {
	Route string // a stable route name for metrics, e.g. "oci.blob.get"
	User  string // the authenticated user, "" when anonymous
}

// WithInfo returns r carrying an empty Info the handlers fill in, and that Info.
func WithInfo(r *http.Request) (*http.Request, *Info) {
	i := &Info{}
	return r.WithContext(context.WithValue(r.Context(), infoKey{}, i)), i
}

func info(r *http.Request) *Info {
	if i, ok := r.Context().Value(infoKey{}).(*Info); ok {
		return i
	}
	return &Info{}
}

// SetRoute names the route a request matched.
func SetRoute(r *http.Request, name string) { info(r).Route = name }

// SetUser records who the request was authenticated as.
func SetUser(r *http.Request, name string) { info(r).User = name }

type principalKey struct{}

// WithPrincipal returns r carrying the principal it was authorized as.
func WithPrincipal(r *http.Request, p auth.Principal) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
}

// Principal returns who the request was authorized as (the zero Principal before
// authorization).
func Principal(r *http.Request) auth.Principal {
	p, _ := r.Context().Value(principalKey{}).(auth.Principal)
	return p
}
