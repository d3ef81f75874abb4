package ui_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/registry/registrytest"
	"github.com/chartroom/chartroom/internal/server/auth"
	"github.com/chartroom/chartroom/internal/server/ui"
)

// imagesSection is the chart page's images section.
var imagesSection = regexp.MustCompile(`(?s)<section aria-labelledby="images-h">.*?</section>`)

// The chart page lists the images a version deploys: each reference and name, whether the
// annotation declares it (whitelisted, platforms) and/or the rendered templates run it, all
// escaped; a chart whose templates do not render says why its rendered images are missing.
func TestChartPageImages(t *testing.T) {
	e := newEnv(t, false)
	e.publish(t, "team", charttest.Files(t, "web", map[string]string{
		"Chart.yaml": `apiVersion: v2
name: web
version: 1.0.0
annotations:
  artifacthub.io/images: |
    - name: "<b>frontend</b>"
      image: nginx:1.27
      whitelisted: true
      platforms: [linux/amd64, linux/arm64]
    - name: docs
      image: "ghcr.io/acme/docs:1<script>"
`,
		"values.yaml": "tag: \"1.27\"\n",
		"templates/deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers:
      - name: migrate
        image: "busybox:1.36"
      containers:
      - name: web
        image: "nginx:{{ .Values.tag }}"
`,
	}))
	e.publish(t, "team", charttest.Files(t, "broken", map[string]string{
		"Chart.yaml":          "apiVersion: v2\nname: broken\nversion: 1.0.0\n",
		"templates/fail.yaml": `{{ fail "needs a <value>" }}`,
	}))
	e.publish(t, "team", charttest.Files(t, "empty", map[string]string{
		"Chart.yaml":        "apiVersion: v2\nname: empty\nversion: 1.0.0\n",
		"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
	}))
	a := e.browser(t)
	a.login("admin", adminPassword)

	_, _, page := a.get("/ui/chart/team/web")
	assertNoInlineCode(t, "web", page)
	sec := imagesSection.FindString(page)
	if sec == "" {
		t.Fatalf("no images section:\n%s", page)
	}
	rows := regexp.MustCompile(`(?s)<tr><td><code class="image-ref">(.*?)</code></td><td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td></tr>`).FindAllStringSubmatch(sec, -1)
	type row struct{ image, name, declared, rendered, platforms string }
	var got []row
	strip := regexp.MustCompile(`<[^>]*>`)
	for _, m := range rows {
		got = append(got, row{html.UnescapeString(m[1]), html.UnescapeString(m[2]), strip.ReplaceAllString(m[3], ""), strip.ReplaceAllString(m[4], ""), m[5]})
	}
	want := []row{
		{"nginx:1.27", "<b>frontend</b>", "yes whitelisted", "yes", "linux/amd64, linux/arm64"},
		{"ghcr.io/acme/docs:1<script>", "docs", "yes", "no", ""},
		{"busybox:1.36", "migrate", "no", "yes", ""},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("images rows:\n got %q\nwant %q\n%s", got, want, sec)
	}
	for _, raw := range []string{"<b>frontend", "docs:1<script>"} {
		if strings.Contains(page, raw) {
			t.Errorf("the page contains %q unescaped", raw)
		}
	}
	if strings.Contains(sec, `id="images-error"`) {
		t.Errorf("web renders: no images error expected:\n%s", sec)
	}

	_, _, page = a.get("/ui/chart/team/broken")
	sec = imagesSection.FindString(page)
	if !strings.Contains(sec, `id="images-error"`) || !strings.Contains(sec, "needs a &lt;value&gt;") || strings.Contains(sec, `id="images"`) {
		t.Errorf("broken: want the render error, escaped, and no table:\n%s", sec)
	}
	_, _, page = a.get("/ui/chart/team/empty")
	if sec = imagesSection.FindString(page); !strings.Contains(sec, `id="images-none"`) || strings.Contains(sec, "images-error") {
		t.Errorf("empty: want 'no image':\n%s", sec)
	}
}

// versionRowRE finds one row of the versions table: its class and its cells.
var versionRowRE = regexp.MustCompile(`(?s)<tr( class="deleted")?>\s*<td>(.*?)</td>(.*?)</tr>`)

// tableRows returns the versions table's rows: version text → the row's HTML.
func tableRows(t *testing.T, page string) (order []string, rows map[string]string) {
	t.Helper()
	i := strings.Index(page, `<table class="versions" id="versions">`)
	if i < 0 {
		t.Fatalf("no versions table:\n%s", page)
	}
	table := page[i : i+strings.Index(page[i:], "</table>")]
	rows = map[string]string{}
	strip := regexp.MustCompile(`<[^>]*>`)
	for _, m := range versionRowRE.FindAllStringSubmatch(table, -1) {
		v := strip.ReplaceAllString(m[2], "")
		order = append(order, v)
		rows[v] = m[0]
	}
	return order, rows
}

// Each version links to the diff page against the version before it, and that link opens the
// comparison of exactly those two; the oldest version has none.
func TestVersionsTableCompareLinks(t *testing.T) {
	e := newEnv(t, false)
	for _, v := range []string{"1.0.0", "1.1.0", "10.0.0", "2.0.0"} {
		e.publish(t, "team", charttest.Archive(t, "app", v, "x"))
	}
	a := e.browser(t)
	a.login("admin", adminPassword)
	_, _, page := a.get("/ui/chart/team/app")
	order, rows := tableRows(t, page)
	if fmt.Sprint(order) != "[10.0.0 2.0.0 1.1.0 1.0.0]" {
		t.Fatalf("versions %v", order)
	}
	link := regexp.MustCompile(`<a class="compare" href="([^"]+)"`)
	for v, prev := range map[string]string{"10.0.0": "2.0.0", "2.0.0": "1.1.0", "1.1.0": "1.0.0"} {
		m := link.FindStringSubmatch(rows[v])
		if m == nil {
			t.Errorf("%s: no compare link: %s", v, rows[v])
			continue
		}
		href := html.UnescapeString(m[1])
		if want := "/ui/diff/team/app?from=" + prev + "&to=" + v; href != want {
			t.Errorf("%s: compare link %q, want %q", v, href, want)
		}
		status, _, diff := a.get(href)
		if status != http.StatusOK || !strings.Contains(diff, `id="diff-required"`) ||
			!strings.Contains(diff, `<option value="`+prev+`" selected>`) {
			t.Errorf("%s: the compare link's page: %d\n%s", href, status, diff)
		}
	}
	if link.MatchString(rows["1.0.0"]) {
		t.Errorf("the oldest version has a compare link: %s", rows["1.0.0"])
	}
}

// Deleted versions are listed greyed, in version order, with when they were deleted and no
// link (their pages are gone), to whoever may read the namespace; a compare link skips them;
// a deleted quarantined version is shown to publishers only, as live ones are.
func TestVersionsTableDeletedVersions(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		e.publish(t, "team", charttest.Archive(t, "app", v, "x"))
	}
	before := time.Now().UTC()
	if err := e.DeleteChartVersion(ctx, "team", "app", "1.1.0", "admin"); err != nil {
		t.Fatal(err)
	}
	// A version quarantined (signed-only namespace), then deleted.
	yes := true
	if err := e.DB.SetNamespacePolicy(ctx, "team", &yes, nil, nil); err != nil {
		t.Fatal(err)
	}
	e.publish(t, "team", charttest.Archive(t, "app", "1.3.0", "x"))
	if err := e.DeleteChartVersion(ctx, "team", "app", "1.3.0", "admin"); err != nil {
		t.Fatal(err)
	}
	no := false // the live versions are released; the tombstone keeps its quarantine
	if err := e.DB.SetNamespacePolicy(ctx, "team", &no, nil, nil); err != nil {
		t.Fatal(err)
	}
	e.addUser(t, "reader", "reader-password-1", "team", auth.RoleReader)
	e.addUser(t, "outsider", "outsider-password-1", "other", auth.RoleReader)

	a := e.browser(t)
	a.login("admin", adminPassword)
	_, _, page := a.get("/ui/chart/team/app")
	assertNoInlineCode(t, "admin", page)
	order, rows := tableRows(t, page)
	if fmt.Sprint(order) != "[1.3.0 1.2.0 1.1.0 1.0.0]" {
		t.Fatalf("admin: versions %v", order)
	}
	del := rows["1.1.0"]
	if !strings.HasPrefix(del, `<tr class="deleted">`) || !strings.Contains(del, `<span class="badge">deleted</span>`) || strings.Contains(del, "<a ") {
		t.Errorf("1.1.0: want a greyed row without links: %s", del)
	}
	at := regexp.MustCompile(`<time class="deleted-at" datetime="([^"]+)">`).FindStringSubmatch(del)
	if at == nil {
		t.Fatalf("1.1.0: no deletion time: %s", del)
	}
	if when, err := time.Parse(time.RFC3339, at[1]); err != nil || when.Before(before.Truncate(time.Second)) || when.After(time.Now().Add(time.Second)) {
		t.Errorf("1.1.0 deleted at %q (%v), want between %s and now", at[1], err, before)
	}
	if !strings.Contains(rows["1.3.0"], `class="deleted"`) || !strings.Contains(rows["1.3.0"], "quarantined") {
		t.Errorf("1.3.0 (quarantined, deleted) for the admin: %s", rows["1.3.0"])
	}
	if !strings.Contains(rows["1.2.0"], "from=1.0.0&amp;to=1.2.0") {
		t.Errorf("1.2.0 compares with 1.0.0 (1.1.0 is deleted): %s", rows["1.2.0"])
	}
	if strings.Contains(rows["1.2.0"], `class="deleted"`) || strings.Contains(rows["1.0.0"], `class="deleted"`) {
		t.Errorf("live versions shown deleted")
	}

	r := e.browser(t)
	r.login("reader", "reader-password-1")
	_, _, page = r.get("/ui/chart/team/app")
	order, rows = tableRows(t, page)
	if fmt.Sprint(order) != "[1.2.0 1.1.0 1.0.0]" || !strings.Contains(rows["1.1.0"], `class="deleted"`) {
		t.Errorf("reader: versions %v (want the deleted 1.1.0, not the quarantined 1.3.0)\n%s", order, rows["1.1.0"])
	}

	o := e.browser(t)
	o.login("outsider", "outsider-password-1")
	if status, _, body := o.get("/ui/chart/team/app"); status != http.StatusNotFound || strings.Contains(body, "1.1.0") {
		t.Errorf("a reader of another namespace: %d, want 404 without the versions", status)
	}
}

// memUpstream is a proxy namespace's upstream held in memory, which the test changes as an
// upstream would.
type memUpstream struct {
	mu       sync.Mutex
	listed   map[string]registry.UpstreamVersion
	archives map[string][]byte
}

func (u *memUpstream) add(name, version string, archive []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	md := fmt.Sprintf(`{"apiVersion":"v2","name":%q,"version":%q}`, name, version)
	u.listed[name+"@"+version] = registry.UpstreamVersion{Name: name, Version: version, Digest: digest.FromBytes(archive),
		Source: "mem://" + name + "-" + version, Metadata: []byte(md), Created: time.Unix(1700000000, 0)}
	u.archives[name+"@"+version] = archive
}

func (u *memUpstream) List(ctx context.Context, src registry.UpstreamSource) ([]registry.UpstreamVersion, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []registry.UpstreamVersion
	for _, v := range u.listed {
		out = append(out, v)
	}
	return out, nil
}

func (u *memUpstream) Open(ctx context.Context, src registry.UpstreamSource, v registry.UpstreamVersion) (io.ReadCloser, []byte, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	a, ok := u.archives[v.Name+"@"+v.Version]
	if !ok {
		return nil, nil, errors.New("404 Not Found")
	}
	return io.NopCloser(bytes.NewReader(a)), nil, nil
}

// In a proxy namespace, a version whose upstream later listed other bytes carries a visible
// badge with the upstream's digest, in the versions table and on its page; others do not.
func TestVersionsTableUpstreamChanged(t *testing.T) {
	ctx := context.Background()
	up := &memUpstream{listed: map[string]registry.UpstreamVersion{}, archives: map[string][]byte{}}
	reg := registrytest.New(t, registry.Options{Upstream: up})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	authz := auth.New(reg.DB, auth.Options{AnonymousRead: true, Refresh: -1, Logger: log})
	u, err := ui.New(reg.Registry, authz, ui.Options{Logger: log, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(u)
	t.Cleanup(srv.Close)
	if err := reg.DB.PutProxy(ctx, meta.Proxy{Namespace: "up", Upstream: "https://charts.example.com/stable", Refresh: time.Hour}, nil); err != nil {
		t.Fatal(err)
	}
	up.add("app", "1.0.0", charttest.Archive(t, "app", "1.0.0", "original"))
	up.add("app", "1.1.0", charttest.Archive(t, "app", "1.1.0", "original"))
	for _, v := range []string{"1.0.0", "1.1.0"} { // the first pulls pin both
		rc, _, _, err := reg.OpenChart(ctx, "up", "app", v, false)
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	changed := charttest.Archive(t, "app", "1.0.0", "tampered")
	up.add("app", "1.0.0", changed)
	if err := reg.RefreshProxy(ctx, "up", true); err != nil {
		t.Fatal(err)
	}

	get := func(path string) string {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d\n%s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	want := digest.FromBytes(changed).String()
	page := get("/ui/chart/up/app")
	_, rows := tableRows(t, page)
	badge := `upstream changed: <span class="digest">` + want + `</span>`
	if !strings.Contains(rows["1.0.0"], badge) {
		t.Errorf("1.0.0: want the badge %q: %s", badge, rows["1.0.0"])
	}
	if strings.Contains(rows["1.1.0"], "upstream changed") {
		t.Errorf("1.1.0 did not change upstream: %s", rows["1.1.0"])
	}
	if strings.Contains(page, `id="upstream-changed"`) {
		t.Errorf("the page of 1.1.0 carries the badge of 1.0.0")
	}
	if page := get("/ui/chart/up/app?version=1.0.0"); !strings.Contains(page, `id="upstream-changed"`) || !strings.Contains(page, want) {
		t.Errorf("the page of 1.0.0 lacks its badge")
	}
}
