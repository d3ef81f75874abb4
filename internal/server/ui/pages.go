package ui

import (
	"net/http"
	"net/url"

	"github.com/chartroom/chartroom/internal/server/auth"
)

// Access is who may open a page.
type Access int

const (
	// Public pages are open to every visitor; what they list is filtered by the access
	// rules (an anonymous visitor sees what anonymous read allows).
	Public Access = iota
	// SignedIn pages need a session: an anonymous visitor is sent to the sign-in form.
	SignedIn
	// AdminOnly pages need role admin on * (a global admin): every other visitor, signed in
	// or not, gets the 404 of a path that does not exist (before a POST's CSRF check), so
	// that nobody else learns the admin pages are there.
	AdminOnly
)

// page is a row of the page table.
type page struct {
	// Pattern is an http.ServeMux pattern with its method, e.g. "GET /ui/ns/{ns...}".
	// A GET pattern also serves HEAD.
	Pattern string
	Access  Access
	// Handle answers the request: it renders (u.render) or redirects, or returns an error
	// that u.fail turns into a page (errNotFound, errForbidden, *badRequest, others 500).
	// A POST reaches it only with a valid CSRF token from a same-origin page.
	Handle func(u *UI, q *Request) error
}

// pages is the page table: one row per page. A new page is a new file holding its handler
// (and its templates/<name>.html) plus one row here.
var pages = []page{
	{"GET /ui/{$}", Public, (*UI).namespacesPage},
	{"GET /ui/ns/{ns...}", Public, (*UI).namespacePage},
	{"GET /ui/search", Public, (*UI).searchPage},
	{"GET /ui/chart/{repo...}", Public, (*UI).chartPage},
	{"GET /ui/values/{repo...}", Public, (*UI).valuesFile},
	{"GET /ui/login", Public, (*UI).loginForm},
	{"POST /ui/login", Public, (*UI).login},
	{"POST /ui/logout", Public, (*UI).logout},
	// The diff of two versions of a chart (diff.go).
	{"GET /ui/diff/{repo...}", Public, (*UI).diffPage},
	// The admin pages (admin.go).
	{"GET /ui/admin/{$}", AdminOnly, (*UI).adminHome},
	{"GET /ui/admin/users", AdminOnly, (*UI).adminUsers},
	{"POST /ui/admin/users", AdminOnly, (*UI).adminUserAdd},
	{"POST /ui/admin/users/{name}/password", AdminOnly, (*UI).adminUserPassword},
	{"POST /ui/admin/users/{name}/delete", AdminOnly, (*UI).adminUserDelete},
	{"GET /ui/admin/tokens", AdminOnly, (*UI).adminTokens},
	{"POST /ui/admin/tokens", AdminOnly, (*UI).adminTokenCreate},
	{"POST /ui/admin/tokens/{id}/revoke", AdminOnly, (*UI).adminTokenRevoke},
	{"GET /ui/admin/grants", AdminOnly, (*UI).adminGrants},
	{"POST /ui/admin/grants", AdminOnly, (*UI).adminGrantAdd},
	{"POST /ui/admin/grants/remove", AdminOnly, (*UI).adminGrantRemove},
	{"GET /ui/admin/policies", AdminOnly, (*UI).adminPolicies},
	{"POST /ui/admin/policies", AdminOnly, (*UI).adminPolicySet},
	{"GET /ui/admin/audit", AdminOnly, (*UI).adminAudit},
	{"GET /ui/admin/storage", AdminOnly, (*UI).adminStorage},
}

// Request is one request to a page, with who is asking.
type Request struct {
	W http.ResponseWriter
	R *http.Request
	// Principal is the signed-in user, or anonymous.
	Principal auth.Principal
	// Admin: the principal is a global admin (role admin on *).
	Admin bool
	// CSRF is the token the page's forms carry (csrfField in templates).
	CSRF string
	// session is the session cookie's value; "" when anonymous.
	session string
}

// request reads who is asking (the session cookie) and the CSRF token their forms carry.
func (u *UI) request(w http.ResponseWriter, r *http.Request) *Request {
	q := &Request{W: w, R: r, Principal: auth.Principal{Anonymous: true}}
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if p, err := u.authz.Session(r.Context(), c.Value); err == nil {
			q.Principal, q.session = p, c.Value
			q.CSRF = u.authz.SessionCSRF(r.Context(), c.Value)
			q.Admin = u.authz.IsGlobalAdmin(p)
		} else {
			u.clearSession(w, r) // expired, forged or its user changed: forget it
		}
	}
	if q.session == "" {
		q.CSRF = u.anonymousCSRF(w, r)
	}
	return q
}

// page wraps a row's handler: who is asking, the access the row needs, the CSRF check of
// POSTs, and the error page.
func (u *UI) page(p page) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := u.request(w, r)
		if p.Access == AdminOnly && !q.Admin {
			u.fail(q, errNotFound)
			return
		}
		if r.Method == http.MethodPost {
			if err := u.checkPost(q); err != nil {
				u.fail(q, err)
				return
			}
		}
		if p.Access != Public && q.Principal.Anonymous {
			http.Redirect(w, r, Prefix+"login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if err := p.Handle(u, q); err != nil {
			u.fail(q, err)
		}
	})
}

// canRead reports whether the visitor may read namespace ns.
func (q *Request) canRead(u *UI, ns string) bool { return u.authz.CanRead(q.Principal, ns) }
