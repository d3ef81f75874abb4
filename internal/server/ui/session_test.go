package ui_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/server/auth"
)

// Every answer of the UI carries the security headers, and no page has an inline script or
// style (the CSP forbids them, so a page that had one would be broken, not unsafe).
func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, true)
	e.publish(t, "team", charttest.Archive(t, "myapp", "1.0.0", "a"))
	b := e.browser(t)
	for _, path := range []string{"/ui/", "/ui/login", "/ui/ns/team", "/ui/search?q=my", "/ui/nothing-here", "/ui/static/style.css", "/ui/static/ui.js"} {
		status, h, body := b.get(path)
		if status >= 500 {
			t.Fatalf("%s: %d", path, status)
		}
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows unsafe code: %q", path, csp)
		}
		for k, v := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"} {
			if h.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", path, k, h.Get(k), v)
			}
		}
		if strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			assertNoInlineCode(t, path, body)
		}
	}
}

var (
	inlineScript = regexp.MustCompile(`(?i)<script(\s[^>]*)?>`)
	styleAttr    = regexp.MustCompile(`(?i)<[^>]+\sstyle\s*=`)
	onAttr       = regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`)
)

func assertNoInlineCode(t *testing.T, what, body string) {
	t.Helper()
	for _, m := range inlineScript.FindAllString(body, -1) {
		if !strings.Contains(m, " src=") {
			t.Errorf("%s: inline script %s", what, m)
		}
	}
	if m := styleAttr.FindString(body); m != "" {
		t.Errorf("%s: style attribute in %s", what, m)
	}
	if strings.Contains(strings.ToLower(body), "<style") {
		t.Errorf("%s: a <style> element", what)
	}
	if m := onAttr.FindString(body); m != "" {
		t.Errorf("%s: event handler attribute in %s", what, m)
	}
}

func TestLoginSessionLogout(t *testing.T) {
	e := newEnv(t, false)
	b := e.browser(t)
	if _, _, body := b.get("/ui/"); !strings.Contains(body, `id="signin"`) {
		t.Fatalf("anonymous visitor: no sign-in link:\n%s", body)
	}

	tok := b.csrf("/ui/login")
	status, _, body := b.post("/ui/login", url.Values{"csrf": {tok}, "user": {"admin"}, "password": {"wrong"}}, b.url)
	if status != http.StatusUnauthorized || !strings.Contains(body, "Unknown user or wrong password") {
		t.Fatalf("wrong password: %d\n%s", status, body)
	}

	tok = b.csrf("/ui/login")
	status, h, _ := b.post("/ui/login", url.Values{"csrf": {tok}, "user": {"admin"}, "password": {adminPassword}, "next": {"/ui/search?q=x"}}, b.url)
	if status != http.StatusSeeOther || h.Get("Location") != "/ui/search?q=x" {
		t.Fatalf("sign in: %d %q", status, h.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == "chartroom_session" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/ui" || session.MaxAge <= 0 {
		t.Fatalf("session cookie: %+v", session)
	}
	if _, _, body := b.get("/ui/"); !strings.Contains(body, `<strong id="user">admin</strong>`) {
		t.Fatalf("signed in: the page does not say so:\n%s", body)
	}

	// Logout needs the session's CSRF token.
	if status, _, _ := b.post("/ui/logout", url.Values{"csrf": {"forged"}}, b.url); status != http.StatusBadRequest {
		t.Fatalf("logout without the CSRF token: %d, want 400", status)
	}
	if _, _, body := b.get("/ui/"); !strings.Contains(body, `id="user"`) {
		t.Fatal("a forged logout signed the user out")
	}
	tok = b.csrf("/ui/")
	if status, _, _ := b.post("/ui/logout", url.Values{"csrf": {tok}}, b.url); status != http.StatusSeeOther {
		t.Fatalf("logout: %d", status)
	}
	if _, _, body := b.get("/ui/"); strings.Contains(body, `id="user"`) {
		t.Fatal("still signed in after logout")
	}
}

// A POST from another site, or without the token, is refused before it does anything: a
// sign-in from a forged form sets no session.
func TestCSRFRefused(t *testing.T) {
	e := newEnv(t, false)
	b := e.browser(t)
	tok := b.csrf("/ui/login")
	good := url.Values{"csrf": {tok}, "user": {"admin"}, "password": {adminPassword}}
	for name, c := range map[string]struct {
		form   url.Values
		origin string
	}{
		"other origin":     {good, "https://evil.example"},
		"no origin":        {good, ""},
		"no token":         {url.Values{"user": {"admin"}, "password": {adminPassword}}, b.url},
		"someone's token":  {url.Values{"csrf": {strings.Repeat("A", 43)}, "user": {"admin"}, "password": {adminPassword}}, b.url},
		"null origin":      {good, "null"},
		"origin by prefix": {good, b.url + ".evil.example"},
	} {
		status, h, body := b.post("/ui/login", c.form, c.origin)
		if status != http.StatusBadRequest || strings.Contains(h.Get("Set-Cookie"), "chartroom_session") {
			t.Errorf("%s: %d, cookies %q, want 400 and no session\n%s", name, status, h.Get("Set-Cookie"), body)
		}
	}
}

// A reader sees the namespaces they may pull, nothing else; an anonymous visitor what
// anonymous read allows.
func TestNamespacesFiltered(t *testing.T) {
	e := newEnv(t, false)
	e.publish(t, "team", charttest.Archive(t, "teamapp", "1.0.0", "a"))
	e.publish(t, "secret", charttest.Archive(t, "secretapp", "1.0.0", "a"))
	e.publish(t, "public", charttest.Archive(t, "publicapp", "1.0.0", "a"))
	on := true
	if err := e.mgr.SetAnonymousRead(context.Background(), "public", &on); err != nil {
		t.Fatal(err)
	}
	e.addUser(t, "reader", "reader-password-1", "team", auth.RoleReader)

	anon := e.browser(t)
	_, _, body := anon.get("/ui/")
	if !strings.Contains(body, "public") || strings.Contains(body, "team") || strings.Contains(body, "secret") {
		t.Errorf("anonymous: namespaces page:\n%s", body)
	}
	if status, _, _ := anon.get("/ui/ns/secret"); status != http.StatusNotFound {
		t.Errorf("anonymous: /ui/ns/secret %d, want 404", status)
	}

	r := e.browser(t)
	r.login("reader", "reader-password-1")
	_, _, body = r.get("/ui/")
	if !strings.Contains(body, `href="/ui/ns/team"`) || strings.Contains(body, "secret") {
		t.Errorf("reader: namespaces page:\n%s", body)
	}
	if status, _, _ := r.get("/ui/ns/secret"); status != http.StatusNotFound {
		t.Errorf("reader: /ui/ns/secret %d, want 404", status)
	}
	_, _, body = r.get("/ui/search?q=app")
	if !strings.Contains(body, "teamapp") || !strings.Contains(body, "publicapp") || strings.Contains(body, "secretapp") {
		t.Errorf("reader: search:\n%s", body)
	}

	// A revoked grant applies at once to the session.
	if err := e.mgr.Revoke(context.Background(), "reader", "team"); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := r.get("/ui/ns/team"); status != http.StatusNotFound {
		t.Errorf("reader after revoke: /ui/ns/team %d, want 404", status)
	}
}

// A session ends when its user is deleted or their password changes.
func TestSessionEndsWithUserOrPassword(t *testing.T) {
	e := newEnv(t, false)
	e.addUser(t, "alice", "alice-password-1", "*", auth.RoleReader)
	e.addUser(t, "bob", "bob-password-1", "*", auth.RoleReader)
	a, b := e.browser(t), e.browser(t)
	a.login("alice", "alice-password-1")
	b.login("bob", "bob-password-1")
	ctx := context.Background()
	if err := e.mgr.SetPassword(ctx, "alice", "alice-password-2"); err != nil {
		t.Fatal(err)
	}
	if err := e.mgr.DeleteUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*browser{"password changed": a, "user deleted": b} {
		if _, _, body := c.get("/ui/"); strings.Contains(body, `id="user"`) {
			t.Errorf("%s: still signed in", name)
		}
	}
}

// Sign-in takes passwords only, and is throttled as Basic credentials are.
func TestLoginRefusesTokensAndThrottles(t *testing.T) {
	e := newEnv(t, false)
	_, tokenValue, err := e.mgr.CreateToken(context.Background(), auth.NewTokenRequest{User: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	tok := b.csrf("/ui/login")
	status, h, body := b.post("/ui/login", url.Values{"csrf": {tok}, "user": {"admin"}, "password": {tokenValue}}, b.url)
	if status != http.StatusUnauthorized || strings.Contains(h.Get("Set-Cookie"), "chartroom_session") || !strings.Contains(body, "API tokens") {
		t.Fatalf("sign in with an API token: %d %q\n%s", status, h.Get("Set-Cookie"), body)
	}
	throttled := false
	for range auth.DefaultUserFailures + 2 {
		status, h, _ = b.post("/ui/login", url.Values{"csrf": {tok}, "user": {"admin"}, "password": {"wrong-password"}}, b.url)
		if status == http.StatusTooManyRequests {
			throttled = h.Get("Retry-After") != ""
			break
		}
	}
	if !throttled {
		t.Fatal("wrong passwords were never throttled")
	}
}
