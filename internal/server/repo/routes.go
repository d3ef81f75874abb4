package repo

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server/auth"
	"github.com/chartroom/chartroom/internal/server/httpx"
)

// endpoint is a resource of the repository, recognised from the method and URL path.
type endpoint int

const (
	epIndex        endpoint = iota + 1 // /<ns>/index.yaml, /<ns>/index.json
	epArchive                          // /<ns>/charts/<name>-<version>.tgz[.prov]
	epAPICharts                        // /api/<ns>/charts
	epAPIProv                          // /api/<ns>/prov
	epAPIChart                         // /api/<ns>/charts/<name>
	epAPIVersion                       // /api/<ns>/charts/<name>/<version>
	epAPITemplates                     // /api/<ns>/charts/<name>/<version>/templates
	epAPIValues                        // /api/<ns>/charts/<name>/<version>/values
	epArtifactHub                      // /<ns>/artifacthub-repo.yml
	epAudit                            // /api/_/audit
)

// routeTable lists every route. The audit log records every upload and delete (audit:
// true), and refused requests of every route anyway.
func (h *handler) routeTable() *httpx.Routes[endpoint, target] {
	type row = httpx.Route[endpoint, target]
	return httpx.NewRoutes(
		row{Endpoint: epIndex, Method: http.MethodGet, Name: "repo.index", Action: auth.Pull, Handle: h.getIndex},
		row{Endpoint: epIndex, Method: http.MethodHead, Name: "repo.index", Action: auth.Pull, Handle: h.getIndex},
		row{Endpoint: epArtifactHub, Method: http.MethodGet, Name: "repo.artifacthub", Action: auth.Pull, Handle: h.getArtifactHubRepo},
		row{Endpoint: epArchive, Method: http.MethodGet, Name: "repo.archive.get", Action: auth.Pull, Handle: h.getArchive},
		row{Endpoint: epArchive, Method: http.MethodHead, Name: "repo.archive.head", Action: auth.Pull, Handle: h.getArchive},
		row{Endpoint: epArchive, Method: http.MethodPut, Name: "repo.archive.put", Action: auth.Push, Audit: true, Handle: h.putArchive},
		row{Endpoint: epAPICharts, Method: http.MethodGet, Name: "repo.api.charts.list", Action: auth.Pull, Handle: h.listCharts},
		row{Endpoint: epAPICharts, Method: http.MethodHead, Name: "repo.api.charts.list", Action: auth.Pull, Handle: h.listCharts},
		row{Endpoint: epAPICharts, Method: http.MethodPost, Name: "repo.api.charts.upload", Action: auth.Push, Audit: true, Handle: h.postChart},
		row{Endpoint: epAPIProv, Method: http.MethodPost, Name: "repo.api.prov.upload", Action: auth.Push, Audit: true, Handle: h.postProv},
		row{Endpoint: epAPIChart, Method: http.MethodGet, Name: "repo.api.chart.get", Action: auth.Pull, Handle: h.getChart},
		row{Endpoint: epAPIChart, Method: http.MethodHead, Name: "repo.api.chart.head", Action: auth.Pull, Handle: h.getChart},
		row{Endpoint: epAPIVersion, Method: http.MethodGet, Name: "repo.api.version.get", Action: auth.Pull, Handle: h.getVersion},
		row{Endpoint: epAPIVersion, Method: http.MethodHead, Name: "repo.api.version.head", Action: auth.Pull, Handle: h.getVersion},
		row{Endpoint: epAPIVersion, Method: http.MethodDelete, Name: "repo.api.version.delete", Action: auth.Delete, Audit: true, Handle: h.deleteVersion},
		row{Endpoint: epAPITemplates, Method: http.MethodGet, Name: "repo.api.version.templates", Action: auth.Pull, Handle: h.getTemplates},
		row{Endpoint: epAPIValues, Method: http.MethodGet, Name: "repo.api.version.values", Action: auth.Pull, Handle: h.getValues},
		row{Endpoint: epAudit, Method: http.MethodGet, Name: "repo.api.audit", Action: auth.Admin, Handle: h.getAudit},
	)
}

// Routes lists every route of the repository, for tests that must cover them all.
func Routes() []httpx.RouteInfo[string] {
	var out []httpx.RouteInfo[string]
	for _, ri := range (&handler{}).routeTable().List() {
		out = append(out, httpx.RouteInfo[string]{Endpoint: ri.Endpoint.String(), Method: ri.Method, Name: ri.Name, Action: ri.Action, Audit: ri.Audit})
	}
	return out
}

// String names an endpoint as its path pattern.
func (e endpoint) String() string {
	switch e {
	case epIndex:
		return "/<ns>/index.yaml"
	case epArchive:
		return "/<ns>/charts/<name>-<version>.tgz"
	case epAPICharts:
		return "/api/<ns>/charts"
	case epAPIProv:
		return "/api/<ns>/prov"
	case epAPIChart:
		return "/api/<ns>/charts/<name>"
	case epAPIVersion:
		return "/api/<ns>/charts/<name>/<version>"
	case epAPITemplates:
		return "/api/<ns>/charts/<name>/<version>/templates"
	case epAPIValues:
		return "/api/<ns>/charts/<name>/<version>/values"
	case epArtifactHub:
		return "/<ns>/artifacthub-repo.yml"
	case epAudit:
		return "/api/_/audit"
	}
	return fmt.Sprintf("endpoint(%d)", int(e))
}

// parse recognises the route of a request; a path no endpoint serves is a 404.
func parse(r *http.Request) (endpoint, target, error) {
	t, ok := parsePath(r.Method, r.URL.EscapedPath())
	if !ok {
		return 0, t, notFound("no such endpoint: %s %s; chart repositories serve "+
			"/<namespace>/index.yaml, /<namespace>/artifacthub-repo.yml and /<namespace>/charts/<name>-<version>.tgz, the upload API is under /api/<namespace>/charts, "+
			"the OCI API under /v2/", r.Method, r.URL.Path)
	}
	return t.endpoint, t, nil
}

// notAllowed answers a method an endpoint does not serve.
func notAllowed(r *http.Request, allow string) error {
	return &statusError{status: http.StatusMethodNotAllowed, err: fmt.Errorf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow)}
}

// authorize checks the namespace's grammar and the caller's rights on what the path names:
// a chart's repository, else the namespace (the audit log: the registry).
func (h *handler) authorize(r *http.Request, t target, action auth.Action) (auth.Principal, auth.Target, error) {
	if t.ns != "" {
		if err := registry.ValidateName(t.ns); err != nil {
			return auth.Principal{}, auth.Target{}, fmt.Errorf("namespace %q: %w", t.ns, err)
		}
	}
	at := auth.NamespaceTarget(t.ns)
	switch {
	case t.endpoint == epAudit:
		at = auth.RegistryTarget()
	case t.name != "":
		at = auth.RepositoryTarget(t.repository())
	}
	p, err := h.authz.Authorize(r, at, action)
	return p, at, err
}

// regFor is what a request reads: the registry, or for a read its caller may not make
// (httpx.Hidden), the registry that holds nothing, so that the answer is exactly the one a
// missing namespace or chart gets.
func (h *handler) regFor(r *http.Request) Charts {
	if httpx.Hidden(r) {
		return h.missing
	}
	return h.reg
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

// repository is the chart's repository when the path names a chart, else the namespace
// ("" for the root namespace).
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
//     index of namespace team/charts; artifacthub-repo.yml beside it is the namespace's
//     Artifact Hub repository metadata;
//   - <dir>/charts/<file> where <file> is <name>-<version>.tgz or .tgz.prov (the version
//     SemVer, see splitArchiveName) is an archive: /team/charts/charts/myapp-1.0.0.tgz is
//     myapp 1.0.0 of namespace team/charts;
//   - otherwise a path under /api/ is an API route, read from the right: …/charts/<name>/<version>
//     when the last component is a SemVer version (or "latest"); …/charts when the last
//     component is "charts" (so /api/team/charts/charts lists namespace team/charts, and a
//     chart named charts is addressed by its versions); …/charts/<name>/<version>/templates
//     and …/values (a SemVer version, or "latest"); …/charts/<name>; POST …/prov.
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
	case last == registry.ArtifactHubFile:
		return target{endpoint: epArtifactHub, ns: join(segs[:n-1])}, true
	case n >= 2 && segs[n-2] == "charts" && isArchiveFile(last, method == http.MethodPut):
		return target{endpoint: epArchive, ns: join(segs[:n-2]), file: last}, true
	}
	if segs[0] != "api" {
		return target{}, false
	}
	if n == 3 && segs[1] == auditSegment && segs[2] == "audit" {
		// "_" is no name component, so /api/_/… names no namespace.
		return target{endpoint: epAudit}, true
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
	case m >= 4 && a[m-4] == "charts" && (a[m-1] == "templates" || a[m-1] == "values") && (a[m-2] == latest || isVersion(a[m-2])):
		ep := epAPITemplates
		if a[m-1] == "values" {
			ep = epAPIValues
		}
		return target{endpoint: ep, ns: join(a[:m-4]), name: a[m-3], version: a[m-2]}, true
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

// callerContext lets a caller who may push to what the request names see the chart versions
// its signed-only namespace quarantines (they sign what they publish); to readers such a
// version does not exist.
func (h *handler) callerContext(r *http.Request, p auth.Principal, t auth.Target) context.Context {
	if !t.Registry && h.authz.MayPublish(p, t) {
		return registry.WithQuarantined(r.Context())
	}
	return r.Context()
}
