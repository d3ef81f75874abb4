package release_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/release"
)

// gitObject stores data as a git object (git hash-object -w) and returns its id.
func gitObject(t *testing.T, repo, data string) string {
	t.Helper()
	cmd := exec.Command("git", "-C", repo, "hash-object", "-w", "--stdin")
	cmd.Stdin = strings.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git hash-object: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// gitTree writes a tree of entries "MODE TYPE ID\tNAME" as given (git mktree does not
// check them, as a crafted push would not be checked either) and returns its id.
func gitTree(t *testing.T, repo string, entries ...string) string {
	t.Helper()
	cmd := exec.Command("git", "-C", repo, "mktree")
	cmd.Stdin = strings.NewReader(strings.Join(entries, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git mktree: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// A commit whose tree no git client would write — a symbolic link "a" to any directory
// next to a subtree a/target.txt, or a name listed twice — is refused, and nothing is
// written outside the temporary directory the revision is read into.
func TestGitRevisionBaselineRefusesCraftedTrees(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	repo := t.TempDir()
	gitRun(t, repo, "init", "-q")
	chartDir := filepath.Join(repo, "chart")
	if err := os.MkdirAll(chartDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(chartDir, "Chart.yaml"), []byte("apiVersion: v2\nname: webapp\nversion: 1.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// The victim: a file outside, which the crafted tree names through its link.
	outside := t.TempDir()
	target := filepath.Join(outside, "target.txt")
	if err := os.WriteFile(target, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	chartYAML := gitObject(t, repo, "apiVersion: v2\nname: webapp\nversion: 1.0.0\n")
	values := gitObject(t, repo, "replicas: 1\n")
	commit := func(chartTree string) string {
		root := gitTree(t, repo, "040000 tree "+chartTree+"\tchart")
		return strings.TrimSpace(gitRun(t, repo, "commit-tree", root, "-m", "crafted"))
	}
	for _, tc := range []struct {
		name string
		tree []string
		want string
	}{
		{"link with a subtree below it", []string{
			"100644 blob " + chartYAML + "\tChart.yaml",
			"120000 blob " + gitObject(t, repo, outside) + "\ta",
			"040000 tree " + gitTree(t, repo, "100644 blob "+gitObject(t, repo, "overwritten\n")+"\ttarget.txt") + "\ta",
		}, `lists "a/target.txt" below "a", which is a file or a symbolic link`},
		{"relative link with a subtree below it", []string{
			"100644 blob " + chartYAML + "\tChart.yaml",
			"120000 blob " + gitObject(t, repo, strings.Repeat("../", 12)+strings.TrimPrefix(outside, "/")) + "\ttemplates",
			"040000 tree " + gitTree(t, repo, "100644 blob "+gitObject(t, repo, "overwritten\n")+"\ttarget.txt") + "\ttemplates",
		}, `lists "templates/target.txt" below "templates"`},
		{"name listed twice", []string{
			"100644 blob " + chartYAML + "\tChart.yaml",
			"100644 blob " + values + "\tvalues.yaml",
			"100644 blob " + gitObject(t, repo, "replicas: 2\n") + "\tvalues.yaml",
		}, `lists "values.yaml" twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rev := commit(gitTree(t, repo, tc.tree...))
			_, err := release.LoadGitRevision(context.Background(), chartDir, rev, chart.Limits{})
			if err == nil {
				t.Fatal("the crafted tree was accepted")
			}
			for _, want := range []string{"baseline " + rev, "the tree of " + rev[:12], tc.want, "git never writes such a tree", "refusing"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if b, err := os.ReadFile(target); err != nil || string(b) != "precious\n" {
				t.Errorf("the file outside now holds %q (%v)", b, err)
			}
			if names, _ := os.ReadDir(outside); len(names) != 1 {
				t.Errorf("the directory outside now holds %d entries", len(names))
			}
		})
	}

	// A symbolic link within the chart, as git writes it, still works: LoadDir follows it.
	rev := commit(gitTree(t, repo,
		"100644 blob "+chartYAML+"\tChart.yaml",
		"100644 blob "+values+"\tdefaults.yaml",
		"120000 blob "+gitObject(t, repo, "defaults.yaml")+"\tvalues.yaml",
	))
	ch, err := release.LoadGitRevision(context.Background(), chartDir, rev, chart.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if f := ch.File("values.yaml"); f == nil || string(f.Data) != "replicas: 1\n" {
		t.Errorf("values.yaml through its link: %+v", f)
	}
}
