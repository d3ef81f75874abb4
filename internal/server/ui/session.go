package ui

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/chartroom/chartroom/internal/server/auth"
)

// Sign-in and sessions. A session is a cookie auth signs (auth.Service.NewSession): it names
// the user, expires, and is checked at every request against the current users, passwords
// and grants, so it holds on every replica of a database and a revoked user loses access at
// once. CSRF: a signed-in visitor's forms carry a token bound to the session
// (auth.Service.SessionCSRF); an anonymous visitor's (the sign-in form) the value of a random
// cookie of their own (double submit). Every POST must carry the token, and come from a page
// of this server: its Origin (or, without one, its Referer) must be the server's own, and a
// browser's Sec-Fetch-Site must not say cross-site.

const (
	sessionCookie = "chartroom_session"
	csrfCookie    = "chartroom_csrf"
	csrfField     = "csrf"
)

// secure reports whether cookies must be Secure: the request came over TLS, or clients
// reach the server over https (--external-url https://…).
func (u *UI) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(strings.ToLower(u.opts.ExternalURL), "https://")
}

func (u *UI) cookie(r *http.Request, name, value string, expires time.Time, sameSite http.SameSite) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: "/ui", HttpOnly: true, Secure: u.secure(r), SameSite: sameSite}
	if !expires.IsZero() {
		c.Expires = expires
		c.MaxAge = max(1, int(time.Until(expires)/time.Second))
	}
	return c
}

func (u *UI) clearSession(w http.ResponseWriter, r *http.Request) {
	c := u.cookie(r, sessionCookie, "", time.Time{}, http.SameSiteLaxMode)
	c.MaxAge = -1
	http.SetCookie(w, c)
}

// anonymousCSRF returns the visitor's CSRF cookie value, setting a new one when they have none.
func (u *UI) anonymousCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	v := base64.RawURLEncoding.EncodeToString(b[:])
	http.SetCookie(w, u.cookie(r, csrfCookie, v, time.Time{}, http.SameSiteStrictMode))
	return v
}

// errCrossSite refuses a POST that is not from a page of this server.
var errCrossSite = &badRequest{"This form was not sent from a page of this registry (its origin does not match, or its security token is missing or stale). Reload the page and send it again."}

// checkPost refuses a POST without the visitor's CSRF token or from another origin.
func (u *UI) checkPost(q *Request) error {
	r := q.R
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return errCrossSite
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		ref, err := url.Parse(r.Header.Get("Referer"))
		if err != nil || ref.Host == "" {
			return errCrossSite
		}
		origin = ref.Scheme + "://" + ref.Host
	}
	if !u.sameOrigin(r, origin) {
		return errCrossSite
	}
	r.Body = http.MaxBytesReader(q.W, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return &badRequest{"The form could not be read: " + err.Error()}
	}
	got := r.PostFormValue(csrfField)
	if q.CSRF == "" || !hmac.Equal([]byte(got), []byte(q.CSRF)) {
		return errCrossSite
	}
	return nil
}

// sameOrigin reports whether origin (scheme://host[:port]) is this server's: the one of
// --external-url, or the one the request came to.
func (u *UI) sameOrigin(r *http.Request, origin string) bool {
	origin = strings.ToLower(strings.TrimSuffix(origin, "/"))
	if e, err := url.Parse(u.opts.ExternalURL); err == nil && e.Host != "" && strings.ToLower(e.Scheme+"://"+e.Host) == origin {
		return true
	}
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")[0]), "https") {
		scheme = "https"
	}
	return strings.ToLower(scheme+"://"+r.Host) == origin
}

// loginPage is the data of templates/login.html.
type loginPage struct {
	Next  string
	User  string
	Error string
}

func (u *UI) loginForm(q *Request) error {
	next := safeNext(q.R.URL.Query().Get("next"))
	if !q.Principal.Anonymous {
		http.Redirect(q.W, q.R, next, http.StatusSeeOther)
		return nil
	}
	return u.render(q, "login", "Sign in", loginPage{Next: next})
}

func (u *UI) login(q *Request) error {
	r := q.R
	user, pass, next := r.PostFormValue("user"), r.PostFormValue("password"), safeNext(r.PostFormValue("next"))
	p, err := u.authz.SignIn(r, user, pass)
	if err != nil {
		msg := "Unknown user or wrong password."
		var te *auth.ThrottledError
		switch {
		case errors.As(err, &te):
			auth.SetRetryAfter(q.W, err)
			msg = fmt.Sprintf("Too many failed sign-ins: try again in %s.", te.RetryAfter.Round(time.Second))
		case errors.Is(err, auth.ErrUnauthenticated):
			if strings.Contains(err.Error(), "API tokens") {
				msg = "Sign in with your password: API tokens are for clients (helm, oras, curl), not for the web UI."
			}
		default:
			return err
		}
		status := http.StatusUnauthorized
		if te != nil {
			status = http.StatusTooManyRequests
		}
		return u.renderStatus(q, status, "login", "Sign in", loginPage{Next: next, User: user, Error: msg})
	}
	value, exp, err := u.authz.NewSession(r.Context(), p, u.opts.SessionTTL)
	if err != nil {
		return err
	}
	http.SetCookie(q.W, u.cookie(r, sessionCookie, value, exp, http.SameSiteLaxMode))
	http.Redirect(q.W, r, next, http.StatusSeeOther)
	return nil
}

func (u *UI) logout(q *Request) error {
	u.clearSession(q.W, q.R)
	http.Redirect(q.W, q.R, Prefix, http.StatusSeeOther)
	return nil
}

// safeNext keeps a post-sign-in redirect on the UI: a path under /ui/, never another site
// ("//evil", "/\evil", "https://…").
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(next, "//") {
		return Prefix
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return Prefix
	}
	return next
}
