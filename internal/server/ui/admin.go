package ui

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server/auth"
)

// The admin pages (for global admins only: everyone else gets 404, see AdminOnly): users,
// API tokens, grants, namespace policies, the audit log and storage usage. Every change goes
// through what the admin commands use (auth.Manager for users, tokens, grants and anonymous
// read; the registry for policies), so it is audited the same way, under the signed-in
// admin's name and address. Every form is a plain HTML form carrying the CSRF token; a
// change answers with a redirect to its list (303) saying what was done, or with the list
// again and the error (400) when it was refused.

// adminRegistry is what the admin pages and the diff read and change of the registry
// beyond Charts; *registry.Registry has it.
type adminRegistry interface {
	StorageUsage(ctx context.Context) ([]registry.NamespaceUsage, registry.NamespaceUsage, error)
	GetNamespacePolicy(ctx context.Context, ns string) (*registry.NamespacePolicy, error)
	SetNamespacePolicy(ctx context.Context, ns string, signedOnly *bool, discipline *string, actor, address string) error
	DiffChartVersions(ctx context.Context, ns, name, from, to string) (*registry.VersionDiff, error)
}

var _ adminRegistry = (*registry.Registry)(nil)

// admin returns the registry's admin functions.
func (u *UI) admin() (adminRegistry, error) {
	a, ok := u.reg.(adminRegistry)
	if !ok {
		return nil, errors.New("ui: the registry has no admin functions")
	}
	return a, nil
}

// manager is the auth.Manager of the visitor's changes: the audit log names them.
func (u *UI) manager(q *Request) *auth.Manager {
	return u.authz.Manager(q.Principal.Name, auth.Address(q.R))
}

// changed makes the service follow a change at once (the admin's next page shows it) and
// answers with a redirect to page saying done.
func (u *UI) changed(q *Request, page, done string) error {
	if err := u.authz.Reload(q.R.Context()); err != nil {
		u.log.Warn("ui: reload the authorization state", "err", err)
	}
	sep := "?"
	if strings.Contains(page, "?") {
		sep = "&"
	}
	http.Redirect(q.W, q.R, page+sep+"done="+url.QueryEscape(done), http.StatusSeeOther)
	return nil
}

// doneMessages are what a page says after a change (its done parameter): fixed texts, so a
// link cannot make a page say anything else.
var doneMessages = map[string]string{
	"user-added":     "The user was created.",
	"user-password":  "The password was changed: the user's sessions have ended.",
	"user-deleted":   "The user was deleted, with its tokens and grants.",
	"token-revoked":  "The token was revoked: it stops working at once.",
	"grant-added":    "The role was granted.",
	"grant-removed":  "The role was removed.",
	"policy-changed": "The namespace's policies were changed.",
}

// adminBase is what every admin page shows above its own content.
type adminBase struct {
	Done  string // what the last change did
	Error string // why the change asked for was refused
}

func baseOf(q *Request) adminBase {
	return adminBase{Done: doneMessages[q.R.URL.Query().Get("done")]}
}

// refused renders page again with status 400 and the reason of a refused change.
func (u *UI) refused(q *Request, name, title string, data any) error {
	return u.renderStatus(q, http.StatusBadRequest, name, title, data)
}

// userError is the text of an error the visitor can act on: the admin functions' messages
// say what is wrong and what to do. Context errors and failures of the server are not.
func userError(err error) (string, bool) {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "", false
	}
	return err.Error(), true
}

// adminHome is /ui/admin/: the admin pages.
func (u *UI) adminHome(q *Request) error {
	return u.render(q, "admin", "Admin", nil)
}

// --- users ---

type adminUsersPage struct {
	adminBase
	Users []auth.Account
	// Form keeps what a refused creation form held (never the password).
	Form struct {
		Name  string
		Admin bool
	}
}

func (u *UI) usersPage(q *Request, p *adminUsersPage) error {
	users, err := u.authz.Accounts(q.R.Context())
	if err != nil {
		return err
	}
	p.Users = users
	if p.Error != "" {
		return u.refused(q, "admin_users", "Users", p)
	}
	return u.render(q, "admin_users", "Users", p)
}

func (u *UI) adminUsers(q *Request) error {
	return u.usersPage(q, &adminUsersPage{adminBase: baseOf(q)})
}

func (u *UI) adminUserAdd(q *Request) error {
	r := q.R
	name, password, admin := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("password"), r.PostFormValue("admin") == "on"
	err := u.manager(q).AddUser(r.Context(), name, password, admin)
	if msg, ok := userError(err); ok {
		p := &adminUsersPage{adminBase: adminBase{Error: msg}}
		p.Form.Name, p.Form.Admin = name, admin
		return u.usersPage(q, p)
	} else if err != nil {
		return err
	}
	return u.changed(q, Prefix+"admin/users", "user-added")
}

func (u *UI) adminUserPassword(q *Request) error {
	err := u.manager(q).SetPassword(q.R.Context(), q.R.PathValue("name"), q.R.PostFormValue("password"))
	if msg, ok := userError(err); ok {
		return u.usersPage(q, &adminUsersPage{adminBase: adminBase{Error: msg}})
	} else if err != nil {
		return err
	}
	return u.changed(q, Prefix+"admin/users", "user-password")
}

func (u *UI) adminUserDelete(q *Request) error {
	name := q.R.PathValue("name")
	if q.R.PostFormValue("confirm") != name {
		return u.usersPage(q, &adminUsersPage{adminBase: adminBase{Error: "To delete user " + name + ", type its name in the confirmation field."}})
	}
	if name == q.Principal.Name {
		return u.usersPage(q, &adminUsersPage{adminBase: adminBase{Error: "You cannot delete the user you are signed in as: sign in as another admin to delete it."}})
	}
	err := u.manager(q).DeleteUser(q.R.Context(), name)
	if msg, ok := userError(err); ok {
		return u.usersPage(q, &adminUsersPage{adminBase: adminBase{Error: msg}})
	} else if err != nil {
		return err
	}
	return u.changed(q, Prefix+"admin/users", "user-deleted")
}

// --- tokens ---

type adminTokensPage struct {
	adminBase
	User   string // the user whose tokens are listed; "" for every user's
	Users  []auth.Account
	Tokens []auth.TokenInfo
	// Created is the token just made: shown once, never again (only its hash is kept).
	Created, CreatedID string
	Form               struct {
		User, Scopes, Description, Expires string
	}
}

func (u *UI) tokensPage(q *Request, p *adminTokensPage, status int) error {
	ctx := q.R.Context()
	users, err := u.authz.Accounts(ctx)
	if err != nil {
		return err
	}
	tokens, err := u.authz.Tokens(ctx, p.User)
	if err != nil {
		return err
	}
	p.Users, p.Tokens = users, tokens
	return u.renderStatus(q, status, "admin_tokens", "API tokens", p)
}

func (u *UI) adminTokens(q *Request) error {
	return u.tokensPage(q, &adminTokensPage{adminBase: baseOf(q), User: q.R.URL.Query().Get("user")}, http.StatusOK)
}

// maxTokenDays bounds a token's lifetime set from the page (ten years).
const maxTokenDays = 3650

func (u *UI) adminTokenCreate(q *Request) error {
	r := q.R
	p := &adminTokensPage{}
	p.Form.User, p.Form.Scopes = strings.TrimSpace(r.PostFormValue("user")), strings.TrimSpace(r.PostFormValue("scopes"))
	p.Form.Description, p.Form.Expires = strings.TrimSpace(r.PostFormValue("description")), strings.TrimSpace(r.PostFormValue("expires"))
	req, err := tokenRequest(p.Form.User, p.Form.Scopes, p.Form.Description, p.Form.Expires)
	if err == nil {
		p.CreatedID, p.Created, err = u.manager(q).CreateToken(r.Context(), req)
	}
	if msg, ok := userError(err); ok {
		p.Error = msg
		return u.tokensPage(q, p, http.StatusBadRequest)
	} else if err != nil {
		return err
	}
	if err := u.authz.Reload(r.Context()); err != nil {
		u.log.Warn("ui: reload the authorization state", "err", err)
	}
	p.Form.Scopes, p.Form.Description, p.Form.Expires = "", "", ""
	p.User = req.User
	// Rendered, not redirected to: the secret is in this answer only (Cache-Control: no-store).
	return u.tokensPage(q, p, http.StatusOK)
}

// tokenRequest reads the token form: scopes separated by spaces or lines (as token create
// --scope takes each), the lifetime in days ("" for none).
func tokenRequest(user, scopes, description, days string) (auth.NewTokenRequest, error) {
	req := auth.NewTokenRequest{User: user, Description: description}
	if user == "" {
		return req, errors.New("name the user the token acts for")
	}
	for _, s := range strings.Fields(scopes) {
		sc, err := auth.ParseScope(s)
		if err != nil {
			return req, err
		}
		req.Scopes = append(req.Scopes, sc)
	}
	if days != "" {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > maxTokenDays {
			return req, errors.New("expires in: give a number of days from 1 to 3650, or nothing for a token that does not expire")
		}
		req.Expires = time.Now().Add(time.Duration(n) * 24 * time.Hour).Truncate(time.Second)
	}
	return req, nil
}

func (u *UI) adminTokenRevoke(q *Request) error {
	id := q.R.PathValue("id")
	back := Prefix + "admin/tokens"
	if user := q.R.PostFormValue("user"); user != "" {
		back += "?user=" + url.QueryEscape(user)
	}
	err := u.manager(q).RevokeToken(q.R.Context(), id)
	if msg, ok := userError(err); ok {
		return u.tokensPage(q, &adminTokensPage{adminBase: adminBase{Error: msg}}, http.StatusBadRequest)
	} else if err != nil {
		return err
	}
	return u.changed(q, back, "token-revoked")
}

// --- grants ---

type adminGrantsPage struct {
	adminBase
	Grants []auth.RoleGrant
	Roles  []auth.Role
	Form   struct{ Subject, Pattern, Role string }
}

func (u *UI) grantsPage(q *Request, p *adminGrantsPage) error {
	grants, err := u.authz.Grants(q.R.Context())
	if err != nil {
		return err
	}
	p.Grants, p.Roles = grants, auth.Roles
	if p.Error != "" {
		return u.refused(q, "admin_grants", "Grants", p)
	}
	return u.render(q, "admin_grants", "Grants", p)
}

func (u *UI) adminGrants(q *Request) error {
	return u.grantsPage(q, &adminGrantsPage{adminBase: baseOf(q)})
}

func (u *UI) adminGrantAdd(q *Request) error {
	r := q.R
	p := &adminGrantsPage{}
	p.Form.Subject, p.Form.Pattern, p.Form.Role = strings.TrimSpace(r.PostFormValue("subject")), strings.TrimSpace(r.PostFormValue("pattern")), r.PostFormValue("role")
	err := func() error {
		if p.Form.Subject == "" {
			return errors.New("name the user or the token (tok-…) to grant the role to")
		}
		pattern, err := auth.ParseNamespacePattern(p.Form.Pattern)
		if err != nil {
			return err
		}
		role, err := auth.ParseRole(p.Form.Role)
		if err != nil {
			return err
		}
		return u.manager(q).Grant(r.Context(), p.Form.Subject, pattern, role)
	}()
	if msg, ok := userError(err); ok {
		p.Error = msg
		return u.grantsPage(q, p)
	} else if err != nil {
		return err
	}
	return u.changed(q, Prefix+"admin/grants", "grant-added")
}

func (u *UI) adminGrantRemove(q *Request) error {
	r := q.R
	err := func() error {
		pattern, err := auth.ParseNamespacePattern(r.PostFormValue("pattern"))
		if err != nil {
			return err
		}
		return u.manager(q).Revoke(r.Context(), r.PostFormValue("subject"), pattern)
	}()
	if msg, ok := userError(err); ok {
		return u.grantsPage(q, &adminGrantsPage{adminBase: adminBase{Error: msg}})
	} else if err != nil {
		return err
	}
	return u.changed(q, Prefix+"admin/grants", "grant-removed")
}

// --- namespace policies ---

type adminPoliciesPage struct {
	adminBase
	// Namespace is the namespace asked for (?ns=, "/" for the root one); "" lists every
	// namespace that has charts.
	Namespace string
	Policies  []policyRow
	// AnonymousDefault is what serve --anonymous-read says for namespaces without a setting.
	AnonymousDefault bool
}

// policyRow is a namespace's policies with its anonymous read setting as the form's
// choice: default, on or off.
type policyRow struct {
	*registry.NamespacePolicy
	Anonymous string
}

// maxPolicyRows bounds the namespaces the policies page lists at once.
const maxPolicyRows = 200

func (u *UI) policiesPage(q *Request, p *adminPoliciesPage, status int) error {
	ctx := q.R.Context()
	a, err := u.admin()
	if err != nil {
		return err
	}
	var names []string
	if p.Namespace != "" {
		ns, err := namespaceField(p.Namespace)
		if err != nil {
			p.Error, status = err.Error(), http.StatusBadRequest
		} else {
			names = []string{ns}
		}
	} else {
		nss, err := u.reg.Namespaces(ctx)
		if err != nil {
			return err
		}
		for _, n := range nss {
			names = append(names, n.Name)
		}
		if len(names) > maxPolicyRows {
			names = names[:maxPolicyRows]
		}
	}
	for _, ns := range names {
		pol, err := a.GetNamespacePolicy(ctx, ns)
		if err != nil {
			return err
		}
		row := policyRow{NamespacePolicy: pol, Anonymous: "default"}
		if pol.AnonymousRead != nil {
			row.Anonymous = map[bool]string{true: "on", false: "off"}[*pol.AnonymousRead]
		}
		p.Policies = append(p.Policies, row)
	}
	p.AnonymousDefault = u.authz.AnonymousReadDefault()
	return u.renderStatus(q, status, "admin_policies", "Namespace policies", p)
}

// namespaceField reads a namespace typed in a form: "/" (or nothing) for the root one.
func namespaceField(s string) (string, error) {
	s = strings.Trim(strings.TrimSpace(s), "/")
	if s == "" {
		return "", nil
	}
	if err := registry.ValidateName(s); err != nil {
		return "", err
	}
	return s, nil
}

func (u *UI) adminPolicies(q *Request) error {
	return u.policiesPage(q, &adminPoliciesPage{adminBase: baseOf(q), Namespace: q.R.URL.Query().Get("ns")}, http.StatusOK)
}

func (u *UI) adminPolicySet(q *Request) error {
	r := q.R
	a, err := u.admin()
	if err != nil {
		return err
	}
	ns, err := namespaceField(r.PostFormValue("namespace"))
	if err == nil {
		err = u.setPolicy(q, a, ns)
	}
	if msg, ok := userError(err); ok {
		return u.policiesPage(q, &adminPoliciesPage{adminBase: adminBase{Error: msg}, Namespace: nsArg(ns)}, http.StatusBadRequest)
	} else if err != nil {
		return err
	}
	return u.changed(q, Prefix+"admin/policies?ns="+url.QueryEscape(nsArg(ns)), "policy-changed")
}

// nsArg is a namespace as the forms and commands take it: "/" for the root namespace.
func nsArg(ns string) string {
	if ns == "" {
		return "/"
	}
	return ns
}

// setPolicy applies the policy form of namespace ns: signed-only (a checkbox), the semver
// discipline and anonymous read (default, on or off), each changed only when it differs
// from what the namespace has, so the audit log records what changed.
func (u *UI) setPolicy(q *Request, a adminRegistry, ns string) error {
	r := q.R
	ctx := r.Context()
	cur, err := a.GetNamespacePolicy(ctx, ns)
	if err != nil {
		return err
	}
	signed := r.PostFormValue("signed_only") == "on"
	disc := r.PostFormValue("semver_discipline")
	switch disc {
	case registry.DisciplineOff, registry.DisciplineWarn, registry.DisciplineEnforce:
	default:
		return errors.New("semver discipline: choose enforce, warn or off")
	}
	var anon *bool
	switch r.PostFormValue("anonymous_read") {
	case "default":
	case "on":
		anon = new(bool)
		*anon = true
	case "off":
		anon = new(bool)
	default:
		return errors.New("anonymous read: choose default, on or off")
	}
	var sp *bool
	var dp *string
	if signed != cur.SignedOnly {
		sp = &signed
	}
	if disc != cur.SemverDiscipline {
		dp = &disc
	}
	if sp != nil || dp != nil {
		if err := a.SetNamespacePolicy(ctx, ns, sp, dp, q.Principal.Name, auth.Address(r)); err != nil {
			return err
		}
	}
	if !sameBool(anon, cur.AnonymousRead) {
		return u.manager(q).SetAnonymousRead(ctx, ns, anon)
	}
	return nil
}

func sameBool(a, b *bool) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// --- audit log ---

type adminAuditPage struct {
	adminBase
	Filter struct {
		User, Action, Namespace, Outcome, Since, Until string
	}
	Records any // []meta.AuditRecord, newest first
	// Older is the link to the next page of older records; "" on the last page.
	Older string
	// Newest is the link back to the first page; "" on it.
	Newest string
}

// auditPageSize is how many records a page of the audit log shows.
const auditPageSize = 50

// auditTimeLayouts are the forms the time range takes: a datetime-local input's, a date, or
// RFC 3339; times without a zone are UTC.
var auditTimeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02", time.RFC3339}

func parseAuditTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, l := range auditTimeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, &badRequest{field + " " + strconv.Quote(s) + ": give a time as 2006-01-02T15:04 (UTC) or a date as 2006-01-02"}
}

func (u *UI) adminAudit(q *Request) error {
	v := q.R.URL.Query()
	p := &adminAuditPage{adminBase: baseOf(q)}
	f := &p.Filter
	f.User, f.Action, f.Outcome = strings.TrimSpace(v.Get("user")), strings.TrimSpace(v.Get("action")), strings.TrimSpace(v.Get("outcome"))
	f.Namespace, f.Since, f.Until = strings.Trim(strings.TrimSpace(v.Get("namespace")), "/"), strings.TrimSpace(v.Get("since")), strings.TrimSpace(v.Get("until"))
	filter := auth.AuditFilter{Actor: f.User, Action: f.Action, Namespace: f.Namespace, Outcome: f.Outcome, Limit: auditPageSize + 1}
	var err error
	if filter.Since, err = parseAuditTime("From", f.Since); err != nil {
		return err
	}
	if filter.Until, err = parseAuditTime("Until", f.Until); err != nil {
		return err
	}
	if b := v.Get("before"); b != "" {
		if filter.BeforeID, err = strconv.ParseInt(b, 10, 64); err != nil || filter.BeforeID < 1 {
			return &badRequest{"before: give the id of an audit record (the Older link does)"}
		}
	}
	recs, err := u.authz.SearchAudit(q.R.Context(), filter)
	if err != nil {
		return err
	}
	link := func(before int64) string {
		w := url.Values{}
		for k, s := range map[string]string{"user": f.User, "action": f.Action, "namespace": f.Namespace, "outcome": f.Outcome, "since": f.Since, "until": f.Until} {
			if s != "" {
				w.Set(k, s)
			}
		}
		if before > 0 {
			w.Set("before", strconv.FormatInt(before, 10))
		}
		if len(w) == 0 {
			return Prefix + "admin/audit"
		}
		return Prefix + "admin/audit?" + w.Encode()
	}
	if len(recs) > auditPageSize {
		recs = recs[:auditPageSize]
		p.Older = link(recs[len(recs)-1].ID)
	}
	if filter.BeforeID > 0 {
		p.Newest = link(0)
	}
	p.Records = recs
	return u.render(q, "admin_audit", "Audit log", p)
}

// --- storage usage ---

type adminStoragePage struct {
	Namespaces []registry.NamespaceUsage
	Total      registry.NamespaceUsage
}

func (u *UI) adminStorage(q *Request) error {
	a, err := u.admin()
	if err != nil {
		return err
	}
	nss, total, err := a.StorageUsage(q.R.Context())
	if err != nil {
		return err
	}
	return u.render(q, "admin_storage", "Storage usage", adminStoragePage{Namespaces: nss, Total: total})
}
