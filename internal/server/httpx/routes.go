package httpx

import (
	"net/http"
	"slices"
	"strings"

	"github.com/chartroom/chartroom/internal/server/auth"
)

// Route is one row of a protocol's route table: the endpoint (E, the protocol's own enum)
// and method it serves, the stable name logs and metrics know it by, what the caller needs
// on the resource, and the handler. A handler writes successful answers only: the error it
// returns is answered by the API's one error exit. T is what the protocol read from the path.
type Route[E comparable, T any] struct {
	Endpoint E
	Method   string
	Name     string
	Action   auth.Action
	Handle   func(w http.ResponseWriter, r *http.Request, t T) error
}

type routeKey[E comparable] struct {
	endpoint E
	method   string
}

// Routes is a route table: every route of a protocol, one per endpoint and method.
type Routes[E comparable, T any] struct {
	routes map[routeKey[E]]Route[E, T]
}

// NewRoutes builds a route table from its rows.
func NewRoutes[E comparable, T any](rows ...Route[E, T]) *Routes[E, T] {
	rs := &Routes[E, T]{routes: make(map[routeKey[E]]Route[E, T], len(rows))}
	for _, rt := range rows {
		rs.routes[routeKey[E]{rt.Endpoint, rt.Method}] = rt
	}
	return rs
}

// Match returns the route of an endpoint and method. HEAD is served by the endpoint's HEAD
// row, else by its GET row (net/http sends no body with a HEAD answer).
func (rs *Routes[E, T]) Match(ep E, method string) (Route[E, T], bool) {
	rt, ok := rs.routes[routeKey[E]{ep, method}]
	if !ok && method == http.MethodHead {
		rt, ok = rs.routes[routeKey[E]{ep, http.MethodGet}]
	}
	return rt, ok
}

// Allow lists, sorted, the methods an endpoint answers (HEAD wherever GET is), for an Allow
// header.
func (rs *Routes[E, T]) Allow(ep E) string {
	var methods []string
	for k := range rs.routes {
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

// API is the dispatch every request of a protocol goes through: recognise the endpoint, match
// the route, authorize the caller, run the handler; every error of every step (a path no
// endpoint serves and a method an endpoint does not serve included) leaves through
// WriteError, the protocol's one error exit.
type API[E comparable, T any] struct {
	Routes *Routes[E, T]
	// Parse recognises the endpoint a request names and what its path says; an error (no
	// such endpoint, a malformed name) is answered as is.
	Parse func(r *http.Request) (E, T, error)
	// NotAllowed is the error answering a method the endpoint does not serve; allow lists
	// those it does (also sent as the Allow header).
	NotAllowed func(r *http.Request, allow string) error
	// Authorize checks what the path names (e.g. its grammar) and that the caller may take
	// action on it, and returns who the caller is.
	Authorize func(r *http.Request, t T, action auth.Action) (auth.Principal, error)
	// WriteError answers an error: the one exit of every error answer.
	WriteError func(w http.ResponseWriter, r *http.Request, err error)
	// NotFoundRoute and NotAllowedRoute are the route names of requests that matched no
	// endpoint, and no method of their endpoint.
	NotFoundRoute, NotAllowedRoute string
}

// ServeHTTP dispatches one request.
func (a *API[E, T]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep, t, err := a.Parse(r)
	if err != nil {
		SetRoute(r, a.NotFoundRoute)
		a.WriteError(w, r, err)
		return
	}
	rt, ok := a.Routes.Match(ep, r.Method)
	if !ok {
		SetRoute(r, a.NotAllowedRoute)
		allow := a.Routes.Allow(ep)
		w.Header().Set("Allow", allow)
		a.WriteError(w, r, a.NotAllowed(r, allow))
		return
	}
	SetRoute(r, rt.Name)
	p, err := a.Authorize(r, t, rt.Action)
	if err != nil {
		a.WriteError(w, r, err)
		return
	}
	SetUser(r, p.Name)
	if err := rt.Handle(w, WithPrincipal(r, p), t); err != nil {
		a.WriteError(w, r, err)
	}
}
