package e2e

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// releaseStatuses runs chartroom release -o json and returns each chart's "status version".
func releaseStatuses(t *testing.T, e *toolEnv, args ...string) map[string]string {
	t.Helper()
	var out struct {
		Releases []struct{ Name, Version, Status string }
	}
	e.mustJSON("", &out, chartroomBin(t), append([]string{"release", "-o", "json"}, args...)...)
	m := map[string]string{}
	for _, r := range out.Releases {
		m[r.Name] = r.Status + " " + r.Version
	}
	return m
}

// indexVersions counts the versions of each chart the namespace's index lists.
func indexVersions(t *testing.T, srv *Server, ns string) map[string]int {
	t.Helper()
	m := map[string]int{}
	for name, vs := range repoGetIndex(t, adminClient(srv), ns).Entries {
		m[name] = len(vs)
	}
	return m
}

// TestReleaseMonorepo: chartroom release of a three-chart monorepo, to an OCI namespace and
// to a chart repository. The first run publishes all three; after a change to one chart
// (and a change in comments only to another) it publishes exactly the changed one, with
// the version --bump auto gives, signed (.prov, and over OCI cosign): helm pull --verify
// and cosign verify accept it. Over OCI that run is killed (SIGKILL) between push and
// cosign sign, at the first request for the signature; running it again completes the
// release. Running it once more publishes nothing.
func TestReleaseMonorepo(t *testing.T) {
	helm := need(t, helm3)
	for _, form := range []string{"oci", "https"} {
		t.Run(form, func(t *testing.T) {
			srv := StartServer(t)
			e := newToolEnv(t)
			key := newSigningKey(t)
			creds := []string{"--username", "admin", "--password", srv.Password}
			work := t.TempDir()
			var dirs []string
			for _, n := range []string{"alpha", "beta", "gamma"} {
				dirs = append(dirs, repoChartDir(t, work, n, "1.0.0", "1.0"))
			}
			to := []string{"--to", srv.URL("/team")}
			var cosignBin, cosignPub string
			if form == "oci" {
				to = []string{"--to", "oci://" + srv.Host() + "/team", "--plain-http"}
				cosignBin = need(t, cosignTool)
				e.env = append(e.env, "COSIGN_PASSWORD=e2e key password")
				e.mustIn(work, chartroomBin(t), "keygen", "--output-key-prefix", "cr")
				cosignPub = filepath.Join(work, "cr.pub")
				if err := os.WriteFile(filepath.Join(work, "trusted_root.json"), []byte(cosignEmptyTrustedRoot), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			sign := []string{"--key", key.name, "--keyring", key.secring}
			if form == "oci" {
				sign = append(sign, "--cosign-key", filepath.Join(work, "cr.key"))
			}
			args := append(append(append(append([]string{}, dirs...), to...), sign...), creds...)

			got := releaseStatuses(t, e, args...)
			for _, n := range []string{"alpha", "beta", "gamma"} {
				if got[n] != "released 1.0.0" {
					t.Fatalf("first release: %v", got)
				}
			}

			t.Log("beta gains a values key; alpha's values.yaml gains only a comment")
			checkEditFile(t, filepath.Join(dirs[0], "values.yaml"), "greeting:", "# what the chart says\ngreeting:")
			if err := os.WriteFile(filepath.Join(dirs[1], "values.yaml"), append(mustRead(t, filepath.Join(dirs[1], "values.yaml")), "port: 8080\n"...), 0o644); err != nil {
				t.Fatal(err)
			}
			changed := append(args, "--bump", "auto")
			if form == "oci" {
				releaseKilledBeforeCosign(t, e, srv, append(append(append(append([]string{}, dirs...), "--to", "oci://PROXY/team", "--plain-http"), sign...), append(creds, "--bump", "auto")...))
				e.must(cosignBin, "login", srv.Host(), "--username", "admin", "--password", srv.Password)
				if out, err := e.run(cosignBin, "verify", "--key", cosignPub, "--insecure-ignore-tlog", "--allow-http-registry", "--trusted-root", filepath.Join(work, "trusted_root.json"), srv.Host()+"/team/beta:1.1.0"); err == nil || !strings.Contains(out, "no signatures found") {
					t.Fatalf("after the kill, cosign verify of beta 1.1.0: %v (want: no signatures found)\n%s", err, out)
				}
			}
			got = releaseStatuses(t, e, changed...)
			wantBeta := "released 1.1.0"
			if form == "oci" {
				wantBeta = "already published, signature added 1.1.0"
			}
			if got["alpha"] != "already published 1.0.0" || got["beta"] != wantBeta || got["gamma"] != "already published 1.0.0" {
				t.Fatalf("release after beta changed: %v", got)
			}
			if n := indexVersions(t, srv, "team"); n["alpha"] != 1 || n["beta"] != 2 || n["gamma"] != 1 {
				t.Fatalf("index lists %v; want alpha 1, beta 2, gamma 1", n)
			}
			if b := mustRead(t, filepath.Join(dirs[1], "Chart.yaml")); !bytes.Contains(b, []byte("version: 1.1.0")) {
				t.Fatalf("beta's Chart.yaml was not bumped:\n%s", b)
			}

			t.Log("helm pull --verify accepts the release; over OCI, so does cosign verify")
			dest := t.TempDir()
			if form == "oci" {
				e.must(helm, "registry", "login", srv.Host(), "--username", "admin", "--password", srv.Password, "--plain-http")
				e.must(helm, "pull", "oci://"+srv.Host()+"/team/beta", "--version", "1.1.0", "--plain-http", "--verify", "--keyring", key.pubring, "--destination", dest)
				e.must(cosignBin, "verify", "--key", cosignPub, "--insecure-ignore-tlog", "--allow-http-registry", "--trusted-root", filepath.Join(work, "trusted_root.json"), srv.Host()+"/team/beta:1.1.0")
			} else {
				e.must(helm, "pull", "beta", "--repo", srv.URL("/team"), "--username", "admin", "--password", srv.Password, "--version", "1.1.0", "--verify", "--keyring", key.pubring, "--destination", dest)
			}

			t.Log("once more: nothing to publish")
			got = releaseStatuses(t, e, changed...)
			if got["alpha"] != "already published 1.0.0" || got["beta"] != "already published 1.1.0" || got["gamma"] != "already published 1.0.0" {
				t.Fatalf("third run: %v", got)
			}
			if n := indexVersions(t, srv, "team"); n["alpha"] != 1 || n["beta"] != 2 || n["gamma"] != 1 {
				t.Fatalf("index lists %v after the third run", n)
			}
		})
	}
}

// releaseKilledBeforeCosign runs chartroom release (args, with PROXY in --to) through a
// proxy to srv that holds the first request for a cosign signature, kills the release there
// with SIGKILL, and checks that the chart was pushed.
func releaseKilledBeforeCosign(t *testing.T, e *toolEnv, srv *Server, args []string) {
	t.Helper()
	target, _ := url.Parse(srv.URL(""))
	proxy := httputil.NewSingleHostReverseProxy(target)
	held := make(chan struct{})
	var once sync.Once
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// beta's signature tag (sha256-<hex>.sig) or the referrers of its manifest.
		if strings.HasPrefix(r.URL.Path, "/v2/team/beta/") && (strings.Contains(r.URL.Path, "/manifests/sha256-") || strings.Contains(r.URL.Path, "/referrers/")) {
			once.Do(func() { close(held) })
			<-r.Context().Done() // until the client is gone
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	host := strings.TrimPrefix(front.URL, "http://")
	for i, a := range args {
		args[i] = strings.Replace(a, "PROXY", host, 1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, chartroomBin(t), append([]string{"release"}, args...)...)
	cmd.Env = e.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-held:
		_ = cmd.Process.Kill()
		<-done
	case err := <-done:
		t.Fatalf("release ended (%v) without asking for a cosign signature:\n%s", err, out.String())
	case <-time.After(toolTimeout):
		t.Fatalf("release never asked for a cosign signature:\n%s", out.String())
	}
	t.Logf("killed between push and cosign sign:\n%s", out.String())
	if !strings.Contains(out.String(), "push oci://"+host+"/team/beta:1.1.0") {
		t.Fatalf("beta 1.1.0 was not pushed before the kill:\n%s", out.String())
	}
}
