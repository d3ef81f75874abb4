// Package httpx is the HTTP skeleton both protocol packages (server/oci, server/repo) and the
// assembly share: request-scoped facts the middleware logs and counts (route name, user), the
// principal a request was authorized as, JSON answers, and the route table and dispatch every
// protocol request goes through (routes.go), with one exit for every error answer.
package httpx

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

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
	// Reason says in a short, machine-friendly phrase why the request failed (e.g.
	// "version_exists", "unauthorized", "name_invalid", "body_stalled"): set by the error
	// exit of each protocol, logged on every 4xx and 5xx line.
	Reason string

	audit *AuditFacts // what a handler tells the audit log
}

// AuditFacts are what a handler knows of a request that the audit log records beyond the
// route and its target: the repository it turned out to write (an upload names only its
// namespace), the version or tag, the digest.
type AuditFacts struct {
	Repository, Version, Digest string
}

// SetAudit records what the audit log says of the request (see AuditFacts).
func SetAudit(r *http.Request, f AuditFacts) { info(r).audit = &f }

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

// SetReason records why the request failed (see Info.Reason).
func SetReason(r *http.Request, reason string) { info(r).Reason = reason }

// Reason returns the reason logs give the errors of auth and of this package
// ("unauthorized", "denied", "throttled", "body_stalled"); "" for any other error.
func Reason(err error) string {
	switch {
	case errors.Is(err, auth.ErrThrottled):
		return "throttled"
	case errors.Is(err, auth.ErrUnauthenticated):
		return "unauthorized"
	case errors.Is(err, auth.ErrForbidden):
		return "denied"
	case errors.Is(err, auth.ErrHidden):
		return "hidden"
	case errors.Is(err, ErrBodyStalled):
		return "body_stalled"
	}
	return ""
}

// StatusReason is the reason of a status when nothing more precise is known: its text as a
// phrase, e.g. "method_not_allowed" for 405, "internal_server_error" for 500.
func StatusReason(status int) string {
	text := http.StatusText(status)
	if text == "" {
		return "status_" + strconv.Itoa(status)
	}
	return strings.Map(func(c rune) rune {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			return c
		case c >= 'A' && c <= 'Z':
			return c + 'a' - 'A'
		case c == ' ' || c == '-':
			return '_'
		}
		return -1
	}, text)
}

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
