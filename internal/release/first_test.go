package release

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/chartroom/chartroom/internal/chart"
)

// A first release is checked by the rules of the chart alone.
func TestCheckFirstRelease(t *testing.T) {
	for _, tc := range []struct {
		name           string
		files          map[string]string
		strict         bool
		verdict, rule  string
		suggested      string
		problemsWanted int
	}{
		{"clean", map[string]string{"values.yaml": "image:\n  tag: \"\"\n"}, false, VerdictOK, "", "1.0.0", 0},
		{"prerelease", map[string]string{"Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0-rc.1\n"}, false, VerdictOK, "", "0.1.0-rc.1", 0},
		{"not semver", map[string]string{"Chart.yaml": "apiVersion: v2\nname: web\nversion: v1.2\n"}, false, VerdictFail, RuleVersionNotSemVer, "1.2.0", 1},
		{"not a version", map[string]string{"Chart.yaml": "apiVersion: v2\nname: web\nversion: latest\n"}, false, VerdictFail, RuleVersionNotSemVer, "0.1.0", 1},
		{"tag differs", map[string]string{"values.yaml": "image:\n  tag: \"2.0.0\"\n"}, false, VerdictWarn, RuleAppVersionTagMismatch, "1.0.0", 1},
		{"tag differs, strict", map[string]string{"values.yaml": "image:\n  tag: \"2.0.0\"\n"}, true, VerdictFail, RuleAppVersionTagMismatch, "1.0.0", 1},
		{"lock out of sync", map[string]string{
			"Chart.yaml": "apiVersion: v2\nname: web\nversion: 1.0.0\ndependencies:\n  - name: db\n    version: 1.x\n    repository: https://charts.example.com\n",
			"Chart.lock": "dependencies:\n  - name: db\n    version: 2.0.0\n    repository: https://charts.example.com\ndigest: sha256:0000\ngenerated: \"2024-01-01T00:00:00Z\"\n",
		}, false, VerdictFail, RuleLockOutOfSync, "1.0.0", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "web")
			files := map[string]string{"Chart.yaml": "apiVersion: v2\nname: web\nversion: 1.0.0\nappVersion: \"1.0.0\"\n", "values.yaml": "replicas: 1\n"}
			for k, v := range tc.files {
				files[k] = v
			}
			for name, body := range files {
				if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cur, err := LoadChartDir(context.Background(), dir, chart.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := CheckFirstRelease(cur, Options{Strict: tc.strict}, "oci://host/team/web has no published version")
			if err != nil {
				t.Fatal(err)
			}
			if rep.Verdict != tc.verdict || rep.Suggested != tc.suggested || len(rep.Problems) != tc.problemsWanted || !rep.FirstRelease ||
				rep.Baseline != "" || len(rep.Changes) != 0 || len(rep.Notes) != 1 {
				t.Fatalf("report: %+v", rep)
			}
			if tc.rule != "" && rep.Problems[0].Rule != tc.rule {
				t.Errorf("rule %s, want %s: %+v", rep.Problems[0].Rule, tc.rule, rep.Problems)
			}
		})
	}
}
