package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// The web UI with JavaScript turned off, used from the keyboard alone: sign in, search, open
// a chart, expand an install snippet, compare two versions with the diff form. Every step is
// a Tab to the element (proving it is reachable in the focus order), then Enter or typing.
func TestWebUIWithoutJavaScriptByKeyboard(t *testing.T) {
	srv := StartServer(t)
	readme := "# Webapp\n\nHello from the README of webapp.\n"
	uiUpload(t, srv, "team", uiChartArchive(t, "webapp", "1.2.0", readme, "replicas: 2\nimage:\n  repository: nginx\n  tag: \"1.25\"\n"))
	uiUpload(t, srv, "team", uiChartArchive(t, "webapp", "1.3.0", readme, "replicas: 3\nimage:\n  repository: nginx\n  tag: \"1.27\"\nresources: {}\n"))
	ub := newUIBrowser(t, srv)
	ctx, cancel := ub.newBrowser()
	defer cancel()
	if err := chromedp.Run(ctx, emulation.SetScriptExecutionDisabled(true)); err != nil {
		t.Fatalf("turn JavaScript off: %v", err)
	}

	// tabTo presses Tab until the focused element matches sel (at most max times).
	tabTo := func(sel string, max int) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			for i := 0; i < max; i++ {
				if err := chromedp.KeyEvent("\t").Do(ctx); err != nil {
					return err
				}
				var n int
				if err := chromedp.Evaluate(fmt.Sprintf(`document.activeElement && document.activeElement.matches(%q) ? 1 : 0`, sel), &n).Do(ctx); err != nil {
					return err
				}
				if n == 1 {
					return nil
				}
			}
			var at string
			_ = chromedp.Evaluate(`document.activeElement ? document.activeElement.outerHTML.slice(0, 120) : ""`, &at).Do(ctx)
			return fmt.Errorf("%s not reached with %d Tab presses (focus on %s)", sel, max, at)
		})
	}
	// until waits for a JavaScript condition on the page, across the navigation a key press
	// started (an evaluation fails while the old page goes away: it is tried again).
	until := func(cond string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var err error
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				var ok bool
				if err = chromedp.Evaluate(cond, &ok).Do(ctx); err == nil && ok {
					return nil
				}
			}
			return fmt.Errorf("waiting for %s: %v", cond, err)
		})
	}
	// follow presses Enter on a link or form control and waits for the page it leads to.
	follow := func(path string) chromedp.Action {
		return chromedp.Tasks{chromedp.KeyEvent("\r"),
			until(fmt.Sprintf(`location.pathname.startsWith(%q) && document.readyState === "complete"`, path))}
	}
	var who, readmeText, required, flux string
	var fluxOpen, copyHidden bool
	err := chromedp.Run(ctx,
		chromedp.Navigate(srv.URL("/ui/login")),
		chromedp.WaitVisible(`#user-name`, chromedp.ByQuery),
		tabTo(`#user-name`, 15),
		chromedp.KeyEvent("admin"),
		tabTo(`#password`, 3),
		chromedp.KeyEvent(srv.Password),
		follow("/ui/"),
		chromedp.WaitVisible(`#user`, chromedp.ByQuery),
		chromedp.Text(`#user`, &who, chromedp.ByQuery),
		ub.shot("nojs-signed-in"),

		tabTo(`#q`, 15),
		chromedp.KeyEvent("webapp"),
		follow("/ui/search"),
		chromedp.WaitVisible(`main a[href="/ui/chart/team/webapp"]`, chromedp.ByQuery),
		ub.shot("nojs-search"),
		tabTo(`main a[href="/ui/chart/team/webapp"]`, 30),
		follow("/ui/chart/team/webapp"),
		chromedp.WaitVisible(`#readme`, chromedp.ByQuery),
		chromedp.Text(`#readme`, &readmeText, chromedp.ByQuery),

		// An install snippet behind a <details> summary opens with Enter (the install column
		// comes after the versions table in the focus order).
		tabTo(`details.install:not([open]) summary`, 80),
		chromedp.KeyEvent("\r"),
		chromedp.Evaluate(`document.activeElement.parentElement.open`, &fluxOpen),
		chromedp.Evaluate(`document.activeElement.parentElement.innerText`, &flux),
		// The copy buttons are the UI's one enhancement by script: they stay hidden.
		chromedp.Evaluate(`document.getElementById("copy-install-oci").hidden`, &copyHidden),
		ub.shot("nojs-chart"),

		// Compare through the versions table's link (the page again, from its top), then send
		// the diff form from the keyboard.
		chromedp.Navigate(srv.URL("/ui/chart/team/webapp")),
		chromedp.WaitVisible(`#readme`, chromedp.ByQuery),
		tabTo(`#versions a.compare`, 80),
		follow("/ui/diff/team/webapp"),
		chromedp.WaitVisible(`#diff-required`, chromedp.ByQuery),
		chromedp.Evaluate(`document.title = "before the form was sent"`, nil),
		tabTo(`main form button, main form input[type=submit]`, 30),
		chromedp.KeyEvent("\r"),
		until(`document.title !== "before the form was sent" && document.readyState === "complete"`),
		chromedp.WaitVisible(`#diff-required`, chromedp.ByQuery),
		chromedp.Text(`#diff-required`, &required, chromedp.ByQuery),
		ub.shot("nojs-diff"),
	)
	if err != nil {
		t.Fatalf("keyboard, no JavaScript: %v\nserver log:\n%s", err, srv.Logs())
	}
	if who != "admin" {
		t.Errorf("signed in as %q", who)
	}
	if !strings.Contains(readmeText, "Hello from the README") {
		t.Errorf("README %q", readmeText)
	}
	if !fluxOpen || !strings.Contains(flux, "kind:") {
		t.Errorf("the install snippet did not open from the keyboard (open %v): %q", fluxOpen, flux)
	}
	if !copyHidden {
		t.Error("a copy button is shown: the page's script ran, so JavaScript was not off")
	}
	if required != "minor bump" {
		t.Errorf("diff requires %q, want minor bump", required)
	}
}
