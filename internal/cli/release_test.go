package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// releaseRun is release's -o json, decoded.
type releaseRun struct {
	DryRun   bool
	Releases []struct {
		Name, Version, Status, Digest, Where, Error string
		Signatures                                  []struct{ Kind, Signer string }
		Steps                                       []string
	}
}

func runReleaseJSON(t *testing.T, code int, args ...string) releaseRun {
	t.Helper()
	r := run(t, "", append([]string{"release", "-o", "json"}, args...)...)
	if r.code != code {
		t.Fatalf("release %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	var out releaseRun
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("release -o json: %v\n%s", err, r.stdout)
	}
	return out
}

func (o releaseRun) statuses() map[string]string {
	m := map[string]string{}
	for _, r := range o.Releases {
		m[r.Name] = r.Status + " " + r.Version
	}
	return m
}

// Three charts released together, then one changed: only that one is published again, with
// the version --bump gives, signed; running again publishes nothing. A change in comments
// only is no change. Over OCI and a chart repository alike.
func TestReleaseMonorepo(t *testing.T) {
	isolateHome(t)
	srv := newCLIServer(t)
	t.Setenv(envUsername, cliUser)
	t.Setenv(envPassword, cliPassword)
	keys := tcMakeKeys(t)
	for name, to := range map[string][]string{
		"oci":        {"--to", "oci://" + srv.host + "/mono", "--plain-http"},
		"repository": {"--to", srv.url + "/mono2"},
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			var dirs []string
			for _, n := range []string{"alpha", "beta", "gamma"} {
				dirs = append(dirs, tcChart(t, filepath.Join(root, n), n))
			}
			sign := []string{"--key", "Jane Doe", "--keyring", keys.janeSec}
			args := append(append(append([]string{}, dirs...), to...), sign...)

			out := runReleaseJSON(t, 0, args...)
			for _, n := range []string{"alpha", "beta", "gamma"} {
				if got := out.statuses()[n]; got != "released 1.4.2" {
					t.Errorf("first release of %s: %q", n, got)
				}
			}
			if s := out.Releases[0].Signatures; len(s) != 1 || s[0].Kind != "prov" || !strings.HasPrefix(s[0].Signer, "Jane Doe") {
				t.Errorf("signatures: %+v", s)
			}

			out = runReleaseJSON(t, 0, args...)
			for _, n := range []string{"alpha", "beta", "gamma"} {
				if got := out.statuses()[n]; got != "already published 1.4.2" {
					t.Errorf("second run, %s: %q", n, got)
				}
			}

			// Comments only: no change.
			tcWriteTree(t, dirs[0], map[string]string{"values.yaml": "# how many\nreplicas: 1 # one\n"})
			// A new values key in beta: a minor change.
			tcWriteTree(t, dirs[1], map[string]string{"values.yaml": "replicas: 1\nport: 80\n"})

			dry := runReleaseJSON(t, 1, append(args, "--dry-run")...)
			if got := dry.statuses()["beta"]; !strings.HasPrefix(got, "failed") || !strings.Contains(dry.Releases[1].Error, "set version 1.5.0") {
				t.Errorf("changed beta without --bump: %q %s", got, dry.Releases[1].Error)
			}
			dry = runReleaseJSON(t, 0, append(args, "--dry-run", "--bump", "auto")...)
			if got := dry.statuses(); got["alpha"] != "already published 1.4.2" || got["beta"] != "would release 1.5.0" || got["gamma"] != "already published 1.4.2" {
				t.Errorf("dry run: %v", got)
			}
			if b, _ := os.ReadFile(filepath.Join(dirs[1], "Chart.yaml")); !strings.Contains(string(b), "version: 1.4.2") {
				t.Errorf("--dry-run wrote Chart.yaml:\n%s", b)
			}

			runReleaseJSON(t, 1, append(args, "--bump", "patch")...) // too small for a new key
			out = runReleaseJSON(t, 0, append(args, "--bump", "minor")...)
			if got := out.statuses(); got["alpha"] != "already published 1.4.2" || got["beta"] != "released 1.5.0" || got["gamma"] != "already published 1.4.2" {
				t.Errorf("after a change in beta: %v", got)
			}
			if b, _ := os.ReadFile(filepath.Join(dirs[1], "Chart.yaml")); !strings.Contains(string(b), "version: 1.5.0 # release") {
				t.Errorf("Chart.yaml of beta after the release:\n%s", b)
			}
			out = runReleaseJSON(t, 0, append(args, "--bump", "minor")...)
			if got := out.statuses()["beta"]; got != "already published 1.5.0" {
				t.Errorf("again: %q", got)
			}
		})
	}
}

// A version published without its .prov (by a release without a key, or a run stopped in
// between) gets the .prov of its published archive when released again with a key.
func TestReleaseAddsMissingSignature(t *testing.T) {
	isolateHome(t)
	srv := newCLIServer(t)
	t.Setenv(envUsername, cliUser)
	t.Setenv(envPassword, cliPassword)
	keys := tcMakeKeys(t)
	dir := tcChart(t, filepath.Join(t.TempDir(), "solo"), "solo")
	to := []string{dir, "--to", "oci://" + srv.host + "/team", "--plain-http"}

	out := runReleaseJSON(t, 0, to...)
	if got := out.statuses()["solo"]; got != "released 1.4.2" || len(out.Releases[0].Signatures) != 0 {
		t.Fatalf("unsigned release: %q %+v", got, out.Releases[0].Signatures)
	}
	signed := append(to, "--key", "Jane Doe", "--keyring", keys.janeSec)
	out = runReleaseJSON(t, 0, signed...)
	if got := out.statuses()["solo"]; got != "already published, signature added 1.4.2" {
		t.Fatalf("release with a key after an unsigned one: %q", got)
	}
	out = runReleaseJSON(t, 0, signed...)
	if got := out.statuses()["solo"]; got != "already published 1.4.2" {
		t.Fatalf("third run: %q", got)
	}
	run(t, "", "pull", "oci://"+srv.host+"/team/solo", "--plain-http", "--verify", "--keyring", keys.janePub, "-d", t.TempDir()).wantExit(t, 0, "Signed by: Jane Doe")
}

func TestReleaseOrder(t *testing.T) {
	root := t.TempDir()
	app := tcChart(t, filepath.Join(root, "app"), "app")
	lib := tcChart(t, filepath.Join(root, "lib"), "lib")
	tcWriteTree(t, app, map[string]string{"Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n  - name: lib\n    version: 1.4.2\n    repository: file://../lib\n"})
	got, err := releaseOrder(context.Background(), []string{app, lib, app})
	if err != nil || strings.Join(got, ",") != lib+","+app {
		t.Fatalf("order: %v %v", got, err)
	}
	tcWriteTree(t, lib, map[string]string{"Chart.yaml": "apiVersion: v2\nname: lib\nversion: 1.0.0\ndependencies:\n  - name: app\n    version: 1.0.0\n    repository: file://../app\n"})
	if _, err := releaseOrder(context.Background(), []string{app, lib}); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("cycle: %v", err)
	}
}

// --cosign-key signs OCI releases with cosign; a version published without the cosign
// signature (a run stopped between push and sign) gets it when released again.
func TestReleaseCosign(t *testing.T) {
	isolateHome(t)
	srv := newCLIServer(t)
	t.Setenv(envUsername, cliUser)
	t.Setenv(envPassword, cliPassword)
	t.Setenv(envCosignPassword, "pw")
	prefix := filepath.Join(t.TempDir(), "cosign")
	run(t, "", "keygen", "--output-key-prefix", prefix).wantExit(t, 0)
	dir := tcChart(t, filepath.Join(t.TempDir(), "solo"), "solo")
	to := []string{dir, "--to", "oci://" + srv.host + "/team", "--plain-http"}

	run(t, "", "release", dir, "--to", srv.url+"/team", "--cosign-key", prefix+".key").wantExit(t, 2, "--cosign-key signs charts in OCI registries")
	runReleaseJSON(t, 0, to...) // published unsigned
	ref := "oci://" + srv.host + "/team/solo"
	run(t, "", "verify", ref, "--key", prefix+".pub", "--plain-http").wantExit(t, 1)

	out := runReleaseJSON(t, 0, append(to, "--cosign-key", prefix+".key")...)
	r := out.Releases[0]
	if r.Status != "already published, signature added" || len(r.Signatures) != 1 || r.Signatures[0].Kind != "cosign" {
		t.Fatalf("release --cosign-key of an unsigned version: %+v", r)
	}
	run(t, "", "verify", ref, "--key", prefix+".pub", "--plain-http").wantExit(t, 0)
	if out = runReleaseJSON(t, 0, append(to, "--cosign-key", prefix+".key")...); out.Releases[0].Status != "already published" {
		t.Fatalf("again: %+v", out.Releases[0])
	}
	run(t, "", "release", dir, "--to", "oci://"+srv.host+"/team", "--plain-http", "--cosign-key", prefix+".pub").wantExit(t, 2, "--cosign-key", "public key")
}
