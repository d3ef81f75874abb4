package oci

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server/auth"
	"github.com/chartroom/chartroom/internal/server/httpx"
)

// The token service of the docker registry token flow, at /v2/token. A 401 on /v2/ challenges
// with "Bearer realm=<base>/v2/token,service=<host>,scope=repository:<name>:<actions>"; the
// client asks the realm for a token of that scope, with its credentials (GET with Basic
// credentials or none, or POST with an OAuth2 password grant), and sends it as "Bearer".
// The token grants the actions asked for that the caller may take: never an error for
// asking too much, the answer is the intersection. Basic credentials keep working on every
// endpoint.

// maxScopes bounds the scopes of one token request.
const maxScopes = 64

// maxTokenForm bounds the form of a POST token request.
const maxTokenForm = 64 << 10

var codeTokenRequestInvalid = &errorCode{"UNSUPPORTED", http.StatusBadRequest, "invalid token request"}

// authorizeToken authenticates a token request: Basic credentials, none (anonymous), or for
// POST the password grant's user name and password. What the token grants is decided per
// scope by the handler.
func (h *handler) authorizeToken(r *http.Request) (auth.Principal, auth.Target, error) {
	at := auth.RegistryTarget()
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(nil, r.Body, maxTokenForm)
		if err := r.ParseForm(); err != nil {
			return auth.Principal{}, at, newError(codeTokenRequestInvalid, "the token request is not a form (application/x-www-form-urlencoded, at most 64 KiB): %v", err)
		}
		switch gt := r.PostForm.Get("grant_type"); gt {
		case "password":
			user, pass := r.PostForm.Get("username"), r.PostForm.Get("password")
			if user == "" || pass == "" {
				return auth.Principal{}, at, newError(codeTokenRequestInvalid, "grant_type password needs username and password")
			}
			r.Header.Del("Authorization")
			r.SetBasicAuth(user, pass)
		case "refresh_token":
			return auth.Principal{}, at, newError(codeTokenRequestInvalid, "grant_type refresh_token is not supported: this token service issues no refresh tokens; sign in with a user name and password or API token (grant_type password, or GET with Basic credentials)")
		default:
			return auth.Principal{}, at, newError(codeTokenRequestInvalid, "grant_type %q is not supported: use password (or GET with Basic credentials)", gt)
		}
	}
	p, err := h.authz.Authenticate(r)
	return p, at, err
}

// tokenResponse is the token service's answer (docker token spec and OAuth2 alike).
type tokenResponse struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
}

// token issues a registry token for the scopes asked (GET: scope parameters; POST: the form's
// space-separated scope).
func (h *handler) token(w http.ResponseWriter, r *http.Request) error {
	var scopes []string
	var service string
	if r.Method == http.MethodPost {
		scopes, service = strings.Fields(r.PostForm.Get("scope")), r.PostForm.Get("service")
	} else {
		q := r.URL.Query()
		for _, s := range q["scope"] {
			scopes = append(scopes, strings.Fields(s)...)
		}
		service = q.Get("service")
	}
	if want := h.authz.Service(r); service != "" && service != want {
		return newError(codeTokenRequestInvalid, "this token service issues tokens for service %q, not %q: ask the realm the registry's challenge names", want, service)
	}
	if len(scopes) > maxScopes {
		return newError(codeTokenRequestInvalid, "%d scopes asked for: at most %d per token", len(scopes), maxScopes)
	}
	access := h.grant(httpx.Principal(r), scopes)
	t, err := h.authz.IssueToken(r, httpx.Principal(r), access)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, httpx.ContentTypeJSON, tokenResponse{Token: t.Token, AccessToken: t.Token, ExpiresIn: t.ExpiresIn, IssuedAt: t.IssuedAt.Format(time.RFC3339)})
	return nil
}

// grant returns the access list of a token for scopes: of each repository asked, the
// actions asked for that p may take; the catalog when asked and p may list it. Scopes that
// cannot be read, of unknown types or of invalid names grant nothing.
func (h *handler) grant(p auth.Principal, scopes []string) []auth.AccessEntry {
	access := []auth.AccessEntry{}
	index := map[string]int{}
	for _, sc := range scopes {
		typ, rest, ok := strings.Cut(sc, ":")
		i := strings.LastIndexByte(rest, ':')
		if !ok || i < 0 {
			continue
		}
		name, actions := rest[:i], strings.Split(rest[i+1:], ",")
		if j := strings.IndexByte(typ, '('); j >= 0 { // repository(plugin): a resource class
			typ = typ[:j]
		}
		switch {
		case typ == "registry" && name == "catalog" && slices.Contains(actions, "*"):
			if _, seen := index["\x00catalog"]; !seen && h.authz.Check(p, auth.RegistryTarget(), auth.Pull) == nil {
				index["\x00catalog"] = len(access)
				access = append(access, auth.AccessEntry{Type: "registry", Name: "catalog", Actions: []string{"*"}})
			}
		case typ == "repository" && registry.ValidateName(name) == nil:
			var asked []auth.Action
			for _, a := range actions {
				switch a {
				case "*":
					asked = append(asked, auth.Pull, auth.Push, auth.Delete)
				case "pull", "push", "delete":
					act, _ := auth.ParseAction(a)
					asked = append(asked, act)
				}
			}
			granted := h.authz.Permitted(p, name, asked...)
			if len(granted) == 0 {
				continue
			}
			k, seen := index[name]
			if !seen {
				k = len(access)
				index[name] = k
				access = append(access, auth.AccessEntry{Type: "repository", Name: name, Actions: []string{}})
			}
			for _, a := range granted {
				if !slices.Contains(access[k].Actions, a.String()) {
					access[k].Actions = append(access[k].Actions, a.String())
				}
			}
		}
	}
	return access
}

// challenge sets the WWW-Authenticate header of a 401 answer: on the token service, Basic
// (it takes Basic credentials); elsewhere, Bearer with the token service and the scope the
// request needs.
func (h *handler) challenge(w http.ResponseWriter, r *http.Request, err error) {
	t, perr := parsePath(r.URL.EscapedPath())
	if perr != nil || t.endpoint == epToken {
		h.authz.Challenge(w)
		return
	}
	var scope string
	switch t.endpoint {
	case epBase:
	case epCatalog:
		scope = "registry:catalog:*"
	default:
		if h.api == nil {
			break
		}
		if rt, ok := h.api.Routes.Match(t.endpoint, r.Method); ok && registry.ValidateName(t.name) == nil {
			scope = "repository:" + t.name + ":" + scopeActions(rt.Action)
		}
		var m *mountScopeError
		if errors.As(err, &m) {
			scope += " repository:" + m.from + ":pull"
		}
	}
	h.authz.BearerChallenge(w, r, scope, err)
}

// scopeActions are the actions of a scope a route needs, as docker clients ask them.
func scopeActions(a auth.Action) string {
	switch a {
	case auth.Push:
		return "pull,push"
	case auth.Delete:
		return "delete"
	}
	return "pull"
}
