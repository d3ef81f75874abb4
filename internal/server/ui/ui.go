// Package ui is chartroom's web UI: server-rendered pages under /ui/ (html/template, assets
// embedded), for people who browse, understand and install the charts of a registry.
//
// Every page is a row of the page table (pages.go): a path pattern, the handler, and who may
// see it (anyone the access rules let read, a signed-in user, a global admin). A page is a new
// file with its handler plus one row, and its template templates/<name>.html, which defines
// "content" (and may define "head"): the layout (templates/layout.html) wraps it.
//
// Who is asking: a session cookie (session.go) issued at sign-in for a user's password and
// checked at every request against the current authorization state; without one, the
// visitor is anonymous. What they see is filtered by auth's Check, as every API route is: a
// reader sees the namespaces they may pull, and what they may not read answers 404.
//
// Every answer carries the security headers of securityHeaders (CSP without inline scripts
// or styles, frame denial, nosniff, referrer policy), every form a CSRF token bound to the
// session, and every POST is checked for it and for a same-origin Origin or Referer.
package ui

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server/auth"
)

// Prefix is where the UI lives.
const Prefix = "/ui/"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Charts is what the UI reads of the registry.
type Charts interface {
	Namespaces(ctx context.Context) ([]registry.NamespaceState, error)
	IndexState(ctx context.Context, ns string) (registry.IndexState, error)
	ChartVersions(ctx context.Context, ns, name string) ([]registry.ChartVersion, error)
	ChartVersion(ctx context.Context, ns, name, version string) (*registry.ChartVersion, error)
	DeletedChartVersions(ctx context.Context, ns, name string) ([]registry.DeletedChartVersion, error)
	OpenChart(ctx context.Context, ns, name, version string, prov bool) (io.ReadCloser, int64, digest.Digest, error)
}

// Options configure the UI. The zero value is the documented default.
type Options struct {
	// ExternalURL is the URL clients reach the server at (serve --external-url): the host
	// install commands name, and, when https, session cookies are Secure. "" means the
	// request's scheme and Host.
	ExternalURL string
	// SessionTTL is how long a sign-in lasts; 0 means auth.DefaultSessionTTL.
	SessionTTL time.Duration
	// Version is chartroom's version, shown in the footer.
	Version string
	// Logger receives the failures of pages (500 answers); nil means slog.Default().
	Logger *slog.Logger
}

// UI serves the web UI. It is safe for concurrent use.
type UI struct {
	reg   Charts
	authz *auth.Service
	opts  Options
	log   *slog.Logger
	mux   *http.ServeMux
	tmpl  map[string]*template.Template // by page template name (file name without .html)
	// assets are the embedded static files with their content hashes (assets.go).
	assets *assets
	browse *browseCache
	pieces *pieceCache
	// archiveSlots bounds the archives read at once (decompression is CPU work, and the
	// files kept are held in memory until rendered).
	archiveSlots chan struct{}
}

// New builds the UI over reg (the registry) and authz (who may see what).
func New(reg Charts, authz *auth.Service, opts Options) (*UI, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	u := &UI{reg: reg, authz: authz, opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	var err error
	if u.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	if u.tmpl, err = u.parseTemplates(); err != nil {
		return nil, err
	}
	u.browse = newBrowseCache(reg)
	u.pieces = newPieceCache(pieceCacheBytes)
	u.archiveSlots = archiveSlots()
	for _, p := range pages {
		u.mux.Handle(p.Pattern, u.page(p))
	}
	u.mux.Handle("GET "+Prefix+"static/{file}", http.HandlerFunc(u.static))
	u.mux.Handle("GET /ui", http.RedirectHandler(Prefix, http.StatusMovedPermanently))
	u.mux.Handle(Prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := u.request(w, r)
		u.fail(q, errNotFound)
	}))
	return u, nil
}

// Serves reports whether the UI answers path (escaped, as it came): /ui and every path under
// /ui/, except those the classic chart repository of a namespace named ui (or ui/…) answers
// (index.yaml, index.json, artifacthub-repo.yml, charts/<file>.tgz and .prov), which keep
// going to it.
func Serves(escapedPath string) bool {
	if escapedPath == "/ui" {
		return true
	}
	rest, ok := strings.CutPrefix(escapedPath, Prefix)
	if !ok {
		return false
	}
	last := rest[strings.LastIndexByte(rest, '/')+1:]
	switch {
	case last == "index.yaml" || last == "index.json" || last == registry.ArtifactHubFile:
		return false
	case strings.HasSuffix(last, ".tgz") || strings.HasSuffix(last, ".tgz.prov"):
		return false // no page or asset ends so
	}
	return true
}

// ServeHTTP answers a request under /ui.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	u.mux.ServeHTTP(w, r)
}

// securityHeaders are on every answer of the UI: scripts and styles only from the UI's own
// files (no inline script, no style attribute), images also over https (README badges), no
// framing, no MIME sniffing, no referrer to other sites.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "+
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// errNotFound is what a page answers for what does not exist or the caller may not read.
var errNotFound = errors.New("not found")

// errForbidden is what an admin page answers to a signed-in user who is not an admin.
var errForbidden = errors.New("forbidden")

// badRequest is a 400 with a message for the visitor.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

// view is what the layout renders: the page's own data is Data.
type view struct {
	Title   string
	User    string // "" for an anonymous visitor
	Admin   bool   // a global admin: the admin link shows
	CSRF    string // the token every form of the page carries
	Query   string // the search box's text
	Version string
	Status  int
	Data    any
	// Page is the page template's name, for the nav's current-page marker.
	Page string
}

// render writes page tmpl (its file name without .html) with data, status 200.
func (u *UI) render(q *Request, name, title string, data any) error {
	return u.renderStatus(q, http.StatusOK, name, title, data)
}

func (u *UI) renderStatus(q *Request, status int, name, title string, data any) error {
	t := u.tmpl[name]
	if t == nil {
		return fmt.Errorf("ui: no template %s.html", name)
	}
	v := &view{Title: title, User: q.Principal.Name, Admin: q.Admin, CSRF: q.CSRF, Query: q.R.URL.Query().Get("q"),
		Version: u.opts.Version, Status: status, Data: data, Page: name}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return fmt.Errorf("ui: render %s: %w", name, err)
	}
	h := q.W.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	q.W.WriteHeader(status)
	_, err := q.W.Write(buf.Bytes())
	if err != nil {
		return errWritten
	}
	return nil
}

// errWritten: the answer was (partly) written; nothing more can be sent.
var errWritten = errors.New("ui: answer already written")

// fail answers a page's error: a page that says what happened.
func (u *UI) fail(q *Request, err error) {
	var br *badRequest
	status, msg := http.StatusInternalServerError, "Something went wrong on the server; it has been logged. Try again, or tell the registry's operators."
	switch {
	case errors.Is(err, errWritten):
		return
	case errors.Is(err, errNotFound), errors.Is(err, registry.ErrChartUnknown), errors.Is(err, auth.ErrHidden):
		status, msg = http.StatusNotFound, "There is nothing here, or your account may not see it."
	case errors.Is(err, errForbidden), errors.Is(err, auth.ErrForbidden):
		status, msg = http.StatusForbidden, "Your account may not see this page: it needs role admin on * (ask an admin: chartroom grant)."
	case errors.As(err, &br):
		status, msg = http.StatusBadRequest, br.msg
	case errors.Is(err, context.Canceled):
		return
	default:
		u.log.Error("ui: page failed", "path", q.R.URL.Path, "err", err)
	}
	if status == http.StatusNotFound && q.Principal.Anonymous {
		msg = "There is nothing here, or you may not see it without signing in."
	}
	if err := u.renderStatus(q, status, "error", http.StatusText(status), errorPage{Status: status, Message: msg}); err != nil && !errors.Is(err, errWritten) {
		http.Error(q.W, msg, status)
	}
}

// errorPage is the data of templates/error.html.
type errorPage struct {
	Status  int
	Message string
}

// parseTemplates parses each page template with the layout: templates/layout.html defines the
// page around {{template "content" .}}, every other file one page.
func (u *UI) parseTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"asset":       u.assetURL,
		"nsURL":       nsURL,
		"chartURL":    chartURL,
		"versionURL":  versionURL,
		"diffURL":     diffURL,
		"ago":         ago,
		"date":        func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"size":        humanSize,
		"nsLabel":     nsLabel,
		"shortDigest": shortDigest,
		"join":        strings.Join,
		"hasPrefix":   strings.HasPrefix,
		"adminPages":  hasAdminPages,
		"sigOf":       sigOf,
		"int64":       func(n int) int64 { return int64(n) },
		"safeLink":    safeLink,
	}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, f)
		if err != nil {
			return nil, err
		}
		out[name] = t
	}
	return out, nil
}

// sigView is a signature status as the "sig" template shows it.
type sigView struct {
	Kind string
	registry.SignatureStatus
}

func sigOf(kind string, s registry.SignatureStatus) sigView { return sigView{kind, s} }

// safeLink reports whether a URL from a chart may be a link: http or https only.
func safeLink(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// hasAdminPages reports whether the page table has the admin pages' entry (/ui/admin/), which
// the nav links to for admins.
func hasAdminPages() bool {
	for _, p := range pages {
		if p.Pattern == "GET "+Prefix+"admin/{$}" {
			return true
		}
	}
	return false
}

// nsURL is the page of namespace ns (the root namespace's is /ui/ns/).
func nsURL(ns string) string { return Prefix + "ns/" + escapePath(ns) }

// chartURL is the page of a chart's newest version.
func chartURL(ns, name string) string {
	if ns == "" {
		return Prefix + "chart/" + url.PathEscape(name)
	}
	return Prefix + "chart/" + escapePath(ns) + "/" + url.PathEscape(name)
}

// versionURL is the page of one version of a chart.
func versionURL(ns, name, version string) string {
	return chartURL(ns, name) + "?version=" + url.QueryEscape(version)
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i := range parts {
		parts[i] = url.PathEscape(parts[i])
	}
	return strings.Join(parts, "/")
}

func nsLabel(ns string) string {
	if ns == "" {
		return "(root namespace)"
	}
	return ns
}

func shortDigest(d fmt.Stringer) string {
	s := d.String()
	if _, hex, ok := strings.Cut(s, ":"); ok && len(hex) > 12 {
		return hex[:12]
	}
	return s
}

func ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	case d < 60*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day") + " ago"
	}
	return t.UTC().Format("2006-01-02")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

func humanSize(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}
