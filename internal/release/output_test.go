package release_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/release"
)

func scenarioReport(t *testing.T, name string) *release.Report {
	t.Helper()
	dir := filepath.Join("testdata/scenarios", name)
	base, err := chart.LoadDir(context.Background(), filepath.Join(dir, "base"), chart.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return check(t, base, loadDir(t, filepath.Join(dir, "changed")))
}

func TestJSONSchema(t *testing.T) {
	rep := scenarioReport(t, "05-values-key-removed-patch-bump")
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"changes", "required", "current", "baseline", "suggested", "verdict", "problems"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("JSON lacks %q:\n%s", k, buf.String())
		}
	}
	if doc["required"] != "major" || doc["verdict"] != "fail" || doc["suggested"] != "2.0.0" || doc["current"] != "1.4.3" || doc["baseline"] != "1.4.2" {
		t.Errorf("JSON values:\n%s", buf.String())
	}
	first := doc["changes"].([]any)[0].(map[string]any)
	want := map[string]any{"severity": "major", "area": "values", "path": ".image.repository", "message": "removed", "file": "values.yaml", "line": float64(4)}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("changes[0].%s = %v, want %v", k, first[k], v)
		}
	}
	// An unchanged chart still has [] (not null) lists.
	buf.Reset()
	_ = scenarioReport(t, "01-identical").WriteJSON(&buf)
	if !strings.Contains(buf.String(), `"changes": []`) || !strings.Contains(buf.String(), `"problems": []`) {
		t.Errorf("empty lists:\n%s", buf.String())
	}
}

func TestGitHubAnnotations(t *testing.T) {
	rep := scenarioReport(t, "23-resource-removed-by-if-default-flip")
	var buf bytes.Buffer
	if err := rep.WriteGitHub(&buf, "charts/webapp"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		"::error file=charts/webapp/Chart.yaml,line=5,title=chartroom check%3A bump-too-small::version 1.4.3 is a patch bump over 1.4.2, but the changes require a major bump: bump to 2.0.0%0A  resources: Service/release-name-webapp removed (rendered by templates/service.yaml with default values)",
		"::error file=charts/webapp/templates/service.yaml,title=chartroom check%3A major change::resources: Service/release-name-webapp removed (rendered by templates/service.yaml with default values)",
		"::notice file=charts/webapp/values.yaml,line=12,title=chartroom check%3A patch change::values: .service.enabled default changed from true to false",
	}
	if !slices.Equal(lines[:len(lines)-1], want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(lines[len(lines)-1], "verdict fail") {
		t.Errorf("summary line: %s", lines[len(lines)-1])
	}
}

func TestTextGroupsBySeverity(t *testing.T) {
	var buf bytes.Buffer
	_ = scenarioReport(t, "05-values-key-removed-patch-bump").WriteText(&buf)
	out := buf.String()
	for _, s := range []string{"major (breaking): 2", "values: .image.repository removed  (values.yaml:4)", "patch (fixes and other changes): 2",
		"error: Chart.yaml:5: version 1.4.3 is a patch bump", "required bump: major (smallest valid version: 2.0.0)", "verdict: fail"} {
		if !strings.Contains(out, s) {
			t.Errorf("text lacks %q:\n%s", s, out)
		}
	}
	if strings.Index(out, "major (breaking)") > strings.Index(out, "patch (fixes") {
		t.Errorf("major not first:\n%s", out)
	}
}

// Names and messages from the charts compared (an archive's file names, values keys,
// versions) reach the text and GitHub outputs with control, C1 and bidi characters
// escaped: no line rewritten on a terminal, no workflow command injected in CI. The
// output's own line structure (a too-small bump lists its changes on indented lines,
// GitHub annotations encode them as %0A) is kept.
func TestOutputEscapesForeignText(t *testing.T) {
	const evil = "x\r\x1b[2Kall good\u009b\u202e\n::error file=a::pwned"
	change := release.Change{Severity: release.Major, Area: release.AreaFiles, Path: "files/" + evil, Message: "removed", File: "files/" + evil}
	rep := &release.Report{
		Chart: "webapp", Current: "1.0.1", Baseline: "1.0.0" + evil, Source: "git " + evil, Required: release.Major, Bump: release.Patch,
		Suggested: "2.0.0", Verdict: release.VerdictFail, Changes: []release.Change{change},
		Problems: []release.Problem{
			{Level: release.LevelError, Rule: release.RuleBumpTooSmall, Message: "bump to 2.0.0\n  " + "files: files/x\\r", File: "Chart.yaml", Line: 3},
			{Level: release.LevelWarning, Rule: release.RuleRenderFailed, Message: "render: " + evil, File: "templates/" + evil},
		},
		Notes: []string{"note " + evil},
	}
	var text, gh bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteGitHub(&gh, "charts/"+evil); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"text": text.String(), "github": gh.String()} {
		for _, r := range out {
			if r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r <= 0x9f || r >= 0x202a && r <= 0x202e {
				t.Errorf("%s output holds %U:\n%s", name, r, out)
				break
			}
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "::error file=a") {
				t.Errorf("%s output has an injected workflow command: %q", name, line)
			}
		}
		if !strings.Contains(out, `x\r\x1b[2Kall good\u009b\u202e\n::error file=a::pwned`) {
			t.Errorf("%s output does not show the foreign text escaped:\n%s", name, out)
		}
	}
	if !strings.Contains(text.String(), "bump to 2.0.0\n  files: files/x\\r\n") {
		t.Errorf("the too-small bump's list lost its lines:\n%s", text.String())
	}
	if !strings.Contains(gh.String(), "bump to 2.0.0%0A  files: files/x\\r\n") {
		t.Errorf("the too-small bump's annotation lost its lines:\n%s", gh.String())
	}
	if n := strings.Count("\n"+gh.String(), "\n::"); n != 3 {
		t.Errorf("%d workflow commands, want 3 (2 problems, 1 change):\n%s", n, gh.String())
	}
}
