package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The web UI in a real headless Chromium, against the real binary: sign in, search, open a
// chart, read its README, copy an install command, and a reader sees no admin link or page.
// A screenshot of each page is saved under $CHARTROOM_UI_SCREENSHOTS (or the test's
// temporary directory, logged).

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

// uiChartArchive makes a chart archive with a README.
func uiChartArchive(t *testing.T, name, version, readme string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	files := []struct{ name, body string }{
		{"Chart.yaml", "apiVersion: v2\nname: " + name + "\nversion: " + version + "\nappVersion: \"3.2\"\ndescription: A chart for the browser test\nkeywords: [browser, demo]\n"},
		{"README.md", readme},
		{"values.yaml", "replicas: 2\nimage:\n  repository: nginx\n  tag: stable\n"},
		{"templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"},
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name + "/" + f.name, Mode: 0o644, Size: int64(len(f.body)), ModTime: time.Unix(1700000000, 0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
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

func TestWebUIInBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	srv := StartServer(t)
	dd := []string{"--data-dir", srv.DataDir}
	chartroomIn(t, "reader-password-1\n", append([]string{"user", "add", "reader", "--password-stdin"}, dd...)...)
	chartroomIn(t, "", append([]string{"grant", "reader", "team", "reader"}, dd...)...)

	req, _ := http.NewRequest(http.MethodPost, srv.URL("/api/team/charts"),
		bytes.NewReader(uiChartArchive(t, "webapp", "1.2.0", "# Webapp\n\nHello from the README of webapp.\n\n- fast\n- small\n")))
	req.SetBasicAuth("admin", srv.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("publish webapp: %d", resp.StatusCode)
	}

	shots := os.Getenv("CHARTROOM_UI_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 1000))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()

	// newBrowser is a fresh browser context (its own cookies), with the clipboard allowed.
	newBrowser := func() (context.Context, context.CancelFunc) {
		ctx, cancel := chromedp.NewContext(allocCtx)
		ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
		if err := chromedp.Run(ctx, browser.GrantPermissions([]browser.PermissionType{
			browser.PermissionTypeClipboardReadWrite, browser.PermissionTypeClipboardSanitizedWrite,
		}).WithOrigin(srv.URL(""))); err != nil {
			cancelTimeout()
			cancel()
			t.Fatalf("start chromium: %v", err)
		}
		return ctx, func() { cancelTimeout(); cancel() }
	}
	shot := func(ctx context.Context, name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var png []byte
			if err := chromedp.FullScreenshot(&png, 100).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	login := func(ctx context.Context, user, password, name string) []chromedp.Action {
		return []chromedp.Action{
			chromedp.Navigate(srv.URL("/ui/login")),
			chromedp.WaitVisible(`#user-name`, chromedp.ByQuery),
			chromedp.SendKeys(`#user-name`, user, chromedp.ByQuery),
			chromedp.SendKeys(`#password`, password, chromedp.ByQuery),
			shot(ctx, name+"-login"),
			chromedp.Click(`#signin-submit`, chromedp.ByQuery),
			chromedp.WaitVisible(`#user`, chromedp.ByQuery),
		}
	}

	// The admin: sign in, search, open the chart, read its README, copy the install command.
	ctx, cancel := newBrowser()
	defer cancel()
	var who, readme, feedback, clip, title string
	steps := login(ctx, "admin", srv.Password, "admin")
	steps = append(steps,
		chromedp.Text(`#user`, &who, chromedp.ByQuery),
		shot(ctx, "namespaces"),
		chromedp.SendKeys(`#q`, "webapp\n", chromedp.ByQuery),
		chromedp.WaitVisible(`a[href="/ui/chart/team/webapp"]`, chromedp.ByQuery),
		shot(ctx, "search"),
		chromedp.Click(`a[href="/ui/chart/team/webapp"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#readme`, chromedp.ByQuery),
		chromedp.Text(`#readme`, &readme, chromedp.ByQuery),
		chromedp.Title(&title),
		shot(ctx, "chart"),
		chromedp.WaitVisible(`#copy-install-oci`, chromedp.ByQuery),
		chromedp.Click(`#copy-install-oci`, chromedp.ByQuery),
		chromedp.Poll(`document.getElementById("copy-install-oci").textContent !== "Copy"`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Text(`#copy-install-oci`, &feedback, chromedp.ByQuery),
		shot(ctx, "copied"),
	)
	if err := chromedp.Run(ctx, steps...); err != nil {
		t.Fatalf("admin in the browser: %v\nserver log:\n%s", err, srv.Logs())
	}
	if who != "admin" {
		t.Errorf("signed in as %q, want admin", who)
	}
	if !strings.Contains(readme, "Hello from the README of webapp.") {
		t.Errorf("README text %q", readme)
	}
	if !strings.HasPrefix(title, "webapp 1.2.0") {
		t.Errorf("chart page title %q", title)
	}
	if feedback != "Copied" {
		t.Errorf("copy button says %q, want Copied", feedback)
	}
	want := "helm install webapp oci://" + srv.Host() + "/team/webapp --version 1.2.0"
	if err := chromedp.Run(ctx, chromedp.Evaluate(`navigator.clipboard.readText()`, &clip, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	})); err != nil {
		t.Errorf("read the clipboard: %v", err)
	} else if strings.TrimSpace(clip) != want {
		t.Errorf("clipboard %q, want %q", clip, want)
	}

	// A reader: no admin link, and the admin page is not theirs.
	rctx, rcancel := newBrowser()
	defer rcancel()
	var adminLinks int
	var adminTitle string
	rsteps := login(rctx, "reader", "reader-password-1", "reader")
	rsteps = append(rsteps,
		chromedp.Evaluate(`document.querySelectorAll('a[href^="/ui/admin"]').length`, &adminLinks),
		shot(rctx, "reader-namespaces"),
		chromedp.Navigate(srv.URL("/ui/admin/")),
		chromedp.WaitVisible(`main h1`, chromedp.ByQuery),
		chromedp.Title(&adminTitle),
		shot(rctx, "reader-admin"),
	)
	if err := chromedp.Run(rctx, rsteps...); err != nil {
		t.Fatalf("reader in the browser: %v", err)
	}
	if adminLinks != 0 {
		t.Errorf("the reader's page has %d admin links", adminLinks)
	}
	if !strings.HasPrefix(adminTitle, "Forbidden") && !strings.HasPrefix(adminTitle, "Not Found") {
		t.Errorf("the reader opened /ui/admin/: page %q, want Forbidden or Not Found", adminTitle)
	}
	entries, _ := os.ReadDir(shots)
	if len(entries) < 7 {
		t.Errorf("%d screenshots in %s, want one per page", len(entries), shots)
	}
}
