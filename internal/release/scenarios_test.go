package release_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	yaml3 "go.yaml.in/yaml/v3"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/release"
)

// expectation is a scenario's expect.yaml (written by testdata/gen).
type expectation struct {
	Description string `yaml:"description"`
	Options     struct {
		Strict       bool     `yaml:"strict"`
		ImageTagKeys []string `yaml:"imageTagKeys"`
	} `yaml:"options"`
	Required  string   `yaml:"required"`
	Verdict   string   `yaml:"verdict"`
	Suggested string   `yaml:"suggested"`
	Changes   []string `yaml:"changes"`
	Problems  []string `yaml:"problems"`
}

// split reads "word word [word] | message substring".
func split(s string) (fields []string, msg string) {
	head, msg, _ := strings.Cut(s, " | ")
	return strings.Fields(head), msg
}

// TestScenarios runs the corpus in testdata/scenarios: every change and
// every problem must be exactly the expected ones.
func TestScenarios(t *testing.T) {
	dirs, err := filepath.Glob("testdata/scenarios/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 25 {
		t.Fatalf("only %d scenarios; run go run ./internal/release/testdata/gen", len(dirs))
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(filepath.Join(dir, "expect.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			var want expectation
			if err := yaml3.Unmarshal(data, &want); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			base, err := chart.LoadDir(ctx, filepath.Join(dir, "base"), chart.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			cur, err := release.LoadChartDir(ctx, filepath.Join(dir, "changed"), chart.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := release.Check(ctx, base, cur, release.Options{Strict: want.Options.Strict, ImageTagKeys: want.Options.ImageTagKeys})
			if err != nil {
				t.Fatal(err)
			}
			var text strings.Builder
			_ = rep.WriteText(&text)
			defer func() {
				if t.Failed() {
					t.Logf("%s\nreport:\n%s", want.Description, text.String())
				}
			}()
			if got := rep.Required.String(); got != want.Required {
				t.Errorf("required %s, want %s", got, want.Required)
			}
			if rep.Verdict != want.Verdict {
				t.Errorf("verdict %s, want %s", rep.Verdict, want.Verdict)
			}
			if rep.Suggested != want.Suggested {
				t.Errorf("suggested %s, want %s", rep.Suggested, want.Suggested)
			}

			used := make([]bool, len(rep.Changes))
			for _, w := range want.Changes {
				f, msg := split(w)
				path := ""
				if len(f) > 2 {
					path = f[2]
				}
				found := false
				for i, c := range rep.Changes {
					if !used[i] && c.Severity.String() == f[0] && c.Area == f[1] && c.Path == path && strings.Contains(c.Message, msg) {
						used[i], found = true, true
						break
					}
				}
				if !found {
					t.Errorf("missing change %q", w)
				}
			}
			for i, c := range rep.Changes {
				if !used[i] {
					t.Errorf("unexpected change: %s %s", c.Severity, c)
				}
			}

			usedP := make([]bool, len(rep.Problems))
			for _, w := range want.Problems {
				f, msg := split(w)
				found := false
				for i, p := range rep.Problems {
					if !usedP[i] && p.Level == f[0] && p.Rule == f[1] && strings.Contains(p.Message, msg) {
						usedP[i], found = true, true
						break
					}
				}
				if !found {
					t.Errorf("missing problem %q", w)
				}
			}
			for i, p := range rep.Problems {
				if !usedP[i] {
					t.Errorf("unexpected problem: %s %s: %s", p.Level, p.Rule, p.Message)
				}
			}
		})
	}
}
