package ui_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/provenance"
	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server/auth"
)

// hostileArchive is a chart that tries every way into the page: HTML in its description,
// keywords and maintainers, javascript: links in Chart.yaml and the README, raw HTML with
// scripts and event handlers in the README, and a values.yaml of almost 5 MiB (the largest
// file a chart may hold) full of markup.
func hostileArchive(t *testing.T) ([]byte, int) {
	t.Helper()
	chartYAML := `apiVersion: v2
name: hostile
version: 1.0.0
appVersion: "<b>1</b>"
description: "<script>alert('desc')</script> & <img src=x onerror=alert('desc2')> \"quoted\""
home: "javascript:alert('home')"
icon: "javascript:alert('icon')"
sources:
  - "javascript:alert('source')"
keywords:
  - "<script>alert('kw')</script>"
maintainers:
  - name: "<img src=x onerror=alert('maint')>"
    url: "javascript:alert('maint-url')"
    email: "\"><script>alert('mail')</script>"
`
	readme := "# Hostile chart\n\n" +
		"<script>alert('readme')</script>\n\n" +
		"<img src=\"x\" onerror=\"alert('img')\">\n\n" +
		"[click me](javascript:alert('link'))\n\n" +
		"[encoded](JaVaScRiPt:alert('link2'))\n\n" +
		"<a href=\"javascript:alert('raw')\">raw link</a>\n\n" +
		"<div onclick=\"alert('div')\" style=\"color:red\">div</div>\n\n" +
		"<iframe src=\"https://evil.example\"></iframe>\n\n" +
		"![pic](javascript:alert('pic'))\n\n" +
		"[a fine link](https://example.com/docs)\n\n" +
		"| col | umn |\n|---|---|\n| <script>alert('table')</script> | x |\n"
	line := "key: \"<script>alert('values')</script> <img src=x onerror=alert(1)>\"\n"
	var values bytes.Buffer
	for i := 0; values.Len()+len(line)+16 < 5<<20-4096; i++ {
		fmt.Fprintf(&values, "k%08d%s", i, line[3:])
	}
	schema := `{"type":"object","required":["a"],"properties":{"a":{"type":"string","description":"<script>alert('schema')</script>","default":"<img onerror=x>"}}}`
	return charttest.Tgz(t,
		charttest.Entry{Name: "hostile/Chart.yaml", Body: chartYAML},
		charttest.Entry{Name: "hostile/README.md", Body: readme},
		charttest.Entry{Name: "hostile/values.yaml", Body: values.String()},
		charttest.Entry{Name: "hostile/values.schema.json", Body: schema},
		charttest.Entry{Name: "hostile/templates/cm.yaml", Body: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"},
	), values.Len()
}

// jsURL is a javascript: URL in an attribute (a link, an image, a form).
var jsURL = regexp.MustCompile(`(?i)(href|src|action|formaction|xlink:href)\s*=\s*["']?\s*(javascript|vbscript|data):`)

// A hostile chart renders safely: no script, event handler, javascript: URL or style
// attribute reaches the page, whatever the chart says; its huge values.yaml is shown as plain
// text in part, with a download link that has it whole.
func TestHostileChartRendersSafely(t *testing.T) {
	e := newEnv(t, true)
	archive, valuesSize := hostileArchive(t)
	e.publish(t, "team", archive)
	b := e.browser(t)

	pages := map[string]string{}
	for _, p := range []string{"/ui/", "/ui/ns/team", "/ui/search?q=hostile", "/ui/search?q=" + url.QueryEscape("<script>"), "/ui/chart/team/hostile", "/ui/chart/team/hostile?version=1.0.0"} {
		status, h, body := b.get(p)
		if status != http.StatusOK {
			t.Fatalf("%s: %d\n%s", p, status, body)
		}
		if !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: Content-Type %q", p, h.Get("Content-Type"))
		}
		pages[p] = body
	}
	for p, body := range pages {
		assertNoInlineCode(t, p, body)
		// (Escaped, as text, they are harmless: "&lt;img onerror" is what the chart says.)
		lower := strings.ToLower(body)
		for _, bad := range []string{"<iframe", "<img src=x", "<img src=\"x\"", "<b>1</b>", "<div onclick"} {
			if strings.Contains(lower, bad) {
				i := strings.Index(lower, bad)
				t.Errorf("%s: contains %q: …%s…", p, bad, body[max(0, i-80):min(len(body), i+80)])
			}
		}
		if m := jsURL.FindString(body); m != "" {
			t.Errorf("%s: a javascript: URL in %s", p, m)
		}
	}
	chartPage := pages["/ui/chart/team/hostile"]
	for _, want := range []string{
		"&lt;script&gt;alert(&#39;desc&#39;)&lt;/script&gt;", // the description, escaped
		"<h1>Hostile chart</h1>",                             // the README, rendered
		`<a href="https://example.com/docs" rel="nofollow">a fine link</a>`,
		"values.yaml is large",
		`<td><code>a</code></td><td>string</td>`, // the schema's table
	} {
		if !strings.Contains(chartPage, want) {
			t.Errorf("chart page lacks %q", want)
		}
	}
	if strings.Count(chartPage, "k00000001") != 1 || strings.Contains(chartPage, fmt.Sprintf("k%08d", valuesSize/len("k00000000key: \"<script>alert('values')</script> <img src=x onerror=alert(1)>\"\n")-1)) {
		t.Error("values.yaml: expected its beginning shown once and its end cut")
	}
	if len(chartPage) > 2<<20 {
		t.Errorf("chart page is %d bytes: the values.yaml bound did not hold", len(chartPage))
	}

	m := regexp.MustCompile(`href="(/ui/values/team/hostile\?version=[^"]+)"`).FindStringSubmatch(chartPage)
	if m == nil {
		t.Fatal("no download link of values.yaml")
	}
	status, h, body := b.get(strings.ReplaceAll(m[1], "&amp;", "&"))
	if status != http.StatusOK || len(body) != valuesSize || h.Get("Content-Type") != "text/plain; charset=utf-8" ||
		!strings.HasPrefix(h.Get("Content-Disposition"), "attachment") || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("values.yaml download: %d, %d bytes (want %d), %v", status, len(body), valuesSize, h)
	}
}

// The chart page of an ordinary chart: README, highlighted values, schema, dependencies
// (linked when they live here), maintainers, install commands (with --verify when the .prov
// is valid), the versions table; charts pushed over OCI are listed as those uploaded.
func TestChartPage(t *testing.T) {
	e := newEnv(t, true)
	signer := charttest.NewSigner(t, "Chart Signer")
	var kb bytes.Buffer
	if err := signer.Entity.Serialize(&kb); err != nil {
		t.Fatal(err)
	}
	if _, err := e.DB.AddTrustedKeys(context.Background(), []meta.TrustedKey{{Namespace: "team", Kind: meta.KeyGPG,
		Fingerprint: provenance.Fingerprint(signer.Entity), Data: kb.Bytes()}}, nil); err != nil {
		t.Fatal(err)
	}
	e.publish(t, "team", charttest.Archive(t, "base", "0.1.0", "x"))
	mk := func(version string) []byte {
		return charttest.Tgz(t,
			charttest.Entry{Name: "web/Chart.yaml", Body: "apiVersion: v2\nname: web\nversion: " + version + "\nappVersion: \"2.4\"\ndescription: A web server\n" +
				"keywords: [http, nginx]\nmaintainers:\n  - name: Jane Doe\n    url: https://jane.example\n" +
				"dependencies:\n  - name: base\n    version: 0.1.0\n    repository: oci://" + strings.TrimPrefix(e.srv.URL, "http://") + "/team\n" +
				"  - name: redis\n    version: 1.x\n    repository: https://charts.example.com\n"},
			charttest.Entry{Name: "web/README.md", Body: "# Web\n\nInstall it **now**.\n"},
			charttest.Entry{Name: "web/values.yaml", Body: "replicas: 2\nimage:\n  repository: nginx\n"},
			charttest.Entry{Name: "web/values.schema.json", Body: `{"properties":{"replicas":{"type":"integer","default":2,"description":"How many"},"image":{"type":"object","properties":{"repository":{"type":"string"}}}},"required":["replicas"]}`},
			charttest.Entry{Name: "web/charts/base-0.1.0.tgz", Body: string(charttest.Archive(t, "base", "0.1.0", "x"))},
		)
	}
	v1 := mk("1.0.0")
	e.publish(t, "team", v1)
	v2 := mk("1.1.0")
	if _, err := e.Publish(t, v2, registry.PublishChartRequest{Namespace: "team", Actor: "alice", Prov: signer.Sign(t, v2, "web-1.1.0.tgz")}); err != nil {
		t.Fatal(err)
	}

	b := e.browser(t)
	status, _, page := b.get("/ui/chart/team/web")
	if status != http.StatusOK {
		t.Fatalf("chart page: %d\n%s", status, page)
	}
	assertNoInlineCode(t, "chart page", page)
	host := strings.TrimPrefix(e.srv.URL, "http://")
	for _, want := range []string{
		`<h1 id="chart-title">web <span class="muted">1.1.0</span></h1>`,
		"<h1>Web</h1>", "<strong>now</strong>",
		`class="chroma"`, `<span class="nt">replicas</span>`,
		`<td><code>replicas</code></td><td>integer</td><td><code>2</code></td><td>yes</td><td>How many</td>`,
		`<td><code>image.repository</code></td><td>string</td>`,
		`<a href="/ui/chart/team/base">base</a>`, "https://charts.example.com",
		`<a href="https://jane.example" rel="nofollow noopener">Jane Doe</a>`,
		"helm install web oci://" + host + "/team/web --version 1.1.0 --verify",
		"helm repo add team http://" + host + "/team\nhelm repo update team\nhelm install web team/web --version 1.1.0 --verify",
		"kind: OCIRepository", "url: oci://" + host + "/team/web", "semver: &#34;1.1.0&#34;",
		"kind: HelmRepository", "kind: Application", "repoURL: http://" + host + "/team",
		`data-copy="install-oci"`,
		"provenance: valid", "alice",
		`<a href="/ui/chart/team/web?version=1.0.0">1.0.0</a>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("chart page lacks %q", want)
		}
	}
	if strings.Contains(page, `<a href="/ui/chart/redis`) {
		t.Error("a dependency from another repository is linked")
	}
	// The older, unsigned version: no --verify.
	_, _, old := b.get("/ui/chart/team/web?version=1.0.0")
	if !strings.Contains(old, "helm install web oci://"+host+"/team/web --version 1.0.0\n") && !strings.Contains(old, "--version 1.0.0</code>") {
		t.Error("version 1.0.0: no install command without --verify")
	}
	if strings.Contains(old, "--version 1.0.0 --verify") {
		t.Error("version 1.0.0 is unsigned, yet the command verifies")
	}
	if status, _, _ := b.get("/ui/chart/team/web?version=9.9.9"); status != http.StatusNotFound {
		t.Errorf("unknown version: %d, want 404", status)
	}
	if status, _, _ := b.get("/ui/chart/team/nope"); status != http.StatusNotFound {
		t.Errorf("unknown chart: %d, want 404", status)
	}

	// A chart pushed over OCI is listed and searchable like the uploaded ones.
	ociArchive := charttest.Archive(t, "pushed", "2.0.0", "x", "keywords: [oci-only]")
	cfg := []byte(`{"apiVersion":"v2","name":"pushed","version":"2.0.0","appVersion":"app-2.0.0","description":"Test chart pushed","keywords":["oci-only"]}`)
	if _, err := e.PushChart(t, "team/pushed", "2.0.0", cfg, ociArchive, nil); err != nil {
		t.Fatal(err)
	}
	_, _, list := b.get("/ui/ns/team")
	_, _, found := b.get("/ui/search?q=oci-only")
	if !strings.Contains(list, `href="/ui/chart/team/pushed"`) || !strings.Contains(found, `href="/ui/chart/team/pushed"`) {
		t.Errorf("a chart pushed over OCI is not listed or found:\n%s\n%s", list, found)
	}
}

// A reader sees no quarantined version; a publisher of the namespace does, flagged.
func TestChartPageAccess(t *testing.T) {
	e := newEnv(t, false)
	e.publish(t, "team", charttest.Archive(t, "app", "1.0.0", "x"))
	e.addUser(t, "reader", "reader-password-1", "other", auth.RoleReader)
	r := e.browser(t)
	r.login("reader", "reader-password-1")
	for _, p := range []string{"/ui/chart/team/app", "/ui/values/team/app?version=1.0.0", "/ui/ns/team"} {
		if status, _, body := r.get(p); status != http.StatusNotFound || strings.Contains(body, "app-1.0.0") {
			t.Errorf("reader of another namespace: %s %d, want 404", p, status)
		}
	}
	anon := e.browser(t)
	if status, _, _ := anon.get("/ui/chart/team/app"); status != http.StatusNotFound {
		t.Errorf("anonymous: chart page %d, want 404", status)
	}
}
