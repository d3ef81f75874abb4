package httpx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/chartroom/chartroom/internal/server/auth"
)

// Route is one row of a protocol's route table: the endpoint (E, the protocol's own enum)
// and method it serves, the stable name logs, metrics and the audit log know it by, what the
// caller needs on the resource, whether the audit log records it, and the handler. A handler
// writes successful answers only: the error it returns is answered by the API's one error
// exit. T is what the protocol read from the path.
type Route[E comparable, T any] struct {
	Endpoint E
	Method   string
	Name     string
	// Action is what the caller must be allowed on the route's target; every route names
	// one (NewRoutes refuses the zero Action).
	Action auth.Action
	// Audit records every request of the route, whatever its outcome (writes: pushes,
	// uploads, deletes); refused requests of every route are recorded anyway.
	Audit  bool
	Handle func(w http.ResponseWriter, r *http.Request, t T) error
}

type routeKey[E comparable] struct {
	endpoint E
	method   string
}

// Routes is a route table: every route of a protocol, one per endpoint and method.
type Routes[E comparable, T any] struct {
	routes map[routeKey[E]]Route[E, T]
}

// NewRoutes builds a route table from its rows. It panics on a row without an action or
// name, or two rows for one endpoint and method: a table that cannot be right.
func NewRoutes[E comparable, T any](rows ...Route[E, T]) *Routes[E, T] {
	rs := &Routes[E, T]{routes: make(map[routeKey[E]]Route[E, T], len(rows))}
	for _, rt := range rows {
		k := routeKey[E]{rt.Endpoint, rt.Method}
		switch _, dup := rs.routes[k]; {
		case rt.Action == 0 || rt.Name == "":
			panic(fmt.Sprintf("httpx: route %q (%s) names no action or no name: every route says what the caller needs", rt.Name, rt.Method))
		case dup:
			panic(fmt.Sprintf("httpx: two routes for %v %s", rt.Endpoint, rt.Method))
		}
		rs.routes[k] = rt
	}
	return rs
}

// RouteInfo describes a row of a route table.
type RouteInfo[E comparable] struct {
	Endpoint E
	Method   string
	Name     string
	Action   auth.Action
	Audit    bool
}

// List returns every row of the table, by name and method: for tests that must cover every
// route (the authorization matrix).
func (rs *Routes[E, T]) List() []RouteInfo[E] {
	out := make([]RouteInfo[E], 0, len(rs.routes))
	for _, rt := range rs.routes {
		out = append(out, RouteInfo[E]{Endpoint: rt.Endpoint, Method: rt.Method, Name: rt.Name, Action: rt.Action, Audit: rt.Audit})
	}
	slices.SortFunc(out, func(a, b RouteInfo[E]) int {
		return strings.Compare(a.Name+" "+a.Method, b.Name+" "+b.Method)
	})
	return out
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
	// action on it, and returns who the caller is and what the request acts on. An
	// auth.ErrHidden error runs the handler all the same, on a request marked Hidden: it
	// answers as if nothing existed there (a read the caller may not make).
	Authorize func(r *http.Request, t T, action auth.Action) (auth.Principal, auth.Target, error)
	// Audit records an entry of the audit log; nil records nothing.
	Audit func(rec auth.AuditRecord)
	// Context, when set, is the context the handler of an authorized request (not a hidden
	// read) runs with, made from who the caller is and what the request acts on: what the
	// protocol tells the core of the caller (e.g. that it may see quarantined chart versions).
	Context func(r *http.Request, p auth.Principal, target auth.Target) context.Context
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
	p, target, err := a.Authorize(r, t, rt.Action)
	SetUser(r, p.Name) // a refused request of a signed-in caller logs who it was too
	hidden := errors.Is(err, auth.ErrHidden)
	if err != nil && !hidden {
		if outcome := auth.OutcomeOf(err); outcome != "" {
			a.audit(r, rt.Name, p, target, outcome)
		}
		a.WriteError(w, r, err)
		return
	}
	r = WithPrincipal(r, p)
	if hidden {
		r = r.WithContext(context.WithValue(r.Context(), hiddenKey{}, true))
	} else if a.Context != nil {
		r = r.WithContext(a.Context(r, p, target))
	}
	err = rt.Handle(w, r, t)
	if err != nil {
		a.WriteError(w, r, err)
	}
	switch {
	case hidden:
		a.audit(r, rt.Name, p, target, auth.OutcomeHidden)
	case rt.Audit && err == nil:
		a.audit(r, rt.Name, p, target, auth.OutcomeOK)
	case rt.Audit:
		a.audit(r, rt.Name, p, target, info(r).Reason)
	}
}

// audit records a request in the audit log: who (for refused credentials, the user and
// token they claimed), from where, what, on what, the handler's facts, the outcome.
func (a *API[E, T]) audit(r *http.Request, route string, p auth.Principal, target auth.Target, outcome string) {
	if a.Audit == nil {
		return
	}
	rec := auth.AuditRecord{Actor: p.Name, TokenID: p.TokenID, Address: auth.Address(r), Action: route,
		Repository: target.String(), Outcome: outcome}
	if !p.Anonymous && p.Name == "" {
		rec.Actor, rec.TokenID = auth.Claimed(r)
	}
	if f := info(r).audit; f != nil {
		if f.Repository != "" {
			rec.Repository = f.Repository
		}
		rec.Version, rec.Digest = f.Version, f.Digest
	}
	if rec.Outcome == "" {
		rec.Outcome = "failed"
	}
	a.Audit(rec)
}

type hiddenKey struct{}

// Hidden reports whether the request is a read its caller may not make, to be answered as
// if nothing existed there (see API.Authorize).
func Hidden(r *http.Request) bool {
	h, _ := r.Context().Value(hiddenKey{}).(bool)
	return h
}
