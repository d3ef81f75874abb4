package repo

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/server/auth"
)

// templatesTestChart is a chart with templates at two depths, a subchart with templates and
// values of its own (neither listed), and values whose JSON form shows Helm's parsing
// (numbers as float64) and encoding/json's escaping, as ChartMuseum answers them.
func templatesTestChart(t *testing.T, version, replicas string) ([]byte, map[string]string) {
	files := map[string]string{
		"Chart.yaml":                  "apiVersion: v2\nname: myapp\nversion: " + version + "\n",
		"values.yaml":                 "replicas: " + replicas + "\nbig: 9007199254740993\nimage:\n  tag: \"1.0\"\nbanner: <b>hi</b>\n",
		"README.md":                   "not a template\n",
		"templates/_helpers.tpl":      "{{- define \"myapp.name\" -}}myapp{{- end -}}\n",
		"templates/deployment.yaml":   "kind: Deployment\nreplicas: {{ .Values.replicas }}\n",
		"templates/extra/cm.yaml":     "kind: ConfigMap\n",
		"charts/sub/Chart.yaml":       "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
		"charts/sub/values.yaml":      "sub: true\n",
		"charts/sub/templates/s.yaml": "kind: Secret\n",
	}
	return charttest.Files(t, "myapp", files), files
}

func TestAPITemplatesAndValues(t *testing.T) {
	for _, ns := range []string{"", "team/charts"} {
		t.Run("namespace "+ns, func(t *testing.T) {
			e := newEnv(t, Options{})
			archive, files := templatesTestChart(t, "1.0.0", "1")
			e.mustUpload(ns, archive)
			latestArchive, latestFiles := templatesTestChart(t, "1.1.0", "3")
			e.mustUpload(ns, latestArchive)
			pre, _ := templatesTestChart(t, "2.0.0-rc.1", "9")
			e.mustUpload(ns, pre) // not "latest": a prerelease

			wantTemplates := func(files map[string]string, replicas string) string {
				var b strings.Builder
				b.WriteString(`{"templates":[`)
				for i, n := range []string{"templates/_helpers.tpl", "templates/deployment.yaml", "templates/extra/cm.yaml"} {
					if i > 0 {
						b.WriteByte(',')
					}
					b.WriteString(`{"name":"` + n + `","data":"` + base64.StdEncoding.EncodeToString([]byte(files[n])) + `"}`)
				}
				b.WriteString(`],"values":{"banner":"\u003cb\u003ehi\u003c/b\u003e","big":9007199254740992,"image":{"tag":"1.0"},"replicas":` + replicas + `}}`)
				return b.String()
			}
			for _, tc := range []struct {
				version, replicas string
				files             map[string]string
			}{
				{"1.0.0", "1", files},
				{"latest", "3", latestFiles},
			} {
				r := e.get(apiPath(ns, "charts/myapp/"+tc.version+"/templates"))
				if got, want := string(bytes.TrimSpace(r.body)), wantTemplates(tc.files, tc.replicas); r.status != http.StatusOK || got != want {
					t.Fatalf("templates of %s: %d\n%s\nwant\n%s", tc.version, r.status, got, want)
				}
				if ct := r.header.Get("Content-Type"); ct != "application/json" {
					t.Fatalf("templates Content-Type %q", ct)
				}
				r = e.get(apiPath(ns, "charts/myapp/"+tc.version+"/values"))
				if r.status != http.StatusOK || string(r.body) != tc.files["values.yaml"] || r.header.Get("Content-Type") != "application/yaml" {
					t.Fatalf("values of %s: %d %q (%s), want values.yaml as stored", tc.version, r.status, r.body, r.header.Get("Content-Type"))
				}
			}

			// A chart without values.yaml and templates: null, as Helm's chart.Chart encodes them;
			// its values endpoint is a 404 saying so.
			e.mustUpload(ns, charttest.Files(t, "bare", map[string]string{"Chart.yaml": "apiVersion: v2\nname: bare\nversion: 1.0.0\n"}))
			if r := e.get(apiPath(ns, "charts/bare/1.0.0/templates")); r.status != http.StatusOK || string(bytes.TrimSpace(r.body)) != `{"templates":null,"values":null}` {
				t.Fatalf("templates of a bare chart: %d %s", r.status, r.body)
			}
			r := e.get(apiPath(ns, "charts/bare/1.0.0/values"))
			if msg := r.errorMessage(t); r.status != http.StatusNotFound || !strings.HasPrefix(msg, "values.yaml not found") {
				t.Fatalf("values of a bare chart: %d %s", r.status, msg)
			}
			// An empty values.yaml is one: an empty body, and {} as its values.
			e.mustUpload(ns, charttest.Files(t, "empty", map[string]string{"Chart.yaml": "apiVersion: v2\nname: empty\nversion: 1.0.0\n", "values.yaml": ""}))
			if r := e.get(apiPath(ns, "charts/empty/1.0.0/values")); r.status != http.StatusOK || len(r.body) != 0 {
				t.Fatalf("empty values.yaml: %d %q", r.status, r.body)
			}
			if r := e.get(apiPath(ns, "charts/empty/1.0.0/templates")); string(bytes.TrimSpace(r.body)) != `{"templates":null,"values":{}}` {
				t.Fatalf("templates of a chart with an empty values.yaml: %d %s", r.status, r.body)
			}

			for _, tc := range []struct {
				method, path string
				status       int
			}{
				{"GET", apiPath(ns, "charts/myapp/9.9.9/templates"), http.StatusNotFound},
				{"GET", apiPath(ns, "charts/myapp/9.9.9/values"), http.StatusNotFound},
				{"GET", apiPath(ns, "charts/nope/latest/templates"), http.StatusNotFound},
				{"GET", apiPath(ns, "charts/nope/latest/values"), http.StatusNotFound},
				{"HEAD", apiPath(ns, "charts/myapp/1.0.0/templates"), http.StatusOK},
				{"HEAD", apiPath(ns, "charts/myapp/1.0.0/values"), http.StatusOK},
				{"HEAD", apiPath(ns, "charts/myapp/9.9.9/values"), http.StatusNotFound},
				{"POST", apiPath(ns, "charts/myapp/1.0.0/values"), http.StatusMethodNotAllowed},
				{"DELETE", apiPath(ns, "charts/myapp/1.0.0/templates"), http.StatusMethodNotAllowed},
			} {
				r := e.send(tc.method, tc.path, nil)
				if r.status != tc.status {
					t.Errorf("%s %s: %d, want %d", tc.method, tc.path, r.status, tc.status)
				}
				if tc.method == "HEAD" && len(r.body) != 0 {
					t.Errorf("%s %s: a body", tc.method, tc.path)
				}
				if tc.method != "HEAD" && tc.status >= 400 {
					r.errorMessage(t)
				}
			}
			// A deleted version is gone from these endpoints too.
			if r := e.send("DELETE", apiPath(ns, "charts/myapp/1.0.0"), nil); r.status != http.StatusOK {
				t.Fatalf("delete: %d %s", r.status, r.body)
			}
			if r := e.get(apiPath(ns, "charts/myapp/1.0.0/values")); r.status != http.StatusNotFound {
				t.Fatalf("values of a deleted version: %d %s", r.status, r.body)
			}
		})
	}
}

// The templates and values endpoints are reads: credentials needed, unless anonymous read is on.
func TestAPITemplatesAndValuesAuthorization(t *testing.T) {
	e := newEnv(t, Options{})
	archive, files := templatesTestChart(t, "1.0.0", "1")
	e.mustUpload("team", archive)
	for _, p := range []string{"/api/team/charts/myapp/1.0.0/templates", "/api/team/charts/myapp/latest/values"} {
		if r := e.get(p, "Authorization", ""); r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("anonymous GET %s without anonymous read: %d %s", p, r.status, r.body)
		}
		if r := e.get(p, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("admin:wrong"))); r.status != http.StatusUnauthorized {
			t.Fatalf("GET %s with a wrong password: %d %s", p, r.status, r.body)
		}
	}

	anon := httptest.NewServer(New(e.reg.Registry, missingRegistry(t), auth.New(e.reg.DB, auth.Options{AnonymousRead: true}), Options{}))
	defer anon.Close()
	resp, err := http.Get(anon.URL + "/api/team/charts/myapp/1.0.0/values")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || b.String() != files["values.yaml"] {
		t.Fatalf("anonymous GET with anonymous read: %d %q", resp.StatusCode, b.String())
	}
}

// A stored archive that no longer reads (a damaged blob) is the server's failure, not the
// caller's: 500 with the generic message, the detail in the log.
func TestAPITemplatesOfADamagedArchive(t *testing.T) {
	e := newEnv(t, Options{})
	archive, _ := templatesTestChart(t, "1.0.0", "1")
	e.mustUpload("team", archive)
	e.reg.OverwriteBlob(t, digest.FromBytes(archive), make([]byte, len(archive)))
	for _, p := range []string{"/api/team/charts/myapp/1.0.0/templates", "/api/team/charts/myapp/1.0.0/values"} {
		r := e.get(p)
		if msg := r.errorMessage(t); r.status != http.StatusInternalServerError || !strings.HasPrefix(msg, "internal server error") {
			t.Fatalf("GET %s of a damaged archive: %d %s", p, r.status, msg)
		}
	}
	if !strings.Contains(e.logs.String(), "stored archive") {
		t.Fatalf("the log does not name the stored archive:\n%s", e.logs.String())
	}
}
