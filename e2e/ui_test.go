package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The web UI in a real headless Chromium, against the real binary. A screenshot of each page
// visited is saved under $CHARTROOM_UI_SCREENSHOTS/<test name> (or the test's temporary
// directory, logged).

// chromiumPath finds the browser: Debian's chromium package (which .ci/run installs).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	missing(t, "no chromium binary found (/usr/bin/chromium, chromium, chromium-browser, google-chrome): install Debian's chromium package to run the web UI browser test")
	return ""
}

// uiArchive makes a chart archive of files (paths under the chart's directory root).
func uiArchive(t *testing.T, root string, files [][2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: root + "/" + f[0], Mode: 0o644, Size: int64(len(f[1])), ModTime: time.Unix(1700000000, 0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// uiChartArchive makes version of chart name with a README, values and a Deployment that
// runs nginx at the values' tag, with a migration image declared in artifacthub.io/images.
func uiChartArchive(t *testing.T, name, version, readme, values string) []byte {
	t.Helper()
	return uiArchive(t, name, [][2]string{
		{"Chart.yaml", "apiVersion: v2\nname: " + name + "\nversion: " + version + "\nappVersion: \"3.2\"\ndescription: A chart for the browser test\nkeywords: [browser, demo]\n" +
			"annotations:\n  artifacthub.io/images: |\n    - name: migrate\n      image: busybox:1.36\n      platforms: [linux/amd64]\n"},
		{"README.md", readme},
		{"values.yaml", values},
		{"templates/deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  replicas: {{ .Values.replicas }}\n" +
			"  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - name: web\n" +
			"        image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n"},
	})
}

// uiUpload publishes archive to namespace ns over /api as admin.
func uiUpload(t *testing.T, srv *Server, ns string, archive []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL("/api/"+ns+"/charts"), bytes.NewReader(archive))
	req.SetBasicAuth("admin", srv.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("publish to %s: %d %s", ns, resp.StatusCode, body)
	}
}

// uiBrowser starts headless Chromium for srv: newBrowser gives a fresh browser context (its
// own cookies, the clipboard allowed), shot saves a screenshot, login signs in.
type uiBrowser struct {
	t     *testing.T
	srv   *Server
	shots string
	alloc context.Context
}

func newUIBrowser(t *testing.T, srv *Server) *uiBrowser {
	chromium := chromiumPath(t)
	shots := os.Getenv("CHARTROOM_UI_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else {
		shots = filepath.Join(shots, t.Name())
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 1000))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	return &uiBrowser{t: t, srv: srv, shots: shots, alloc: allocCtx}
}

func (b *uiBrowser) newBrowser() (context.Context, context.CancelFunc) {
	ctx, cancel := chromedp.NewContext(b.alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 120*time.Second)
	if err := chromedp.Run(ctx, browser.GrantPermissions([]browser.PermissionType{
		browser.PermissionTypeClipboardReadWrite, browser.PermissionTypeClipboardSanitizedWrite,
	}).WithOrigin(b.srv.URL(""))); err != nil {
		cancelTimeout()
		cancel()
		b.t.Fatalf("start chromium: %v", err)
	}
	return ctx, func() { cancelTimeout(); cancel() }
}

func (b *uiBrowser) shot(name string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var png []byte
		if err := chromedp.FullScreenshot(&png, 100).Do(ctx); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644)
	})
}

func (b *uiBrowser) login(user, password, name string) []chromedp.Action {
	return []chromedp.Action{
		chromedp.Navigate(b.srv.URL("/ui/login")),
		chromedp.WaitVisible(`#user-name`, chromedp.ByQuery),
		chromedp.SendKeys(`#user-name`, user, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, password, chromedp.ByQuery),
		b.shot(name + "-login"),
		chromedp.Click(`#signin-submit`, chromedp.ByQuery),
		chromedp.WaitVisible(`#user`, chromedp.ByQuery),
	}
}

// The admin signs in, searches, opens the chart, reads its README and images, copies an
// install command, compares the two versions through the versions table's link (the values
// change and the bump it requires), and opens every admin page; a reader sees no admin link
// and /ui/admin/ is not found.
func TestWebUIInBrowser(t *testing.T) {
	srv := StartServer(t)
	dd := []string{"--data-dir", srv.DataDir}
	chartroomIn(t, "reader-password-1\n", append([]string{"user", "add", "reader", "--password-stdin"}, dd...)...)
	chartroomIn(t, "", append([]string{"grant", "reader", "team", "reader"}, dd...)...)
	readme := "# Webapp\n\nHello from the README of webapp.\n\n- fast\n- small\n"
	// 1.3.0 changes a default (replicas) and adds a values key (resources): a minor bump.
	uiUpload(t, srv, "team", uiChartArchive(t, "webapp", "1.2.0", readme, "replicas: 2\nimage:\n  repository: nginx\n  tag: \"1.25\"\n"))
	uiUpload(t, srv, "team", uiChartArchive(t, "webapp", "1.3.0", readme, "replicas: 3\nimage:\n  repository: nginx\n  tag: \"1.27\"\nresources: {}\n"))
	ub := newUIBrowser(t, srv)

	ctx, cancel := ub.newBrowser()
	defer cancel()
	var who, readmeText, images, feedback, clip, title, required, valuesChanges, diffTitle string
	steps := ub.login("admin", srv.Password, "admin")
	steps = append(steps,
		chromedp.Text(`#user`, &who, chromedp.ByQuery),
		ub.shot("namespaces"),
		chromedp.SendKeys(`#q`, "webapp\n", chromedp.ByQuery),
		chromedp.WaitVisible(`a[href="/ui/chart/team/webapp"]`, chromedp.ByQuery),
		ub.shot("search"),
		chromedp.Click(`a[href="/ui/chart/team/webapp"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#readme`, chromedp.ByQuery),
		chromedp.Text(`#readme`, &readmeText, chromedp.ByQuery),
		chromedp.Title(&title),
		chromedp.ScrollIntoView(`#images`, chromedp.ByQuery),
		chromedp.Text(`#images`, &images, chromedp.ByQuery),
		ub.shot("chart"),
		chromedp.WaitVisible(`#copy-install-oci`, chromedp.ByQuery),
		chromedp.Click(`#copy-install-oci`, chromedp.ByQuery),
		chromedp.Poll(`document.getElementById("copy-install-oci").textContent !== "Copy"`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Text(`#copy-install-oci`, &feedback, chromedp.ByQuery),
		ub.shot("copied"),
	)
	if err := chromedp.Run(ctx, steps...); err != nil {
		t.Fatalf("admin in the browser: %v\nserver log:\n%s", err, srv.Logs())
	}
	if who != "admin" {
		t.Errorf("signed in as %q, want admin", who)
	}
	if !strings.Contains(readmeText, "Hello from the README of webapp.") {
		t.Errorf("README text %q", readmeText)
	}
	if !strings.HasPrefix(title, "webapp 1.3.0") {
		t.Errorf("chart page title %q", title)
	}
	for _, want := range []string{"nginx:1.27", "web", "busybox:1.36", "migrate", "linux/amd64"} {
		if !strings.Contains(images, want) {
			t.Errorf("images section %q lacks %q", images, want)
		}
	}
	if feedback != "Copied" {
		t.Errorf("copy button says %q, want Copied", feedback)
	}
	want := "helm install webapp oci://" + srv.Host() + "/team/webapp --version 1.3.0"
	if err := chromedp.Run(ctx, chromedp.Evaluate(`navigator.clipboard.readText()`, &clip, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	})); err != nil {
		t.Errorf("read the clipboard: %v", err)
	} else if strings.TrimSpace(clip) != want {
		t.Errorf("clipboard %q, want %q", clip, want)
	}

	// Compare 1.3.0 with 1.2.0 through the versions table's link.
	if err := chromedp.Run(ctx,
		chromedp.ScrollIntoView(`#versions a.compare`, chromedp.ByQuery),
		chromedp.Click(`#versions a.compare`, chromedp.ByQuery),
		chromedp.WaitVisible(`#diff-required`, chromedp.ByQuery),
		chromedp.Title(&diffTitle),
		chromedp.Text(`#diff-required`, &required, chromedp.ByQuery),
		chromedp.Text(`#changes-values + table`, &valuesChanges, chromedp.ByQuery),
		ub.shot("diff"),
	); err != nil {
		t.Fatalf("compare the versions: %v\nserver log:\n%s", err, srv.Logs())
	}
	if !strings.Contains(diffTitle, "webapp") {
		t.Errorf("diff page title %q", diffTitle)
	}
	if required != "minor bump" {
		t.Errorf("the diff requires %q, want minor bump", required)
	}
	for _, w := range []string{"replicas", "resources", "image.tag"} {
		if !strings.Contains(valuesChanges, w) {
			t.Errorf("the values changes %q lack %q", valuesChanges, w)
		}
	}

	// Every admin page, through the admin link and the admin home's links.
	adminPages := []struct{ path, h1, has string }{
		{"/ui/admin/users", "Users", "reader"},
		{"/ui/admin/tokens", "API tokens", ""},
		{"/ui/admin/grants", "Grants", "reader"},
		{"/ui/admin/policies", "Namespace policies", "team"},
		{"/ui/admin/audit", "Audit log", "chart"},
		{"/ui/admin/storage", "Storage usage", "team"},
	}
	var adminH1 string
	if err := chromedp.Run(ctx,
		chromedp.Click(`header a[href="/ui/admin/"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`main h1`, chromedp.ByQuery),
		chromedp.Text(`main h1`, &adminH1, chromedp.ByQuery),
		ub.shot("admin"),
	); err != nil {
		t.Fatalf("open the admin home: %v", err)
	}
	if !strings.HasPrefix(adminH1, "Admin") {
		t.Errorf("admin home h1 %q", adminH1)
	}
	for _, p := range adminPages {
		var h1, text string
		name := strings.TrimPrefix(p.path, "/ui/admin/")
		if err := chromedp.Run(ctx,
			chromedp.Navigate(ub.srv.URL("/ui/admin/")),
			chromedp.WaitVisible(`main a[href="`+p.path+`"]`, chromedp.ByQuery),
			chromedp.Click(`main a[href="`+p.path+`"]`, chromedp.ByQuery),
			chromedp.WaitVisible(`main h1`, chromedp.ByQuery),
			chromedp.Text(`main h1`, &h1, chromedp.ByQuery),
			chromedp.Text(`main`, &text, chromedp.ByQuery),
			ub.shot("admin-"+name),
		); err != nil {
			t.Fatalf("admin page %s: %v", p.path, err)
		}
		if !strings.HasPrefix(h1, p.h1) || !strings.Contains(text, p.has) {
			t.Errorf("admin page %s: h1 %q (want %q), text has %q: %v", p.path, h1, p.h1, p.has, strings.Contains(text, p.has))
		}
	}

	// A reader: no admin link, and the admin page is not theirs.
	rctx, rcancel := ub.newBrowser()
	defer rcancel()
	var adminLinks int
	var adminTitle string
	rsteps := ub.login("reader", "reader-password-1", "reader")
	rsteps = append(rsteps,
		chromedp.Evaluate(`document.querySelectorAll('a[href^="/ui/admin"]').length`, &adminLinks),
		ub.shot("reader-namespaces"),
		chromedp.Navigate(srv.URL("/ui/admin/")),
		chromedp.WaitVisible(`main h1`, chromedp.ByQuery),
		chromedp.Title(&adminTitle),
		ub.shot("reader-admin"),
	)
	if err := chromedp.Run(rctx, rsteps...); err != nil {
		t.Fatalf("reader in the browser: %v", err)
	}
	if adminLinks != 0 {
		t.Errorf("the reader's page has %d admin links", adminLinks)
	}
	if !strings.HasPrefix(adminTitle, "Not Found") {
		t.Errorf("the reader opened /ui/admin/: page %q, want Not Found", adminTitle)
	}
	entries, _ := os.ReadDir(ub.shots)
	if len(entries) < 16 {
		t.Errorf("%d screenshots in %s, want one per page visited", len(entries), ub.shots)
	}
}

// A hostile chart (README with <script>, <img onerror>, javascript: links; HTML in its
// description; a 5 MiB values.yaml) opened in the browser: the page loads, no script of the
// chart runs (each would set window.pwned or document.title) and no dialog opens.
func TestWebUIHostileChartInBrowser(t *testing.T) {
	srv := StartServer(t)
	readme := "# Hostile chart\n\n" +
		"<script>window.pwned = 'readme-script'; document.title = 'pwned'; alert('readme')</script>\n\n" +
		"<img src=\"x\" onerror=\"window.pwned = 'img'; document.title = 'pwned'; alert('img')\">\n\n" +
		"[click me](javascript:window.pwned='link';alert('link'))\n\n" +
		"[encoded](JaVaScRiPt:alert('link2'))\n\n" +
		"<a id=\"raw\" href=\"javascript:window.pwned='raw'\">raw link</a>\n\n" +
		"<div onmouseover=\"window.pwned='div'\">hover</div>\n\n" +
		"<iframe src=\"javascript:parent.pwned='iframe'\"></iframe>\n\n" +
		"Plain text that stays.\n"
	line := "key: \"<script>window.pwned='values'</script> <img src=x onerror=window.pwned='values-img'>\"\n"
	var values strings.Builder
	for i := 0; values.Len()+len(line)+16 < 5<<20-4096; i++ {
		fmt.Fprintf(&values, "k%08d%s", i, line[3:])
	}
	uiUpload(t, srv, "team", uiArchive(t, "hostile", [][2]string{
		{"Chart.yaml", "apiVersion: v2\nname: hostile\nversion: 1.0.0\n" +
			"description: \"<script>window.pwned='desc'</script> & <img src=x onerror=\\\"window.pwned='desc-img'\\\"> \\\"quoted\\\"\"\n" +
			"home: \"javascript:window.pwned='home'\"\n"},
		{"README.md", readme},
		{"values.yaml", values.String()},
		{"templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"},
	}))
	ub := newUIBrowser(t, srv)
	ctx, cancel := ub.newBrowser()
	defer cancel()
	var dialogs atomic.Int32
	chromedp.ListenTarget(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			dialogs.Add(1)
			go func() { _ = chromedp.Run(ctx, page.HandleJavaScriptDialog(false)) }()
		}
	})
	var title, desc, readmeText, pwned string
	var jsLinks, scripts int
	steps := ub.login("admin", srv.Password, "admin")
	steps = append(steps,
		chromedp.Navigate(srv.URL("/ui/chart/team/hostile")),
		chromedp.WaitVisible(`#readme`, chromedp.ByQuery),
		chromedp.WaitVisible(`#values`, chromedp.ByQuery),
		// Give any handler a chance: hover over every element, load the images.
		chromedp.Evaluate(`document.querySelectorAll('#readme *').forEach(e => e.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}))); true`, nil),
		chromedp.Poll(`document.readyState === "complete"`, nil, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Title(&title),
		chromedp.Text(`#chart-description`, &desc, chromedp.ByQuery),
		chromedp.Text(`#readme`, &readmeText, chromedp.ByQuery),
		chromedp.Evaluate(`String(window.pwned)`, &pwned),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('[href],[src]')).filter(e => /^\s*(javascript|data|vbscript):/i.test(e.getAttribute('href') || e.getAttribute('src') || '')).length`, &jsLinks),
		chromedp.Evaluate(`Array.from(document.scripts).filter(s => !s.src).length`, &scripts),
		ub.shot("hostile-chart"),
	)
	if err := chromedp.Run(ctx, steps...); err != nil {
		t.Fatalf("hostile chart in the browser: %v\nserver log:\n%s", err, srv.Logs())
	}
	if !strings.HasPrefix(title, "hostile 1.0.0") {
		t.Errorf("title %q: want the page's own (a script of the chart ran?)", title)
	}
	if pwned != "undefined" {
		t.Errorf("a script of the chart ran: window.pwned = %q", pwned)
	}
	if n := dialogs.Load(); n != 0 {
		t.Errorf("%d dialogs opened", n)
	}
	if !strings.Contains(desc, "<script>window.pwned='desc'</script>") {
		t.Errorf("the description is not shown as text: %q", desc)
	}
	if !strings.Contains(readmeText, "Plain text that stays.") {
		t.Errorf("README text %q", readmeText)
	}
	if jsLinks != 0 || scripts != 0 {
		t.Errorf("%d javascript:/data: URLs and %d inline scripts in the page", jsLinks, scripts)
	}
	// Clicking what is left of the links runs nothing either.
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelectorAll('#readme a').forEach(a => { if (!/^https?:/.test(a.href)) a.click() }); String(window.pwned)`, &pwned)); err != nil {
		t.Fatal(err)
	}
	if pwned != "undefined" {
		t.Errorf("a link of the chart ran script: window.pwned = %q", pwned)
	}
}
