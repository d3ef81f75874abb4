package ui_test

import (
	"bytes"
	"context"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/release"
	"github.com/chartroom/chartroom/internal/server/auth"
)

// diffChart is version of chart web with values (and a template that renders them).
func diffChart(t *testing.T, version, values string, extra map[string]string) []byte {
	files := map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: web\nversion: " + version + "\nappVersion: \"1.0\"\n",
		"values.yaml": values,
		"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-web\ndata:\n" +
			"  replicas: {{ .Values.replicas | quote }}\n",
	}
	for k, v := range extra {
		files[k] = v
	}
	return charttest.Files(t, "web", files)
}

// The diff page of two versions with a values change shows each change and the bump it
// requires exactly as `chartroom check` (release.Check) reports them for the same archives.
func TestDiffPageShowsWhatCheckReports(t *testing.T) {
	e := newEnv(t, false)
	v1 := diffChart(t, "1.0.0", "replicas: 1\nimage:\n  repository: nginx\n  tag: \"1.25\"\n", nil)
	v2 := diffChart(t, "1.0.1", "replicas: 2\nimage:\n  repository: nginx\nport: 80\n", map[string]string{
		"templates/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}-web\nspec:\n  ports:\n  - port: {{ .Values.port }}\n",
	})
	e.publish(t, "team", v1)
	e.publish(t, "team", v2)

	load := func(b []byte) *chart.Chart {
		c, err := chart.LoadArchive(bytes.NewReader(b), chart.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	want, err := release.Check(context.Background(), load(v1), load(v2), release.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want.Required != release.Major || want.Verdict != release.VerdictFail {
		t.Fatalf("the test's charts: check reports %s, %s", want.Required, want.Verdict)
	}

	a := e.browser(t)
	a.login("admin", adminPassword)
	status, _, page := a.get("/ui/diff/team/web?from=1.0.0&to=1.0.1")
	if status != http.StatusOK {
		t.Fatalf("%d\n%s", status, page)
	}
	assertNoInlineCode(t, "diff", page)
	text := html.UnescapeString(page)
	for _, s := range []string{
		`id="diff-required">` + want.Required.String() + " bump<",
		`id="diff-bump">a ` + want.Bump.String() + " bump<",
		`id="diff-suggested">` + want.Suggested + "<",
		`<option value="1.0.1">1.0.1</option><option value="1.0.0" selected>`, // from: newest first
		`<option value="1.0.1" selected>1.0.1</option><option value="1.0.0">`, // to
	} {
		if !strings.Contains(text, s) {
			t.Errorf("the page lacks %q", s)
		}
	}
	areas := map[string]bool{}
	for _, c := range want.Changes {
		areas[c.Area] = true
		row := regexp.MustCompile(`(?s)<tr[^>]*>\s*<td><span class="badge[^"]*">` + c.Severity.String() + `</span></td>\s*<td><code>` +
			regexp.QuoteMeta(html.EscapeString(c.Path)) + `</code>[^\n]*</td>\s*<td>` + regexp.QuoteMeta(html.EscapeString(c.Message)))
		if !row.MatchString(page) {
			t.Errorf("the page lacks the change %s (%s)", c, c.Severity)
		}
	}
	for _, area := range []string{release.AreaValues, release.AreaResources} {
		if !areas[area] || !strings.Contains(page, `id="changes-`+area+`"`) {
			t.Errorf("no %s changes reported or shown", area)
		}
	}
	for _, p := range want.Problems {
		if !strings.Contains(text, p.Message) {
			t.Errorf("the page lacks the problem %q", p.Message)
		}
	}

	// The same pair again (cached) says the same; the form without choices compares the
	// two newest versions.
	if _, _, again := a.get("/ui/diff/team/web"); !strings.Contains(again, `id="diff-required">major bump<`) ||
		!strings.Contains(again, `<option value="1.0.1">1.0.1</option><option value="1.0.0" selected>`) ||
		!strings.Contains(again, `<option value="1.0.1" selected>1.0.1</option><option value="1.0.0">`) {
		t.Errorf("the default comparison is not the newest version against the one before:\n%s", again)
	}
	// Bad choices say what to do.
	if status, _, body := a.get("/ui/diff/team/web?from=1.0.0&to=9.9.9"); status != http.StatusNotFound || !strings.Contains(body, `id="diff-error"`) {
		t.Errorf("unknown version: %d", status)
	}
	if status, _, body := a.get("/ui/diff/team/web?from=1.0.0&to=1.0.0"); status != http.StatusOK || !strings.Contains(body, "two different versions") {
		t.Errorf("same version: %d", status)
	}
}

// The diff of a namespace the visitor may not read is a missing page.
func TestDiffPageNeedsRead(t *testing.T) {
	e := newEnv(t, false)
	e.publish(t, "team", diffChart(t, "1.0.0", "replicas: 1\n", nil))
	e.publish(t, "team", diffChart(t, "1.1.0", "replicas: 1\nport: 80\n", nil))
	e.addUser(t, "other", "other-password-1", "elsewhere", auth.RoleReader)
	e.addUser(t, "reader", "reader-password-1", "team", auth.RoleReader)
	for who, want := range map[string]int{"": http.StatusNotFound, "other": http.StatusNotFound, "reader": http.StatusOK} {
		b := e.browser(t)
		if who != "" {
			b.login(who, who+"-password-1")
		}
		status, _, body := b.get("/ui/diff/team/web?from=1.0.0&to=1.1.0")
		if status != want {
			t.Errorf("%q: %d, want %d", who, status, want)
		}
		if want == http.StatusOK && !strings.Contains(body, `id="diff-required">minor bump<`) {
			t.Errorf("%q: an added value is not a minor change:\n%s", who, body)
		}
	}
}
