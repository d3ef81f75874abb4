package e2e

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cmpush is ChartMuseum's helm-push plugin (helm cm-push), built by scripts/tools.sh with
// its plugin.yaml beside the binary.
var cmpush = tool{"cmpush", "CHARTROOM_CMPUSH"}

// installCmPush installs helm-push as a helm plugin in e's helm home the way `helm plugin
// install` lays it out, without its install hook (which downloads a release binary): a
// directory holding the module's plugin.yaml and bin/helm-cm-push. It turns plugins on for e.
func installCmPush(t *testing.T, e *toolEnv) {
	t.Helper()
	bin := need(t, cmpush)
	plugins := filepath.Join(e.home, "helm-plugins")
	dir := filepath.Join(plugins, "cm-push")
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ from, to string }{
		{filepath.Join(filepath.Dir(bin), "plugin.yaml"), filepath.Join(dir, "plugin.yaml")},
		{bin, filepath.Join(dir, "bin", "helm-cm-push")},
	} {
		if err := os.Symlink(f.from, f.to); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"HELM_PLUGINS=" + plugins}
	for _, kv := range e.env {
		if !strings.HasPrefix(kv, "HELM_NO_PLUGINS=") {
			env = append(env, kv)
		}
	}
	e.env = env
}

// TestCmPush drives the real `helm cm-push` plugin (ChartMuseum's helm-push v0.10.4) under
// helm v3 against chartroom, as a ChartMuseum user's scripts do: helm repo add with
// credentials, cm-push of a packaged chart and of a chart directory to a namespace, both
// pullable over the classic repository and over OCI with the same bytes; a changed chart
// of a published version is refused, --force included, with the immutability message the
// plugin shows. ChartMuseum's /health, /info and templates and values endpoints answer the
// scripts that read them.
//
// helm v4 (v4.3.1) loads helm-push's plugin.yaml as a getter plugin only (a legacy plugin
// with downloaders is getter/v1, not cli/v1), so `helm cm-push` is not a command there: the
// plugin runs under helm v3 only.
func TestCmPush(t *testing.T) {
	for _, h := range []tool{helm3} {
		t.Run(h.name, func(t *testing.T) {
			helm := need(t, h)
			srv := StartServer(t)
			e := newToolEnv(t)
			installCmPush(t, e)
			c := adminClient(srv)
			host := srv.Host()
			ns := "team/charts" // nested, and ending in "charts": cm-push posts to /api/team/charts/charts
			work := t.TempDir()
			pkg := filepath.Join(work, "pkg")

			if out := e.must(helm, "plugin", "list"); !strings.Contains(out, "cm-push") || !strings.Contains(out, "0.10.4") {
				t.Fatalf("helm plugin list does not show cm-push 0.10.4:\n%s", out)
			}
			e.must(helm, "repo", "add", "team", "http://"+host+"/"+ns, "--username", "admin", "--password", srv.Password)

			t.Log("helm cm-push of a packaged chart")
			src := repoChartDir(t, filepath.Join(work, "src-1.0.0"), "myapp", "1.0.0", "1.0")
			e.must(helm, "package", src, "--destination", pkg)
			tgz := filepath.Join(pkg, "myapp-1.0.0.tgz")
			if out := e.must(helm, "cm-push", tgz, "team"); !strings.Contains(out, "Done.") {
				t.Fatalf("helm cm-push did not report Done.:\n%s", out)
			}
			// cm-push loads the archive and packages it again (new timestamps), so what it
			// uploaded is not tgz byte for byte: the index's digest names what was stored.
			pushed := indexDigest(repoGetIndex(t, c, ns), "myapp", "1.0.0")
			if pushed == "" {
				t.Fatalf("myapp 1.0.0 is not in the index of %s after helm cm-push", ns)
			}

			t.Log("helm cm-push of a chart directory (the plugin packages it)")
			src11 := repoChartDir(t, filepath.Join(work, "src-1.1.0"), "myapp", "1.1.0", "1.1")
			e.must(helm, "cm-push", src11, "team")

			t.Log("pullable over the classic repository and over OCI, the same bytes")
			e.must(helm, "repo", "update")
			if got := searchVersions(t, e.must(helm, "search", "repo", "team/myapp", "--versions")); len(got) != 2 || got[0][0] != "1.1.0" || got[1][0] != "1.0.0" {
				t.Fatalf("helm search repo team/myapp --versions = %v, want 1.1.0 and 1.0.0", got)
			}
			pullBoth := func() {
				t.Helper()
				pulled := t.TempDir()
				e.must(helm, "pull", "team/myapp", "--version", "1.0.0", "--destination", pulled)
				if got := fileSHA256(t, filepath.Join(pulled, "myapp-1.0.0.tgz")); got != pushed {
					t.Fatalf("helm pull team/myapp: sha256 %s, the index says %s", got, pushed)
				}
				pulled = t.TempDir()
				out := e.must(helm, "pull", "oci://"+host+"/"+ns+"/myapp", "--version", "1.0.0", "--plain-http", "--destination", pulled)
				if got := fileSHA256(t, filepath.Join(pulled, "myapp-1.0.0.tgz")); got != pushed {
					t.Fatalf("helm pull oci://…/myapp: sha256 %s, the index says %s", got, pushed)
				}
				if layers := chartLayers(t, c, ns+"/myapp", printedDigest(t, out)); layers[chartLayer] != "sha256:"+pushed {
					t.Fatalf("OCI chart layer %s, the index says sha256:%s", layers[chartLayer], pushed)
				}
			}
			e.must(helm, "registry", "login", host, "--username", "admin", "--password", srv.Password, "--plain-http")
			pullBoth()

			t.Log("a changed chart of a published version is refused, --force included")
			changed := repoChartDir(t, filepath.Join(work, "src-changed"), "myapp", "1.0.0", "1.0-changed")
			changedPkg := filepath.Join(work, "changed")
			e.must(helm, "package", changed, "--destination", changedPkg)
			changedTgz := filepath.Join(changedPkg, "myapp-1.0.0.tgz")
			for _, args := range [][]string{{"cm-push", changedTgz, "team"}, {"cm-push", "--force", changedTgz, "team"}} {
				out, err := e.run(helm, args...)
				if err == nil {
					t.Fatalf("helm %s succeeded; want the immutability refusal:\n%s", strings.Join(args, " "), out)
				}
				if !strings.Contains(out, "409: ") || !strings.Contains(out, "published content is immutable") {
					t.Fatalf("helm %s: want the plugin to show 409 and the immutability message:\n%s", strings.Join(args, " "), out)
				}
				if args[1] == "--force" && !strings.Contains(out, "?force cannot overwrite a published version") {
					t.Fatalf("helm cm-push --force: want the message to say --force cannot overwrite:\n%s", out)
				}
			}
			pullBoth() // unchanged

			t.Log("ChartMuseum's /health, /info, templates and values endpoints")
			anon := newOCIClient(srv, "", "")
			if body := repoGet(t, anon, "/health", http.StatusOK); strings.TrimSpace(string(body)) != `{"healthy":true}` {
				t.Fatalf("/health: %s", body)
			}
			var info struct {
				Version string `json:"version"`
			}
			if err := json.Unmarshal(repoGet(t, anon, "/info", http.StatusOK), &info); err != nil || info.Version == "" {
				t.Fatalf("/info: %v %+v", err, info)
			}
			var version struct {
				Version string `json:"version"`
			}
			e.mustJSON("", &version, chartroomBin(t), "version", "-o", "json")
			if info.Version != version.Version {
				t.Fatalf("/info says version %q, chartroom version says %q", info.Version, version.Version)
			}
			repoGet(t, anon, repoAPI(ns, "charts/myapp/1.0.0/values"), http.StatusUnauthorized) // no anonymous read
			if body := repoGet(t, c, repoAPI(ns, "charts/myapp/latest/values"), http.StatusOK); string(body) != "greeting: hello\n" {
				t.Fatalf("values of the latest version: %q", body)
			}
			var tmpl struct {
				Templates []struct {
					Name string `json:"name"`
					Data []byte `json:"data"`
				} `json:"templates"`
				Values map[string]any `json:"values"`
			}
			if err := json.Unmarshal(repoGet(t, c, repoAPI(ns, "charts/myapp/1.0.0/templates"), http.StatusOK), &tmpl); err != nil {
				t.Fatal(err)
			}
			want, _ := os.ReadFile(filepath.Join(src, "templates", "configmap.yaml"))
			if len(tmpl.Templates) != 1 || tmpl.Templates[0].Name != "templates/configmap.yaml" || string(tmpl.Templates[0].Data) != string(want) ||
				tmpl.Values["greeting"] != "hello" {
				t.Fatalf("templates of 1.0.0: %+v (data as base64: %s)", tmpl, base64.StdEncoding.EncodeToString(want))
			}
		})
	}
}
