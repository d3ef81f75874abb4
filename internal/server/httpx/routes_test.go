package httpx

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chartroom/chartroom/internal/server/auth"
)

type ep int

const (
	epA ep = iota + 1
	epB
)

// Every answer of an API that is not a handler's success leaves through WriteError: a path no
// endpoint serves, a method the endpoint does not serve, a refused caller, a failed handler.
func TestAPIOneErrorExit(t *testing.T) {
	errNoEndpoint := errors.New("no endpoint")
	errRefused := errors.New("refused")
	errHandler := errors.New("handler failed")
	var exits []error
	ok := func(w http.ResponseWriter, r *http.Request, path string) error {
		if got := Principal(r).Name; got != "alice" {
			t.Errorf("the handler sees principal %q, want alice", got)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	api := &API[ep, string]{
		Routes: NewRoutes(
			Route[ep, string]{Endpoint: epA, Method: http.MethodGet, Name: "a.get", Action: auth.Pull, Handle: ok},
			Route[ep, string]{Endpoint: epA, Method: http.MethodPut, Name: "a.put", Action: auth.Push,
				Handle: func(http.ResponseWriter, *http.Request, string) error { return errHandler }},
			Route[ep, string]{Endpoint: epB, Method: http.MethodDelete, Name: "b.delete", Action: auth.Delete, Handle: ok},
		),
		Parse: func(r *http.Request) (ep, string, error) {
			switch r.URL.Path {
			case "/a":
				return epA, r.URL.Path, nil
			case "/b":
				return epB, r.URL.Path, nil
			}
			return 0, "", errNoEndpoint
		},
		NotAllowed: func(r *http.Request, allow string) error { return errors.New("not allowed; allowed: " + allow) },
		Authorize: func(r *http.Request, path string, a auth.Action) (auth.Principal, auth.Target, error) {
			if a == auth.Delete {
				return auth.Principal{}, auth.Target{}, errRefused
			}
			return auth.Principal{Name: "alice"}, auth.RepositoryTarget("team/app"), nil
		},
		WriteError: func(w http.ResponseWriter, r *http.Request, err error) {
			exits = append(exits, err)
			w.WriteHeader(http.StatusTeapot)
		},
		NotFoundRoute: "nf", NotAllowedRoute: "na",
	}
	for _, tc := range []struct {
		method, path string
		status       int
		route, allow string
		err          string
	}{
		{http.MethodGet, "/a", http.StatusNoContent, "a.get", "", ""},
		{http.MethodHead, "/a", http.StatusNoContent, "a.get", "", ""}, // HEAD by the GET row
		{http.MethodGet, "/nowhere", http.StatusTeapot, "nf", "", "no endpoint"},
		{http.MethodPost, "/a", http.StatusTeapot, "na", "GET, HEAD, PUT", "not allowed; allowed: GET, HEAD, PUT"},
		{http.MethodHead, "/b", http.StatusTeapot, "na", "DELETE", "not allowed; allowed: DELETE"},
		{http.MethodDelete, "/b", http.StatusTeapot, "b.delete", "", "refused"},
		{http.MethodPut, "/a", http.StatusTeapot, "a.put", "", "handler failed"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			exits = nil
			req, info := WithInfo(httptest.NewRequest(tc.method, tc.path, nil))
			w := httptest.NewRecorder()
			api.ServeHTTP(w, req)
			if w.Code != tc.status || info.Route != tc.route || w.Header().Get("Allow") != tc.allow {
				t.Fatalf("status %d route %q Allow %q, want %d %q %q", w.Code, info.Route, w.Header().Get("Allow"), tc.status, tc.route, tc.allow)
			}
			switch {
			case tc.err == "" && len(exits) != 0:
				t.Fatalf("a success went through the error exit: %v", exits)
			case tc.err != "" && (len(exits) != 1 || exits[0].Error() != tc.err):
				t.Fatalf("error exit saw %v, want once %q", exits, tc.err)
			}
		})
	}
}
