package release_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/release"
)

func check(t *testing.T, base, cur *chart.Chart) *release.Report {
	t.Helper()
	rep, err := release.Check(context.Background(), base, cur, release.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func loadDir(t *testing.T, dir string) *chart.Chart {
	t.Helper()
	ch, err := release.LoadChartDir(context.Background(), dir, chart.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// TestArchiveBaselineIsIdentical: a chart compared with its own package
// has no change, even though packaging may rewrite Chart.yaml/Chart.lock.
func TestArchiveBaselineIsIdentical(t *testing.T) {
	for _, dir := range []string{"testdata/scenarios/01-identical/base", "testdata/scenarios/33-dependency-major-raised/base"} {
		t.Run(dir, func(t *testing.T) {
			tmp := t.TempDir()
			tgz, _, err := chart.PackageToDir(context.Background(), dir, tmp, chart.PackageOptions{})
			if err != nil {
				t.Fatal(err)
			}
			archives := []string{tgz}
			if helm := helmBinary(); helm != "" {
				out := filepath.Join(tmp, "helm")
				if b, err := exec.Command(helm, "package", dir, "-d", out).CombinedOutput(); err != nil {
					t.Fatalf("helm package: %v\n%s", err, b)
				}
				m, _ := filepath.Glob(filepath.Join(out, "*.tgz"))
				archives = append(archives, m...)
			}
			for _, a := range archives {
				base, err := release.LoadArchiveFile(context.Background(), a, chart.Limits{})
				if err != nil {
					t.Fatal(err)
				}
				rep := check(t, base, loadDir(t, dir))
				if rep.Required != release.None || rep.Verdict != release.VerdictOK || len(rep.Changes) != 0 {
					var b bytes.Buffer
					_ = rep.WriteText(&b)
					t.Errorf("%s: want no change, got\n%s", a, b.String())
				}
			}
		})
	}
}

func gitRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestGitRevisionBaseline(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	repo := t.TempDir()
	gitRun(t, repo, "init", "-q")
	chartDir := filepath.Join(repo, "charts", "webapp")
	scen := "testdata/scenarios/23-resource-removed-by-if-default-flip"
	if err := os.CopyFS(chartDir, os.DirFS(filepath.Join(scen, "base"))); err != nil {
		t.Fatal(err)
	}
	// export-subst and export-ignore must not change what is compared.
	if err := os.WriteFile(filepath.Join(repo, ".gitattributes"), []byte("*.yaml export-subst\n*.txt export-ignore\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitRun(t, repo, "add", "-A")
	gitRun(t, repo, "commit", "-q", "-m", "webapp 1.4.2")
	gitRun(t, repo, "tag", "webapp-1.4.2")

	// Work in progress: the changed chart, not committed.
	if err := os.RemoveAll(chartDir); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(chartDir, os.DirFS(filepath.Join(scen, "changed"))); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sha := strings.TrimSpace(gitRun(t, repo, "rev-parse", "HEAD"))
	for _, rev := range []string{"webapp-1.4.2", "HEAD", sha} {
		base, err := release.LoadGitRevision(ctx, chartDir, rev, chart.Limits{})
		if err != nil {
			t.Fatalf("%s: %v", rev, err)
		}
		rep := check(t, base, loadDir(t, chartDir))
		if rep.Baseline != "1.4.2" || rep.Required != release.Major || rep.Verdict != release.VerdictFail {
			t.Errorf("%s: baseline %s required %s verdict %s", rev, rep.Baseline, rep.Required, rep.Verdict)
		}
		if len(rep.Changes) != 2 {
			t.Errorf("%s: changes %v", rev, rep.Changes)
		}
	}
	if _, err := release.LoadGitRevision(ctx, chartDir, "no-such-tag", chart.Limits{}); !errors.Is(err, release.ErrNotGitRevision) {
		t.Errorf("unknown revision: %v", err)
	}
	other := filepath.Join(repo, "charts", "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := release.LoadGitRevision(ctx, other, "HEAD", chart.Limits{}); err == nil || !strings.Contains(err.Error(), "did not exist") {
		t.Errorf("chart absent at the revision: %v", err)
	}
	if _, err := release.LoadGitRevision(ctx, t.TempDir(), "HEAD", chart.Limits{}); !errors.Is(err, release.ErrNotGitRevision) {
		t.Errorf("outside a work tree: %v", err)
	}
}

// helmBinary is the pinned helm v3: $CHARTROOM_HELM3, else the one `make
// tools` listed in bin/tools.env; "" if neither.
func helmBinary() string {
	if h := os.Getenv("CHARTROOM_HELM3"); h != "" {
		return h
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "bin", "tools.env"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if h, ok := strings.CutPrefix(line, "CHARTROOM_HELM3="); ok {
			if _, err := os.Stat(h); err == nil {
				return h
			}
		}
	}
	return ""
}
