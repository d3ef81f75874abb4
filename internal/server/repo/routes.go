package repo

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server/auth"
	"github.com/chartroom/chartroom/internal/server/httpx"
)

// endpoint is a resource of the repository, recognised from the method and URL path.
type endpoint int

const (
	epIndex      endpoint = iota + 1 // /<ns>/index.yaml, /<ns>/index.json
	epArchive                        // /<ns>/charts/<name>-<version>.tgz[.prov]
	epAPICharts                      // /api/<ns>/charts
	epAPIProv                        // /api/<ns>/prov
	epAPIChart                       // /api/<ns>/charts/<name>
	epAPIVersion                     // /api/<ns>/charts/<name>/<version>
)

// handlerFunc is what every route runs. A returned error is answered by writeError; a handler
// writes only successful answers.
type handlerFunc func(w http.ResponseWriter, r *http.Request, t target) error

// route is one row of the route table.
type route struct {
	endpoint endpoint
	method   string
	name     string      // stable route name for logs and metrics
	action   auth.Action // what the caller needs on the namespace
	handle   handlerFunc
}

type routeKey struct {
	endpoint endpoint
	method   string
}

// routeTable lists every route. HEAD is answered by the GET handler (net/http drops the body)
// where the table has a HEAD row.
func (h *handler) routeTable() map[routeKey]route {
	rows := []route{
		{epIndex, http.MethodGet, "repo.index", auth.Pull, h.getIndex},
		{epIndex, http.MethodHead, "repo.index", auth.Pull, h.getIndex},
		{epArchive, http.MethodGet, "repo.archive.get", auth.Pull, h.getArchive},
		{epArchive, http.MethodHead, "repo.archive.head", auth.Pull, h.getArchive},
		{epArchive, http.MethodPut, "repo.archive.put", auth.Push, h.putArchive},
		{epAPICharts, http.MethodGet, "repo.api.charts.list", auth.Pull, h.listCharts},
		{epAPICharts, http.MethodHead, "repo.api.charts.list", auth.Pull, h.listCharts},
		{epAPICharts, http.MethodPost, "repo.api.charts.upload", auth.Push, h.postChart},
		{epAPIProv, http.MethodPost, "repo.api.prov.upload", auth.Push, h.postProv},
		{epAPIChart, http.MethodGet, "repo.api.chart.get", auth.Pull, h.getChart},
		{epAPIChart, http.MethodHead, "repo.api.chart.head", auth.Pull, h.getChart},
		{epAPIVersion, http.MethodGet, "repo.api.version.get", auth.Pull, h.getVersion},
		{epAPIVersion, http.MethodHead, "repo.api.version.head", auth.Pull, h.getVersion},
		{epAPIVersion, http.MethodDelete, "repo.api.version.delete", auth.Delete, h.deleteVersion},
	}
	table := make(map[routeKey]route, len(rows))
	for _, rt := range rows {
		table[routeKey{rt.endpoint, rt.method}] = rt
	}
	return table
}

// ServeHTTP is the one wrapper around every handler: it matches the route, checks the
// namespace and the caller's rights, runs the handler and answers its error.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t, ok := parsePath(r.Method, r.URL.EscapedPath())
	if !ok {
		httpx.SetRoute(r, "notfound") // the label of paths no handler serves
		httpx.WriteError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s; chart repositories serve "+
			"/<namespace>/index.yaml and /<namespace>/charts/<name>-<version>.tgz, the upload API is under /api/<namespace>/charts, "+
			"the OCI API under /v2/", r.Method, r.URL.Path))
		return
	}
	rt, ok := h.routes[routeKey{t.endpoint, r.Method}]
	if !ok {
		httpx.SetRoute(r, "repo.notallowed")
		allow := h.allowed(t.endpoint)
		w.Header().Set("Allow", allow)
		httpx.WriteError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow))
		return
	}
	httpx.SetRoute(r, rt.name)
	if t.ns != "" {
		if err := registry.ValidateName(t.ns); err != nil {
			h.writeError(w, r, fmt.Errorf("namespace %q: %w", t.ns, err))
			return
		}
	}
	p, err := h.authz.Authorize(r, t.repository(), rt.action)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.SetUser(r, p.Name)
	if err := rt.handle(w, withPrincipal(r, p), t); err != nil {
		h.writeError(w, r, err)
	}
}

// allowed lists the methods an endpoint answers, for the Allow header.
func (h *handler) allowed(ep endpoint) string {
	var methods []string
	for k := range h.routes {
		if k.endpoint == ep {
			methods = append(methods, k.method)
		}
	}
	sort.Strings(methods)
	return strings.Join(methods, ", ")
}

// target is what a request path names.
type target struct {
	endpoint endpoint
	ns       string // namespace, "" for the root namespace
	name     string // chart name (API routes)
	version  string // chart version (API version route)
	file     string // archive or provenance file name (epArchive)
	json     bool   // the JSON form of the index (epIndex)
}

// repository is what the request is authorized against: the chart's repository when the
// path names a chart, else the namespace ("" for the root namespace).
func (t target) repository() string {
	if t.name == "" {
		return t.ns
	}
	if t.ns == "" {
		return t.name
	}
	return t.ns + "/" + t.name
}

// parsePath recognises a route from the method and the escaped URL path.
//
// Namespaces may be nested and may themselves contain a component named "charts" (or "api"),
// so paths are read from the right, and the grammars of the last components decide:
//
//   - a last component index.yaml or index.json is an index: /team/charts/index.yaml is the
//     index of namespace team/charts;
//   - <dir>/charts/<file> where <file> is <name>-<version>.tgz or .tgz.prov (the version
//     SemVer, see splitArchiveName) is an archive: /team/charts/charts/myapp-1.0.0.tgz is
//     myapp 1.0.0 of namespace team/charts;
//   - otherwise a path under /api/ is an API route, read from the right: …/charts/<name>/<version>
//     when the last component is a SemVer version (or "latest"); …/charts when the last
//     component is "charts" (so /api/team/charts/charts lists namespace team/charts, and a
//     chart named charts is addressed by its versions); …/charts/<name>; POST …/prov.
//
// An archive needs a last component ending in .tgz (or .tgz.prov) right after a component
// named charts, an API version route a SemVer last component after <name> after charts: the
// two meet only for a chart named "charts" whose version ends in ".tgz", read as an archive.
// Each segment is unescaped on its own, so an escaped "/" cannot smuggle a separator in.
func parsePath(method, escaped string) (target, bool) {
	rest, ok := strings.CutPrefix(escaped, "/")
	if !ok || rest == "" {
		return target{}, false
	}
	segs := strings.Split(rest, "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil || u == "" || strings.Contains(u, "/") {
			return target{}, false
		}
		segs[i] = u
	}
	n := len(segs)
	join := func(parts []string) string { return strings.Join(parts, "/") }
	last := segs[n-1]
	switch {
	case last == "index.yaml" || last == "index.json":
		return target{endpoint: epIndex, ns: join(segs[:n-1]), json: last == "index.json"}, true
	case n >= 2 && segs[n-2] == "charts" && isArchiveFile(last, method == http.MethodPut):
		return target{endpoint: epArchive, ns: join(segs[:n-2]), file: last}, true
	}
	if segs[0] != "api" {
		return target{}, false
	}
	a := segs[1:]
	m := len(a)
	switch {
	case m >= 1 && a[m-1] == "prov" && method == http.MethodPost:
		return target{endpoint: epAPIProv, ns: join(a[:m-1])}, true
	case m >= 1 && a[m-1] == "charts":
		return target{endpoint: epAPICharts, ns: join(a[:m-1])}, true
	case m >= 3 && a[m-3] == "charts" && (a[m-1] == latest || isVersion(a[m-1])):
		return target{endpoint: epAPIVersion, ns: join(a[:m-3]), name: a[m-2], version: a[m-1]}, true
	case m >= 2 && a[m-2] == "charts":
		return target{endpoint: epAPIChart, ns: join(a[:m-2]), name: a[m-1]}, true
	}
	return target{}, false
}

// latest is the version keyword of GET /api/<ns>/charts/<name>/latest (as ChartMuseum's).
const latest = "latest"

// isArchiveFile reports whether a path's last component names an archive or provenance file.
// An upload (anyName) takes any such name, so a malformed one is answered with what is wrong.
func isArchiveFile(file string, anyName bool) bool {
	base, ok := strings.CutSuffix(file, ".prov")
	if !strings.HasSuffix(base, ".tgz") {
		return false
	}
	if anyName {
		return !ok
	}
	return len(splitArchiveName(strings.TrimSuffix(base, ".tgz"))) > 0
}
