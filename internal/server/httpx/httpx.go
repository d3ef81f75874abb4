// Package httpx holds the small HTTP pieces every chartroom handler shares: request-scoped
// facts the middleware logs and counts (route name, user), and the JSON error body of the
// non-OCI endpoints.
package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
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

// WriteError answers {"error": msg} with status: the error body of every non-OCI endpoint.
// msg says what went wrong and what to do.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, map[string]string{"error": msg})
}

// WriteJSON answers v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
