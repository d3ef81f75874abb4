package ui_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/server/auth"
)

// adminGets are the admin pages a GET opens.
var adminGets = []string{"/ui/admin/", "/ui/admin/users", "/ui/admin/tokens", "/ui/admin/tokens?user=admin", "/ui/admin/grants",
	"/ui/admin/policies", "/ui/admin/policies?ns=team", "/ui/admin/audit", "/ui/admin/audit?action=user.add", "/ui/admin/storage"}

// adminPosts are the admin forms, each with a form that would change something.
var adminPosts = []struct {
	path string
	form url.Values
}{
	{"/ui/admin/users", url.Values{"name": {"mallory"}, "password": {"mallory-password-1"}, "admin": {"on"}}},
	{"/ui/admin/users/admin/password", url.Values{"password": {"mallory-password-1"}}},
	{"/ui/admin/users/admin/delete", url.Values{"confirm": {"admin"}}},
	{"/ui/admin/tokens", url.Values{"user": {"admin"}}},
	{"/ui/admin/tokens/tok-0000000000000000/revoke", url.Values{}},
	{"/ui/admin/grants", url.Values{"subject": {"reader"}, "pattern": {"*"}, "role": {"admin"}}},
	{"/ui/admin/grants/remove", url.Values{"subject": {"admin"}, "pattern": {"*"}}},
	{"/ui/admin/policies", url.Values{"namespace": {"team"}, "signed_only": {"on"}, "semver_discipline": {"enforce"}, "anonymous_read": {"off"}}},
}

// A reader and an anonymous visitor get on every admin path, GET or POST (with their own
// valid CSRF token), the very 404 of a path that does not exist, see no admin link, and
// change nothing.
func TestAdminPagesAreHiddenFromOthers(t *testing.T) {
	e := newEnv(t, true)
	e.publish(t, "team", charttest.Archive(t, "myapp", "1.0.0", "a"))
	e.addUser(t, "reader", "reader-password-1", "*", auth.RoleReader)
	e.addUser(t, "maint", "maint-password-1", "team", auth.RoleMaintainer)
	ctx := context.Background()
	auditBefore, err := e.authz.SearchAudit(ctx, auth.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}

	anon := e.browser(t)
	_, _, missing := anon.get("/ui/no-such-page")
	visitors := map[string]*browser{"anonymous": anon}
	for _, who := range []string{"reader", "maint"} {
		b := e.browser(t)
		b.login(who, who+"-password-1")
		visitors[who] = b
	}
	for who, b := range visitors {
		if _, _, body := b.get("/ui/"); strings.Contains(body, `id="nav-admin"`) || strings.Contains(body, "/ui/admin/") {
			t.Errorf("%s: the namespaces page links to the admin pages", who)
		}
		_, _, notFound := b.get("/ui/no-such-page")
		for _, path := range adminGets {
			status, h, body := b.get(path)
			if status != http.StatusNotFound || h.Get("Location") != "" {
				t.Errorf("%s: GET %s: %d %s, want 404", who, path, status, h.Get("Location"))
			}
			if body != notFound {
				t.Errorf("%s: GET %s answers other than a missing page:\n%s", who, path, body)
			}
		}
		page := "/ui/" // the sign-out form's token
		if who == "anonymous" {
			page = "/ui/login"
		}
		tok := b.csrf(page)
		for _, p := range adminPosts {
			form := url.Values{"csrf": {tok}}
			for k, v := range p.form {
				form[k] = v
			}
			status, _, body := b.post(p.path, form, b.url)
			if status != http.StatusNotFound || body != notFound {
				t.Errorf("%s: POST %s: %d, want the 404 of a missing page:\n%s", who, p.path, status, body)
			}
		}
	}
	if missing == "" {
		t.Fatal("no 404 page")
	}

	// Nothing changed: no user, no grant, no policy, and no audit record of a change.
	if err := e.authz.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	users, err := e.authz.Accounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 3 {
		t.Errorf("users after the refused posts: %+v", users)
	}
	if _, err := e.authz.SignIn(httptestRequest(), "admin", adminPassword); err != nil {
		t.Errorf("admin's password changed: %v", err)
	}
	pol, err := e.Registry.GetNamespacePolicy(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	if pol.SignedOnly || pol.SemverDiscipline != "off" || pol.AnonymousRead != nil {
		t.Errorf("team's policy changed: %+v", pol)
	}
	after, err := e.authz.SearchAudit(ctx, auth.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(auditBefore) {
		t.Errorf("the refused posts are in the audit log as changes: %d records before, %d after: %+v", len(auditBefore), len(after), after[:len(after)-len(auditBefore)])
	}

	// An admin sees the link and every page.
	a := e.browser(t)
	a.login("admin", adminPassword)
	if _, _, body := a.get("/ui/"); !strings.Contains(body, `id="nav-admin"`) {
		t.Errorf("admin: no admin link:\n%s", body)
	}
	for _, path := range adminGets {
		status, _, body := a.get(path)
		if status != http.StatusOK {
			t.Errorf("admin: GET %s: %d\n%s", path, status, body)
		}
		assertNoInlineCode(t, path, body)
	}
}

func httptestRequest() *http.Request {
	r, _ := http.NewRequest(http.MethodGet, "http://localhost/", nil)
	r.RemoteAddr = "192.0.2.1:1234"
	return r
}

// A POST of an admin form without the CSRF token, with a wrong one, or from another origin
// is refused and changes nothing.
func TestAdminPostNeedsCSRF(t *testing.T) {
	e := newEnv(t, false)
	a := e.browser(t)
	a.login("admin", adminPassword)
	tok := a.csrf("/ui/admin/users")
	form := func(csrf string) url.Values {
		f := url.Values{"name": {"mallory"}, "password": {"mallory-password-1"}, "admin": {"on"}}
		if csrf != "" {
			f.Set("csrf", csrf)
		}
		return f
	}
	other := e.browser(t)
	other.login("admin", adminPassword)
	otherTok := other.csrf("/ui/admin/users")
	for name, c := range map[string]struct {
		form   url.Values
		origin string
	}{
		"no token":                {form(""), a.url},
		"wrong token":             {form(tok[:len(tok)-2] + "xx"), a.url},
		"another session's":       {form(otherTok), a.url},
		"right token, no origin":  {form(tok), ""},
		"right token, cross-site": {form(tok), "https://evil.example"},
	} {
		status, _, body := a.post("/ui/admin/users", c.form, c.origin)
		if status != http.StatusBadRequest || !strings.Contains(body, "not sent from a page of this registry") {
			t.Errorf("%s: %d\n%s", name, status, body)
		}
	}
	if _, _, body := a.get("/ui/admin/users"); strings.Contains(body, "mallory") {
		t.Fatal("a refused POST created the user")
	}
	recs, err := e.authz.SearchAudit(context.Background(), auth.AuditFilter{Actor: "admin", Action: "user.add"})
	if err != nil || len(recs) != 0 {
		t.Fatalf("user.add records after refused posts: %v %+v", err, recs)
	}
	// The same form with the token is accepted.
	if status, h, body := a.post("/ui/admin/users", form(tok), a.url); status != http.StatusSeeOther || !strings.Contains(h.Get("Location"), "done=user-added") {
		t.Fatalf("with the token: %d %s\n%s", status, h.Get("Location"), body)
	}
}

// adminForm posts form (with the page's CSRF token) and expects the redirect of a change
// done; it returns the page the redirect leads to.
func (b *browser) adminForm(path string, form url.Values, done string) string {
	b.t.Helper()
	tok := b.csrf("/ui/admin/")
	form.Set("csrf", tok)
	status, h, body := b.post(path, form, b.url)
	if status != http.StatusSeeOther || !strings.Contains(h.Get("Location"), "done="+done) {
		b.t.Fatalf("POST %s %v: %d %s\n%s", path, form, status, h.Get("Location"), body)
	}
	_, _, page := b.get(h.Get("Location"))
	if !strings.Contains(page, `id="done"`) {
		b.t.Fatalf("%s does not say what was done:\n%s", h.Get("Location"), page)
	}
	return page
}

// assertAudited checks that the audit log, as its page shows it filtered by action and
// user, has a record of action by admin mentioning what.
func assertAudited(t *testing.T, a *browser, action, what string) {
	t.Helper()
	_, _, page := a.get("/ui/admin/audit?user=admin&action=" + url.QueryEscape(action))
	rows := regexp.MustCompile(`(?s)<tr>.*?</tr>`).FindAllString(page, -1)
	for _, r := range rows {
		if strings.Contains(r, "<code>"+action+"</code>") && strings.Contains(r, html.EscapeString(what)) {
			return
		}
	}
	t.Errorf("no %s record about %q by admin on the audit page:\n%s", action, what, page)
}

// An admin creates a user, resets its password and deletes it through the forms; each
// change takes effect and is in the audit log under the admin's name.
func TestAdminUsers(t *testing.T) {
	e := newEnv(t, false)
	a := e.browser(t)
	a.login("admin", adminPassword)

	page := a.adminForm("/ui/admin/users", url.Values{"name": {"alice"}, "password": {"alice-password-1"}}, "user-added")
	if !strings.Contains(page, `id="user-alice"`) {
		t.Fatalf("alice not listed:\n%s", page)
	}
	alice := e.browser(t)
	alice.login("alice", "alice-password-1")
	assertAudited(t, a, "user.add", "user alice")

	// A refused creation says why, and keeps the name typed.
	tok := a.csrf("/ui/admin/users")
	status, _, body := a.post("/ui/admin/users", url.Values{"csrf": {tok}, "name": {"alice"}, "password": {"alice-password-2"}}, a.url)
	if status != http.StatusBadRequest || !strings.Contains(body, `id="refused"`) || !strings.Contains(body, "exists already") {
		t.Fatalf("a second alice: %d\n%s", status, body)
	}

	a.adminForm("/ui/admin/users/alice/password", url.Values{"password": {"alice-password-2"}}, "user-password")
	if _, _, body := alice.get("/ui/"); strings.Contains(body, `id="user"`) {
		t.Error("alice's session outlived the password change")
	}
	alice2 := e.browser(t)
	alice2.login("alice", "alice-password-2")
	assertAudited(t, a, "user.passwd", "user alice")

	// Deleting needs the name typed again.
	tok = a.csrf("/ui/admin/users")
	if status, _, body := a.post("/ui/admin/users/alice/delete", url.Values{"csrf": {tok}, "confirm": {"alic"}}, a.url); status != http.StatusBadRequest || !strings.Contains(body, "type its name") {
		t.Fatalf("delete without confirmation: %d\n%s", status, body)
	}
	page = a.adminForm("/ui/admin/users/alice/delete", url.Values{"confirm": {"alice"}}, "user-deleted")
	if strings.Contains(page, `id="user-alice"`) {
		t.Fatalf("alice still listed:\n%s", page)
	}
	if _, err := e.authz.SignIn(httptestRequest(), "alice", "alice-password-2"); err == nil {
		t.Error("alice can still sign in")
	}
	assertAudited(t, a, "user.delete", "user alice")
}

var tokenRE = regexp.MustCompile(`<pre class="code" id="token-secret">([^<]+)</pre>`)

// An admin creates a token (its secret shown once), sees it listed with its scopes and
// expiry, and revokes it: it stops working.
func TestAdminTokens(t *testing.T) {
	e := newEnv(t, false)
	e.addUser(t, "alice", "alice-password-1", "team", auth.RolePublisher)
	a := e.browser(t)
	a.login("admin", adminPassword)

	tok := a.csrf("/ui/admin/tokens")
	status, _, page := a.post("/ui/admin/tokens", url.Values{"csrf": {tok}, "user": {"alice"}, "scopes": {"team:pull"}, "expires": {"30"}, "description": {"ci <pipeline>"}}, a.url)
	m := tokenRE.FindStringSubmatch(page)
	if status != http.StatusOK || m == nil {
		t.Fatalf("create: %d\n%s", status, page)
	}
	secret := html.UnescapeString(m[1])
	id := regexp.MustCompile(`tok-[0-9a-z]+`).FindString(secret)
	if !strings.HasPrefix(secret, auth.TokenPrefix) || id == "" {
		t.Fatalf("secret %q", secret)
	}
	req := httptestRequest()
	req.SetBasicAuth("alice", secret)
	if p, err := e.authz.Authenticate(req); err != nil || p.TokenID != id {
		t.Fatalf("the new token does not authenticate: %v %+v", err, p)
	}
	_, _, list := a.get("/ui/admin/tokens?user=alice")
	row := regexp.MustCompile(`(?s)<tr id="token-` + id + `".*?</tr>`).FindString(list)
	if row == "" || !strings.Contains(row, "<code>team:pull</code>") || strings.Contains(row, "<td>never</td>") {
		t.Fatalf("token not listed with its scope and expiry:\n%s", list)
	}
	if strings.Contains(list, secret) || strings.Contains(list, html.EscapeString(secret)) {
		t.Fatal("the secret is shown again")
	}
	if !strings.Contains(row, "ci &lt;pipeline&gt;") {
		t.Errorf("description not listed escaped:\n%s", row)
	}
	assertAudited(t, a, "token.create", "token "+id+" of user alice, scopes team:pull")

	// A refused creation says why.
	tok = a.csrf("/ui/admin/tokens")
	if status, _, body := a.post("/ui/admin/tokens", url.Values{"csrf": {tok}, "user": {"alice"}, "scopes": {"team:fly"}}, a.url); status != http.StatusBadRequest || !strings.Contains(body, `id="refused"`) {
		t.Fatalf("bad scope: %d\n%s", status, body)
	}

	list = a.adminForm("/ui/admin/tokens/"+id+"/revoke", url.Values{"user": {"alice"}}, "token-revoked")
	row = regexp.MustCompile(`(?s)<tr id="token-` + id + `".*?</tr>`).FindString(list)
	if !strings.Contains(row, "revoked") {
		t.Errorf("token not shown revoked:\n%s", row)
	}
	if _, err := e.authz.Authenticate(req); err == nil {
		t.Error("the revoked token still authenticates")
	}
	assertAudited(t, a, "token.revoke", "token "+id)
}

// An admin grants a role and removes it: the user sees the namespace, then no longer.
func TestAdminGrants(t *testing.T) {
	e := newEnv(t, false)
	e.publish(t, "team", charttest.Archive(t, "myapp", "1.0.0", "a"))
	e.addUser(t, "alice", "alice-password-1", "", "")
	a := e.browser(t)
	a.login("admin", adminPassword)
	alice := e.browser(t)
	alice.login("alice", "alice-password-1")
	if _, _, body := alice.get("/ui/"); strings.Contains(body, `href="/ui/ns/team"`) {
		t.Fatal("alice sees team before any grant")
	}

	page := a.adminForm("/ui/admin/grants", url.Values{"subject": {"alice"}, "pattern": {"team/*"}, "role": {"reader"}}, "grant-added")
	if !strings.Contains(page, "<code>team/*</code>") {
		t.Fatalf("grant not listed:\n%s", page)
	}
	if _, _, body := alice.get("/ui/"); !strings.Contains(body, `href="/ui/ns/team"`) {
		t.Fatalf("alice does not see team after the grant:\n%s", body)
	}
	assertAudited(t, a, "grant", "user alice: role reader")

	tok := a.csrf("/ui/admin/grants")
	if status, _, body := a.post("/ui/admin/grants", url.Values{"csrf": {tok}, "subject": {"alice"}, "pattern": {"team/*"}, "role": {"overlord"}}, a.url); status != http.StatusBadRequest || !strings.Contains(body, `id="refused"`) {
		t.Fatalf("unknown role: %d\n%s", status, body)
	}

	a.adminForm("/ui/admin/grants/remove", url.Values{"subject": {"alice"}, "pattern": {"team/*"}}, "grant-removed")
	if _, _, body := alice.get("/ui/"); strings.Contains(body, `href="/ui/ns/team"`) {
		t.Fatal("alice still sees team after the grant was removed")
	}
	assertAudited(t, a, "revoke", "user alice")
}

// An admin sets a namespace's policies and anonymous read: the registry applies them, the
// page shows them, the audit log has them.
func TestAdminPolicies(t *testing.T) {
	e := newEnv(t, true)
	e.publish(t, "team", charttest.Archive(t, "myapp", "1.0.0", "a"))
	a := e.browser(t)
	a.login("admin", adminPassword)
	anon := e.browser(t)
	if _, _, body := anon.get("/ui/"); !strings.Contains(body, `href="/ui/ns/team"`) {
		t.Fatal("anonymous visitor does not see team")
	}

	page := a.adminForm("/ui/admin/policies", url.Values{"namespace": {"team"}, "signed_only": {"on"}, "semver_discipline": {"enforce"}, "anonymous_read": {"off"}}, "policy-changed")
	pol, err := e.Registry.GetNamespacePolicy(context.Background(), "team")
	if err != nil {
		t.Fatal(err)
	}
	if !pol.SignedOnly || pol.SemverDiscipline != "enforce" || pol.AnonymousRead == nil || *pol.AnonymousRead {
		t.Fatalf("policy not applied: %+v", pol)
	}
	for _, want := range []string{`name="signed_only" id="signed-team" checked`, `<option value="enforce" selected>`, `<option value="off" selected>off</option>`} {
		if !strings.Contains(page, want) {
			t.Errorf("policies page lacks %s:\n%s", want, page)
		}
	}
	if _, _, body := anon.get("/ui/"); strings.Contains(body, `href="/ui/ns/team"`) {
		t.Error("anonymous visitor still sees team with anonymous read off")
	}
	assertAudited(t, a, "policy.set", "signed-only=true semver-discipline=enforce")
	assertAudited(t, a, "namespace.anonymous_read", "false")

	// Unknown choices are refused.
	tok := a.csrf("/ui/admin/policies")
	if status, _, body := a.post("/ui/admin/policies", url.Values{"csrf": {tok}, "namespace": {"team"}, "semver_discipline": {"strict"}, "anonymous_read": {"default"}}, a.url); status != http.StatusBadRequest || !strings.Contains(body, "choose enforce, warn or off") {
		t.Fatalf("unknown discipline: %d\n%s", status, body)
	}
}

// The audit log page filters by user, action, namespace, outcome and time, and pages back.
func TestAdminAuditFiltersAndPages(t *testing.T) {
	e := newEnv(t, false)
	for i := range 60 {
		outcome := "ok"
		if i%2 == 1 {
			outcome = "denied"
		}
		e.authz.Audit(auth.AuditRecord{Actor: "bot", Address: "192.0.2.7", Action: "test.thing", Repository: fmt.Sprintf("ns%d/app", i%3), Version: fmt.Sprint(i), Outcome: outcome, Detail: fmt.Sprintf("record %02d", i)})
	}
	a := e.browser(t)
	a.login("admin", adminPassword)
	detailRE := regexp.MustCompile(`record \d\d`)

	_, _, page := a.get("/ui/admin/audit?user=bot")
	first := detailRE.FindAllString(page, -1)
	if len(first) != 50 || first[0] != "record 59" || first[49] != "record 10" {
		t.Fatalf("first page: %d records %v", len(first), first)
	}
	older := regexp.MustCompile(`href="([^"]+)" id="audit-older"`).FindStringSubmatch(page)
	if older == nil {
		t.Fatalf("no Older link:\n%s", page)
	}
	_, _, page = a.get(html.UnescapeString(older[1]))
	second := detailRE.FindAllString(page, -1)
	if len(second) != 10 || second[0] != "record 09" || strings.Contains(page, `id="audit-older"`) {
		t.Fatalf("second page: %v", second)
	}

	_, _, page = a.get("/ui/admin/audit?user=bot&namespace=ns1&outcome=denied")
	got := detailRE.FindAllString(page, -1)
	if len(got) != 10 { // i%3 == 1 and i odd: 1, 7, 13, …, 55
		t.Fatalf("ns1 denied: %v", got)
	}
	_, _, page = a.get("/ui/admin/audit?user=bot&outcome=refused&action=test.thing")
	if got := detailRE.FindAllString(page, -1); len(got) != 30 {
		t.Fatalf("refused: %d", len(got))
	}
	if _, _, page = a.get("/ui/admin/audit?user=bot&until=2001-01-01"); len(detailRE.FindAllString(page, -1)) != 0 {
		t.Fatal("until 2001 shows records")
	}
	if _, _, page = a.get("/ui/admin/audit?user=bot&since=2001-01-01T00:00"); len(detailRE.FindAllString(page, -1)) != 50 {
		t.Fatal("since 2001 hides records")
	}
	if status, _, page := a.get("/ui/admin/audit?since=yesterday"); status != http.StatusBadRequest || !strings.Contains(page, "2006-01-02") {
		t.Fatalf("bad time: %d\n%s", status, page)
	}
}

var usageRE = regexp.MustCompile(`(?s)<t[dh][^>]*>([^<]*)</t[dh]>\s*<td>(\d+)</td><td>(\d+)</td><td>(\d+)</td><td>[^<]*</td><td>(\d+)</td><td data-bytes="(\d+)">`)

// Storage usage counts each blob once per namespace however many of its repositories link
// it, and once in the total however many namespaces link it.
func TestAdminStorage(t *testing.T) {
	e := newEnv(t, false)
	v1, v2 := charttest.Archive(t, "myapp", "1.0.0", "a"), charttest.Archive(t, "myapp", "1.1.0", "b")
	e.publish(t, "a", v1)
	e.publish(t, "a", v2)
	e.publish(t, "b", v1) // the same archive (and config) as a's 1.0.0
	e.publish(t, "c", v2) // the same as a's 1.1.0
	shared := []byte("a layer two repositories of namespace a share")
	e.PushBlob(t, "a/one", "application/octet-stream", shared)
	e.PushBlob(t, "a/two", "application/octet-stream", shared)

	a := e.browser(t)
	a.login("admin", adminPassword)
	status, _, page := a.get("/ui/admin/storage")
	if status != http.StatusOK {
		t.Fatalf("%d\n%s", status, page)
	}
	type row struct{ repos, versions, manifests, blobs, bytes int64 }
	rows := map[string]row{}
	for _, m := range usageRE.FindAllStringSubmatch(page, -1) {
		var r row
		fmt.Sscan(m[2]+" "+m[3]+" "+m[4]+" "+m[5]+" "+m[6], &r.repos, &r.versions, &r.manifests, &r.blobs, &r.bytes)
		rows[m[1]] = r
	}
	b, c := rows["b"], rows["c"]
	// Each chart version: its archive and its config blob, one manifest.
	if b != (row{1, 1, 1, 2, b.bytes}) || c != (row{1, 1, 1, 2, c.bytes}) || b.bytes <= int64(len(v1)) || c.bytes <= int64(len(v2)) {
		t.Fatalf("b %+v, c %+v\n%s", b, c, page)
	}
	// a: a/myapp (both versions: what b and c hold), a/one and a/two: the shared blob once.
	if want := (row{3, 2, 2, 5, b.bytes + c.bytes + int64(len(shared))}); rows["a"] != want {
		t.Errorf("a = %+v, want %+v\n%s", rows["a"], want, page)
	}
	// The total: b's and c's blobs are a's.
	if want := (row{5, 4, 4, 5, rows["a"].bytes}); rows["Total"] != want {
		t.Errorf("total = %+v, want %+v\n%s", rows["Total"], want, page)
	}
}
