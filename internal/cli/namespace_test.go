package cli

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/artifacthub"
	"github.com/chartroom/chartroom/internal/server"
)

const nsRepoID = "5a4b9f1c-7c3d-4e2f-9a1b-0c2d3e4f5a6b"

// chartroom namespace set and show work on serve's data directory: set from flags (keeping
// what other flags set before) or from a file, refuse what Artifact Hub would not read, remove;
// show prints the setting, where it is served and the chart repositories.
func TestNamespaceCommand(t *testing.T) {
	dir, _ := servedDataDir(t) // chart myapp in namespace team

	r := run(t, "", "namespace", "show", "team", "--data-dir", dir)
	r.wantExit(t, 0)
	for _, w := range []string{"chart repositories   1: team/myapp", "artifacthub-repo.yml not set", "chartroom namespace set team"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("show lacks %q:\n%s", w, r.stdout)
		}
	}

	r = run(t, "", "namespace", "set", "team", "--data-dir", dir, "--artifacthub-repo-id", nsRepoID, "--owner", "Jane Doe <jane@example.com>")
	r.wantExit(t, 0)
	for _, w := range []string{"served at /team/artifacthub-repo.yml", "as tag artifacthub.io", "repositoryID: " + nsRepoID, "email: jane@example.com"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("set output lacks %q:\n%s", w, r.stdout)
		}
	}
	// Owners replaced, the ID kept.
	run(t, "", "namespace", "set", "team", "--data-dir", dir, "--owner", "bob@example.com", "--owner", "Ann <ann@example.com>").wantExit(t, 0)
	r = run(t, "", "namespace", "show", "team", "--data-dir", dir, "-o", "json")
	r.wantExit(t, 0)
	var res namespaceResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.ArtifactHubRepo == nil {
		t.Fatalf("show -o json: %v\n%s", err, r.stdout)
	}
	md, err := artifacthub.Parse([]byte(*res.ArtifactHubRepo))
	if err != nil {
		t.Fatal(err)
	}
	if md.RepositoryID != nsRepoID || len(md.Owners) != 2 || md.Owners[0].Email != "bob@example.com" || md.Owners[1] != (artifacthub.Owner{Name: "Ann", Email: "ann@example.com"}) {
		t.Fatalf("after --owner: %+v", md)
	}
	if want := []string{"/team/artifacthub-repo.yml", "team/myapp:artifacthub.io"}; strings.Join(res.ServedAt, " ") != strings.Join(want, " ") ||
		strings.Join(res.ChartRepositories, " ") != "team/myapp" {
		t.Fatalf("show -o json = %+v", res)
	}

	// A whole file, stored as it is.
	file := filepath.Join(t.TempDir(), "artifacthub-repo.yml")
	const content = "# ours\nrepositoryID: " + nsRepoID + "\nignore:\n  - name: myapp\n    version: beta\n"
	os.WriteFile(file, []byte(content), 0o644)
	run(t, "", "namespace", "set", "team", "--data-dir", dir, "--artifacthub-repo-file", file).wantExit(t, 0)
	r = run(t, "", "namespace", "show", "team", "--data-dir", dir, "-o", "json")
	json.Unmarshal([]byte(r.stdout), &res)
	if res.ArtifactHubRepo == nil || *res.ArtifactHubRepo != content {
		t.Fatalf("the file was not stored as it is: %+v", res)
	}

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"nothing to set", nil, []string{"nothing to set", "--no-artifacthub"}},
		{"not a UUID", []string{"--artifacthub-repo-id", "my-repo"}, []string{"not a UUID"}},
		{"an owner without e-mail", []string{"--owner", "Jane"}, []string{"--owner", "Name <email>"}},
		{"file and flags", []string{"--artifacthub-repo-file", file, "--owner", "a@example.com"}, []string{"without --artifacthub-repo-id and --owner"}},
		{"a misspelt field", []string{"--artifacthub-repo-file", writeTemp(t, "repositoryId: "+nsRepoID+"\n")}, []string{"unknown field repositoryId"}},
		{"remove and set", []string{"--no-artifacthub", "--owner", "a@example.com"}, []string{"--no-artifacthub", "alone"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, "", append([]string{"namespace", "set", "team", "--data-dir", dir}, tc.args...)...)
			r.wantExit(t, 2)
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q: %s", w, r.stderr)
				}
			}
		})
	}
	r = run(t, "", "namespace", "set", "Team", "--data-dir", dir, "--owner", "a@example.com")
	r.wantExit(t, 2)
	if !strings.Contains(r.stderr, `namespace "Team"`) {
		t.Errorf("a bad namespace: %s", r.stderr)
	}
	r = run(t, "", "namespace", "set", "team", "--data-dir", filepath.Join(t.TempDir(), "nothing"), "--owner", "a@example.com")
	r.wantExit(t, 2)
	if !strings.Contains(r.stderr, "--data-dir chartroom serve uses") {
		t.Errorf("a data directory without a database: %s", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(t.TempDir(), "nothing")); err == nil {
		t.Error("namespace set created a data directory")
	}

	run(t, "", "namespace", "set", "team", "--data-dir", dir, "--no-artifacthub").wantExit(t, 0)
	r = run(t, "", "namespace", "show", "team", "--data-dir", dir)
	if !strings.Contains(r.stdout, "artifacthub-repo.yml not set") {
		t.Errorf("after --no-artifacthub:\n%s", r.stdout)
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "artifacthub-repo.yml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// namespace set changes what a running server serves, at its next request.
func TestNamespaceSetWhileServing(t *testing.T) {
	dir, _ := servedDataDir(t)
	cfg := server.DefaultConfig()
	cfg.DataDir = dir
	cfg.AnonymousRead = true
	s, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, _ := get("/team/artifacthub-repo.yml"); status != http.StatusNotFound {
		t.Fatalf("before: %d", status)
	}
	run(t, "", "namespace", "set", "team", "--data-dir", dir, "--owner", "jane@example.com").wantExit(t, 0)
	if status, body := get("/team/artifacthub-repo.yml"); status != http.StatusOK || !strings.Contains(body, "email: jane@example.com") {
		t.Fatalf("after set: %d %s", status, body)
	}
	if status, body := get("/v2/team/myapp/tags/list"); status != http.StatusOK || !strings.Contains(body, "artifacthub.io") {
		t.Fatalf("tags after set: %d %s", status, body)
	}
}

// namespace set --anonymous-read (a namespace's own flag, named like serve's setting) sets
// the namespace's anonymous read, and =default removes it.
func TestNamespaceSetAnonymousRead(t *testing.T) {
	dir, _ := servedDataDir(t)
	for _, c := range []struct {
		flag string
		want *bool
	}{{"--anonymous-read", boolPtr(true)}, {"--anonymous-read=false", boolPtr(false)}, {"--anonymous-read=default", nil}} {
		run(t, "", "namespace", "set", "team", "--data-dir", dir, c.flag).wantExit(t, 0)
		r := run(t, "", "namespace", "show", "team", "--data-dir", dir, "-o", "json")
		r.wantExit(t, 0)
		var res namespaceResult
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("show -o json: %v\n%s", err, r.stdout)
		}
		if (res.AnonymousRead == nil) != (c.want == nil) || (c.want != nil && *res.AnonymousRead != *c.want) {
			t.Errorf("after %s: anonymousRead %v; want %v", c.flag, res.AnonymousRead, c.want)
		}
	}
}

func boolPtr(b bool) *bool { return &b }
