package ui_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/registry/registrytest"
	"github.com/chartroom/chartroom/internal/server/auth"
	"github.com/chartroom/chartroom/internal/server/ui"
)

const adminPassword = "admin-password-1"

// env is a real registry (temporary SQLite and blob store), its auth service and the UI over
// them, on an httptest server.
type env struct {
	*registrytest.Env
	authz *auth.Service
	mgr   *auth.Manager
	srv   *httptest.Server
	ui    *ui.UI
}

func newEnv(t testing.TB, anonymousRead bool) *env {
	t.Helper()
	ctx := context.Background()
	reg := registrytest.New(t, registry.Options{})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	authz := auth.New(reg.DB, auth.Options{AnonymousRead: anonymousRead, Refresh: -1, Logger: log})
	if err := authz.Bootstrap(ctx, adminPassword, log); err != nil {
		t.Fatal(err)
	}
	if err := authz.EnsureTokenKey(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := ui.New(reg.Registry, authz, ui.Options{Logger: log, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(u)
	t.Cleanup(srv.Close)
	return &env{Env: reg, authz: authz, mgr: &auth.Manager{DB: reg.DB, Actor: "test", Address: "local"}, srv: srv, ui: u}
}

// addUser adds user name with password and role on pattern.
func (e *env) addUser(t *testing.T, name, password, pattern string, role auth.Role) {
	t.Helper()
	ctx := context.Background()
	if err := e.mgr.AddUser(ctx, name, password, false); err != nil {
		t.Fatal(err)
	}
	if pattern != "" {
		if err := e.mgr.Grant(ctx, name, pattern, role); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *env) publish(t *testing.T, ns string, archive []byte) *registry.ChartVersion {
	t.Helper()
	cv, err := e.Publish(t, archive, registry.PublishChartRequest{Namespace: ns, Actor: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	return cv
}

// browser is a client with a cookie jar, as a browser keeps cookies.
type browser struct {
	t   *testing.T
	e   *env
	c   *http.Client
	url string
}

func (e *env) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, e: e, url: e.srv.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// get fetches path and returns the status, headers and body.
func (b *browser) get(path string) (int, http.Header, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.url + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

// post sends a form as a page of the server does (its Origin), and returns status, headers, body.
func (b *browser) post(path string, form url.Values, origin string) (int, http.Header, string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the token of the first form of a page.
func (b *browser) csrf(page string) string {
	b.t.Helper()
	_, _, body := b.get(page)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no CSRF token in %s:\n%s", page, body)
	}
	return m[1]
}

// login signs in with user and password through the form, and fails the test unless it worked.
func (b *browser) login(user, password string) {
	b.t.Helper()
	tok := b.csrf("/ui/login")
	status, h, body := b.post("/ui/login", url.Values{"csrf": {tok}, "user": {user}, "password": {password}, "next": {"/ui/"}}, b.url)
	if status != http.StatusSeeOther || h.Get("Location") != "/ui/" {
		b.t.Fatalf("sign in as %s: %d %s\n%s", user, status, h.Get("Location"), body)
	}
}
