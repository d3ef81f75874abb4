package ui

import (
	"context"
	"errors"
	"fmt"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server/auth"
)

// versionsShown is how many versions the chart page lists unless asked for all of them.
const versionsShown = 100

// chartPageData is the data of templates/chart.html.
type chartPageData struct {
	Namespace, Name string
	V               *registry.ChartVersion // the version shown
	Meta            entryMeta
	Newest          string // the chart's newest version (what helm picks without --version)
	Pieces          *pieces
	PiecesError     string
	Versions        []versionRow // live versions the visitor sees, then (chartPage) with the deleted ones merged in
	Deleted         []versionRow // deleted versions the visitor sees
	VersionsTotal   int
	AllVersions     bool
	Install         []installCmd
	Deps            []depRow
	ValuesURL       string
	Verify          bool          // the version has a valid .prov: install commands verify it
	VersionsHTML    template.HTML // the versions table's rows (versionsRows)
}

// installCmd is a copyable install snippet.
type installCmd struct {
	ID, Title, Text string
}

// depRow is a dependency of the version shown.
type depRow struct {
	Name, Version, Repository, Alias, Condition string
	URL                                         string // its page here, when it lives here and the visitor may read it
}

// splitRepo reads the {repo...} of a chart path: <namespace>/<name>, or <name> in the root
// namespace.
func splitRepo(repo string) (ns, name string, ok bool) {
	repo = strings.TrimSuffix(repo, "/")
	ns, name = registry.SplitRepository(repo)
	return ns, name, name != ""
}

// chartVersionFor finds the version a chart page shows: ?version=, else the newest a reader
// sees (the newest stable one when there is one). Versions the visitor may not see are
// errNotFound.
func (u *UI) chartVersionFor(q *Request) (*chartPageData, context.Context, error) {
	ns, name, ok := splitRepo(q.R.PathValue("repo"))
	if !ok || !q.canRead(u, ns) {
		return nil, nil, errNotFound
	}
	ctx := q.R.Context()
	seesQuarantined := u.authz.MayPublish(q.Principal, auth.RepositoryTarget(repoName(ns, name)))
	if seesQuarantined {
		ctx = registry.WithQuarantined(ctx) // publishers see the versions they must sign
	}
	st, err := u.reg.IndexState(ctx, ns)
	if err != nil {
		return nil, nil, err
	}
	if st.Generation == 0 {
		return nil, nil, errNotFound
	}
	s, err := u.browse.summary(ctx, ns, st.Generation)
	if err != nil {
		return nil, nil, err
	}
	d := &chartPageData{Namespace: ns, Name: name}
	for _, v := range s.versions[name] {
		if v.Quarantined && !seesQuarantined {
			continue
		}
		d.Versions = append(d.Versions, v)
	}
	if len(d.Versions) == 0 {
		return nil, nil, errNotFound
	}
	for _, v := range s.deleted[name] {
		if v.Quarantined && !seesQuarantined {
			continue
		}
		d.Deleted = append(d.Deleted, v)
	}
	for _, c := range s.charts {
		if c.Name == name {
			d.Newest = c.Version
		}
	}
	if d.Newest == "" {
		d.Newest = d.Versions[0].Version
	}
	version := q.R.URL.Query().Get("version")
	if version == "" {
		version = d.Newest
	}
	if d.V, err = u.reg.ChartVersion(ctx, ns, name, version); err != nil {
		return nil, nil, err
	}
	return d, ctx, nil
}

func repoName(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// chartPage shows a chart version: its README, values, schema, dependencies, maintainers,
// install commands and the chart's versions.
func (u *UI) chartPage(q *Request) error {
	d, ctx, err := u.chartVersionFor(q)
	if err != nil {
		return err
	}
	d.Meta = parseEntry(d.V.Entry)
	d.Verify = d.V.Prov.Status == registry.SignatureValid
	d.Versions = withDeleted(d.Versions, d.Deleted)
	d.VersionsTotal = len(d.Versions)
	d.AllVersions = q.R.URL.Query().Get("versions") == "all"
	if !d.AllVersions && len(d.Versions) > versionsShown {
		d.Versions = d.Versions[:versionsShown]
	}
	if d.Pieces, err = u.chartPieces(ctx, d.Namespace, d.Name, d.V.Version, d.V.ChartDigest); err != nil {
		if errors.Is(err, registry.ErrChartUnknown) {
			return err
		}
		u.log.Error("ui: read a chart's archive", "repository", repoName(d.Namespace, d.Name), "version", d.V.Version, "err", err)
		d.PiecesError = "The chart's archive could not be read; the registry's operators have the details in its log."
		d.Pieces = &pieces{}
	}
	d.VersionsHTML = versionsRows(d)
	d.ValuesURL = Prefix + "values/" + escapePath(repoName(d.Namespace, d.Name)) + "?version=" + url.QueryEscape(d.V.Version)
	d.Install = u.installCommands(q.R, d.Namespace, d.Name, d.V.Version, d.Verify)
	d.Deps = u.dependencies(q, d.Meta)
	title := d.Name + " " + d.V.Version
	return u.render(q, "chart", title, d)
}

// valuesFile downloads a version's values.yaml as it is in the archive.
func (u *UI) valuesFile(q *Request) error {
	d, ctx, err := u.chartVersionFor(q)
	if err != nil {
		return err
	}
	rc, _, _, err := u.reg.OpenChart(ctx, d.Namespace, d.Name, d.V.Version, false)
	if err != nil {
		return err
	}
	defer rc.Close()
	select {
	case u.archiveSlots <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	defer func() { <-u.archiveSlots }()
	var w chart.ArchiveWalker
	_, files, err := w.Walk(rc, chart.Limits{}, func(rel string) bool { return rel == chart.ValuesfileName })
	if err != nil {
		return fmt.Errorf("read values.yaml of %s %s: %w", d.Name, d.V.Version, err)
	}
	for _, f := range files {
		if f.Name == chart.ValuesfileName {
			h := q.W.Header()
			h.Set("Content-Type", "text/plain; charset=utf-8")
			h.Set("Content-Disposition", `attachment; filename="`+safeFileName(d.Name+"-"+d.V.Version)+`-values.yaml"`)
			h.Set("Content-Length", strconv.Itoa(len(f.Data)))
			h.Set("Cache-Control", "private, max-age=300")
			if q.R.Method != http.MethodHead {
				_, _ = q.W.Write(f.Data)
			}
			return nil
		}
	}
	return errNotFound
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._+-]`)

func safeFileName(s string) string { return unsafeFileChars.ReplaceAllString(s, "_") }

// base is where clients reach the server: --external-url, else the request's scheme and Host.
func (u *UI) base(r *http.Request) (scheme, host string) {
	if e, err := url.Parse(u.opts.ExternalURL); err == nil && e.Host != "" {
		return e.Scheme, e.Host + strings.TrimSuffix(e.Path, "/")
	}
	scheme = "http"
	if r.TLS != nil || strings.EqualFold(strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")[0]), "https") {
		scheme = "https"
	}
	return scheme, r.Host
}

var aliasChars = regexp.MustCompile(`[^a-z0-9-]+`)

// installCommands are the ways to install a version: helm over OCI and over the classic
// repository, Flux (OCIRepository, HelmRepository) and Argo CD. With verify (a valid .prov)
// the helm commands check the signature.
func (u *UI) installCommands(r *http.Request, ns, name, version string, verify bool) []installCmd {
	scheme, host := u.base(r)
	ociHost, _, _ := strings.Cut(host, "/")
	oci := "oci://" + ociHost + "/" + repoName(ns, name)
	repoURL := scheme + "://" + host
	if ns != "" {
		repoURL += "/" + ns
	}
	alias := "chartroom"
	if ns != "" {
		alias = aliasChars.ReplaceAllString(strings.ToLower(ns[strings.LastIndexByte(ns, '/')+1:]), "-")
	}
	v := ""
	if verify {
		v = " --verify"
	}
	return []installCmd{
		{"install-oci", "helm (OCI)", fmt.Sprintf("helm install %s %s --version %s%s", name, oci, version, v)},
		{"install-repo", "helm (chart repository)", fmt.Sprintf("helm repo add %s %s\nhelm repo update %s\nhelm install %s %s/%s --version %s%s",
			alias, repoURL, alias, name, alias, name, version, v)},
		{"install-flux-oci", "Flux (OCIRepository)", fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: %[1]s
  namespace: flux-system
spec:
  interval: 10m
  url: %[2]s
  ref:
    semver: %[3]q
  layerSelector:
    mediaType: application/vnd.cncf.helm.chart.content.v1.tar+gzip
    operation: copy
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: %[1]s
  namespace: flux-system
spec:
  interval: 10m
  chartRef:
    kind: OCIRepository
    name: %[1]s
`, name, oci, version)},
		{"install-flux-repo", "Flux (HelmRepository)", fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: %[4]s
  namespace: flux-system
spec:
  interval: 10m
  url: %[2]s
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: %[1]s
  namespace: flux-system
spec:
  interval: 10m
  chart:
    spec:
      chart: %[1]s
      version: %[3]q
      sourceRef:
        kind: HelmRepository
        name: %[4]s
`, name, repoURL, version, alias)},
		{"install-argocd", "Argo CD (Application)", fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: %[1]s
  namespace: argocd
spec:
  project: default
  source:
    repoURL: %[2]s
    chart: %[1]s
    targetRevision: %[3]q
  destination:
    server: https://kubernetes.default.svc
    namespace: %[1]s
`, name, repoURL, version)},
	}
}

// dependencies lists a version's dependencies, linking those that live in this registry
// (oci://HOST/… or the classic repository URL of a namespace here) when the visitor may read
// their namespace.
func (u *UI) dependencies(q *Request, m entryMeta) []depRow {
	_, host := u.base(q.R)
	var out []depRow
	for _, d := range m.Dependencies {
		row := depRow{Name: d.Name, Version: d.Version, Repository: d.Repository, Alias: d.Alias, Condition: d.Condition}
		if ns, ok := localNamespace(d.Repository, host, q.R.Host); ok && q.canRead(u, ns) {
			row.URL = chartURL(ns, d.Name)
		}
		out = append(out, row)
	}
	return out
}

// localNamespace reads the namespace of a dependency's repository URL when it is this
// registry's (host, or the request's host).
func localNamespace(repository string, hosts ...string) (string, bool) {
	u, err := url.Parse(repository)
	if err != nil || u.Host == "" {
		return "", false
	}
	switch u.Scheme {
	case "oci", "http", "https":
	default:
		return "", false
	}
	for _, h := range hosts {
		hh, prefix, _ := strings.Cut(h, "/")
		if !strings.EqualFold(u.Host, hh) {
			continue
		}
		p := strings.Trim(u.Path, "/")
		if prefix != "" && u.Scheme != "oci" {
			var ok bool
			if p, ok = strings.CutPrefix(p, prefix); !ok {
				continue
			}
			p = strings.Trim(p, "/")
		}
		return p, true
	}
	return "", false
}

// withDeleted sets each live version's Previous (the live version below it) and merges the
// deleted versions in, newest version first (both lists are).
func withDeleted(live, deleted []versionRow) []versionRow {
	for i := range live {
		if i+1 < len(live) {
			live[i].Previous = live[i+1].Version
		}
	}
	if len(deleted) == 0 {
		return live
	}
	out := make([]versionRow, 0, len(live)+len(deleted))
	i, j := 0, 0
	for i < len(live) || j < len(deleted) {
		if j == len(deleted) || (i < len(live) && chart.KeyOf(live[i].Version).Compare(chart.KeyOf(deleted[j].Version)) >= 0) {
			out = append(out, live[i])
			i++
		} else {
			out = append(out, deleted[j])
			j++
		}
	}
	return out
}

// versionsRows renders the rows of the versions table. They are written here rather than in
// the template: html/template costs tens of microseconds a row (reflection at each action), and
// a chart may list thousands of versions. Every value is escaped (html.EscapeString) and every
// attribute quoted; the links are paths under /ui/ built with url.PathEscape and QueryEscape.
func versionsRows(d *chartPageData) template.HTML {
	var b strings.Builder
	b.Grow(len(d.Versions) * 600)
	esc := html.EscapeString
	for _, v := range d.Versions {
		if !v.Deleted.IsZero() {
			deletedRow(&b, v)
			continue
		}
		b.WriteString("<tr>\n<td>")
		if v.Version == d.V.Version {
			b.WriteString(`<strong aria-current="page">` + esc(v.Version) + `</strong>`)
		} else {
			b.WriteString(`<a href="` + esc(versionURL(d.Namespace, d.Name, v.Version)) + `">` + esc(v.Version) + `</a>`)
		}
		b.WriteString("</td>\n<td>" + esc(v.AppVersion) + "</td>\n")
		b.WriteString(`<td><time datetime="` + v.Created.UTC().Format("2006-01-02T15:04:05Z") + `" title="` +
			v.Created.UTC().Format("2006-01-02 15:04 UTC") + `">` + v.Created.UTC().Format("2006-01-02") + "</time></td>\n")
		b.WriteString(`<td><span class="digest" title="` + esc(v.ChartDigest.String()) + `">` + esc(shortDigest(v.ChartDigest)) + "</span></td>\n")
		b.WriteString("<td>" + humanSize(v.ChartSize) + "</td>\n<td>" + esc(v.PushedBy) + "</td>\n<td>")
		b.WriteString(sigBadge("provenance", v.Prov) + " " + sigBadge("cosign", v.Cosign) + "</td>\n<td>")
		if v.Deprecated {
			b.WriteString(`<span class="badge warn">deprecated</span>`)
		}
		if v.Quarantined {
			b.WriteString(` <span class="badge bad">quarantined</span>`)
		}
		if v.UpstreamChanged != "" {
			b.WriteString(` <span class="badge bad upstream-changed" title="The upstream now lists other bytes under this version (` +
				esc(v.UpstreamChanged.String()) + `); this registry keeps serving the bytes it pinned">upstream changed: <span class="digest">` +
				esc(v.UpstreamChanged.String()) + `</span></span>`)
		}
		b.WriteString("</td>\n<td>")
		if v.Previous != "" {
			b.WriteString(`<a class="compare" href="` + esc(diffURL(d.Namespace, d.Name)+"?from="+url.QueryEscape(v.Previous)+"&to="+url.QueryEscape(v.Version)) +
				`" aria-label="` + esc("Compare "+v.Version+" with "+v.Previous) + `">vs ` + esc(v.Previous) + `</a>`)
		}
		b.WriteString("</td>\n</tr>\n")
	}
	return template.HTML(b.String()) // #nosec: every value escaped above
}

// deletedRow writes the row of a deleted version: greyed, no link (its pages are gone), with
// when it was deleted.
func deletedRow(b *strings.Builder, v versionRow) {
	esc := html.EscapeString
	b.WriteString(`<tr class="deleted">` + "\n<td><del>" + esc(v.Version) + "</del></td>\n<td>" + esc(v.AppVersion) + "</td>\n")
	b.WriteString(`<td><time datetime="` + v.Created.UTC().Format("2006-01-02T15:04:05Z") + `" title="` +
		v.Created.UTC().Format("2006-01-02 15:04 UTC") + `">` + v.Created.UTC().Format("2006-01-02") + "</time></td>\n")
	b.WriteString(`<td><span class="digest" title="` + esc(v.ChartDigest.String()) + `">` + esc(shortDigest(v.ChartDigest)) + "</span></td>\n")
	b.WriteString("<td>" + humanSize(v.ChartSize) + "</td>\n<td>" + esc(v.PushedBy) + "</td>\n<td></td>\n<td>")
	b.WriteString(`<span class="badge">deleted</span> <time class="deleted-at" datetime="` + v.Deleted.UTC().Format("2006-01-02T15:04:05Z") + `">` +
		v.Deleted.UTC().Format("2006-01-02 15:04 UTC") + "</time>")
	if v.Quarantined {
		b.WriteString(` <span class="badge bad">quarantined</span>`)
	}
	b.WriteString("</td>\n<td></td>\n</tr>\n")
}

// sigBadge is the badge of a signature status (the "sig" template's, in Go for versionsRows).
func sigBadge(kind string, s registry.SignatureStatus) string {
	esc := html.EscapeString
	switch s.Status {
	case registry.SignatureValid:
		title := kind + " signature valid"
		if s.Signer != "" {
			title += ", signed by " + s.Signer
		}
		return `<span class="badge ok" title="` + esc(title) + `">` + kind + `: valid</span>`
	case registry.SignatureInvalid:
		return `<span class="badge bad" title="` + esc(s.Error) + `">` + kind + `: invalid</span>`
	case registry.SignatureUnverified:
		return `<span class="badge warn" title="` + esc(s.Error) + `">` + kind + `: unverified</span>`
	}
	return `<span class="badge">` + kind + `: none</span>`
}
