package repo

import (
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/registry/registrytest"
)

func TestParsePath(t *testing.T) {
	cases := []struct {
		name   string
		method string
		path   string
		want   target
		ok     bool
	}{
		{"root index", "GET", "/index.yaml", target{endpoint: epIndex}, true},
		{"root index json", "GET", "/index.json", target{endpoint: epIndex, json: true}, true},
		{"namespace index", "GET", "/team/index.yaml", target{endpoint: epIndex, ns: "team"}, true},
		{"nested namespace named charts", "GET", "/team/charts/index.yaml", target{endpoint: epIndex, ns: "team/charts"}, true},
		{"artifact hub metadata", "GET", "/team/charts/artifacthub-repo.yml", target{endpoint: epArtifactHub, ns: "team/charts"}, true},
		{"root artifact hub metadata", "GET", "/artifacthub-repo.yml", target{endpoint: epArtifactHub}, true},
		{"root archive", "GET", "/charts/myapp-1.0.0.tgz", target{endpoint: epArchive, file: "myapp-1.0.0.tgz"}, true},
		{"archive", "GET", "/team/charts/myapp-1.0.0.tgz", target{endpoint: epArchive, ns: "team", file: "myapp-1.0.0.tgz"}, true},
		{"archive in team/charts", "GET", "/team/charts/charts/myapp-1.0.0.tgz", target{endpoint: epArchive, ns: "team/charts", file: "myapp-1.0.0.tgz"}, true},
		{"provenance", "HEAD", "/team/charts/my-app-1.0.0-rc.1.tgz.prov", target{endpoint: epArchive, ns: "team", file: "my-app-1.0.0-rc.1.tgz.prov"}, true},
		{"archive of a namespace named api", "GET", "/api/charts/myapp-1.0.0.tgz", target{endpoint: epArchive, ns: "api", file: "myapp-1.0.0.tgz"}, true},
		{"archive name without version", "GET", "/team/charts/myapp.tgz", target{}, false},
		{"put names any archive", "PUT", "/team/charts/myapp-v1.tgz", target{endpoint: epArchive, ns: "team", file: "myapp-v1.tgz"}, true},
		{"root api list", "GET", "/api/charts", target{endpoint: epAPICharts}, true},
		{"root upload", "POST", "/api/charts", target{endpoint: epAPICharts}, true},
		{"root prov", "POST", "/api/prov", target{endpoint: epAPIProv}, true},
		{"api list", "GET", "/api/team/charts", target{endpoint: epAPICharts, ns: "team"}, true},
		{"api list of team/charts", "GET", "/api/team/charts/charts", target{endpoint: epAPICharts, ns: "team/charts"}, true},
		{"api upload to team/charts", "POST", "/api/team/charts/charts", target{endpoint: epAPICharts, ns: "team/charts"}, true},
		{"api prov to team/charts", "POST", "/api/team/charts/prov", target{endpoint: epAPIProv, ns: "team/charts"}, true},
		{"chart named prov", "GET", "/api/team/charts/prov", target{endpoint: epAPIChart, ns: "team", name: "prov"}, true},
		{"api chart", "GET", "/api/team/charts/myapp", target{endpoint: epAPIChart, ns: "team", name: "myapp"}, true},
		{"api chart in team/charts", "GET", "/api/team/charts/charts/myapp", target{endpoint: epAPIChart, ns: "team/charts", name: "myapp"}, true},
		{"api version", "GET", "/api/team/charts/myapp/1.0.0", target{endpoint: epAPIVersion, ns: "team", name: "myapp", version: "1.0.0"}, true},
		{"api version in team/charts", "DELETE", "/api/team/charts/charts/myapp/1.0.0", target{endpoint: epAPIVersion, ns: "team/charts", name: "myapp", version: "1.0.0"}, true},
		{"api version of a chart named charts", "GET", "/api/team/charts/charts/1.0.0", target{endpoint: epAPIVersion, ns: "team", name: "charts", version: "1.0.0"}, true},
		{"api latest", "GET", "/api/charts/myapp/latest", target{endpoint: epAPIVersion, name: "myapp", version: "latest"}, true},
		{"api root version", "GET", "/api/charts/myapp/1.0.0-rc.1+b.2", target{endpoint: epAPIVersion, name: "myapp", version: "1.0.0-rc.1+b.2"}, true},
		{"api version that is a file name", "GET", "/api/charts/charts/1.0.0-a.tgz", target{endpoint: epAPIVersion, name: "charts", version: "1.0.0-a.tgz"}, true},
		{"api templates", "GET", "/api/team/charts/myapp/1.0.0/templates", target{endpoint: epAPITemplates, ns: "team", name: "myapp", version: "1.0.0"}, true},
		{"api values", "GET", "/api/team/charts/myapp/1.0.0/values", target{endpoint: epAPIValues, ns: "team", name: "myapp", version: "1.0.0"}, true},
		{"api root values of latest", "GET", "/api/charts/myapp/latest/values", target{endpoint: epAPIValues, name: "myapp", version: "latest"}, true},
		{"api templates in team/charts", "GET", "/api/team/charts/charts/myapp/1.0.0-rc.1/templates", target{endpoint: epAPITemplates, ns: "team/charts", name: "myapp", version: "1.0.0-rc.1"}, true},
		{"api templates of a chart named templates", "GET", "/api/charts/templates/1.0.0/templates", target{endpoint: epAPITemplates, name: "templates", version: "1.0.0"}, true},
		{"chart named values", "GET", "/api/team/charts/values", target{endpoint: epAPIChart, ns: "team", name: "values"}, true},
		{"api values without a version", "GET", "/api/team/charts/myapp/v1/values", target{}, false},
		{"escaped slash", "GET", "/team%2Fx/index.yaml", target{}, false},
		{"empty segment", "GET", "/team//index.yaml", target{}, false},
		{"root", "GET", "/", target{}, false},
		{"unknown", "GET", "/team/other", target{}, false},
		{"api unknown", "GET", "/api/team/other", target{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parsePath(tc.method, tc.path)
			if ok != tc.ok || ok && !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("parsePath(%s %s) = %+v, %v; want %+v, %v", tc.method, tc.path, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestSplitArchiveName(t *testing.T) {
	cases := []struct {
		file string
		want []nameVersion
		prov bool
	}{
		{"myapp-1.0.0.tgz", []nameVersion{{"myapp", "1.0.0"}}, false},
		{"my-app-1.0.0.tgz", []nameVersion{{"my-app", "1.0.0"}}, false},
		{"my-app-1.0.0-rc-1.tgz", []nameVersion{{"my-app", "1.0.0-rc-1"}}, false},
		{"my-app-1.0.0-rc.1+build-7.tgz.prov", []nameVersion{{"my-app", "1.0.0-rc.1+build-7"}}, true},
		{"a-1.0.0-2.0.0.tgz", []nameVersion{{"a", "1.0.0-2.0.0"}, {"a-1.0.0", "2.0.0"}}, false},
		{"my.app-1.0.0.tgz", []nameVersion{{"my.app", "1.0.0"}}, false},
		{"myapp-v1.0.0.tgz", nil, false},
		{"myapp-1.0.tgz", nil, false},
		{"1.0.0.tgz", nil, false},
		{"-1.0.0.tgz", nil, false},
		{"myapp-1.0.0.zip", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			got, prov := archiveFile(tc.file)
			if !reflect.DeepEqual(got, tc.want) || prov != tc.prov {
				t.Fatalf("archiveFile(%q) = %v, %v; want %v, %v", tc.file, got, prov, tc.want, tc.prov)
			}
		})
	}
}

func TestAcceptsGzip(t *testing.T) {
	cases := map[string]bool{
		"":                      false,
		"gzip":                  true,
		"gzip, deflate, br":     true,
		"br;q=1.0, gzip;q=0.8":  true,
		"gzip;q=0":              false,
		"identity":              false,
		"*":                     true,
		"*;q=0":                 false,
		"x-gzip":                true,
		"deflate, GZIP;q=0.5":   true,
		"identity, *;q=0, gzip": true,
	}
	for header, want := range cases {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	e := newEnv(t, Options{})
	cases := []struct {
		name, method, path string
		status             int
	}{
		{"unknown path", "GET", "/team/whatever", http.StatusNotFound},
		{"root", "GET", "/", http.StatusNotFound},
		{"post to an index", "POST", "/team/index.yaml", http.StatusMethodNotAllowed},
		{"delete a chart", "DELETE", "/api/team/charts/myapp", http.StatusMethodNotAllowed},
		{"bad namespace", "GET", "/Team/index.yaml", http.StatusBadRequest},
		{"dot-dot namespace", "GET", "/team/%2e%2e/index.yaml", http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.send(tc.method, tc.path, nil)
			if r.status != tc.status {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, r.status, r.body, tc.status)
			}
			r.errorMessage(t)
			if tc.status == http.StatusMethodNotAllowed && r.header.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
		})
	}
}

// Every domain error of the registry has its status: none is answered with a 500 (a proxy
// namespace's failing upstream is a 502 on purpose: the gateway's upstream failed).
func TestEveryRegistryErrorHasAStatus(t *testing.T) {
	for _, s := range registrytest.Sentinels(t) {
		if status := statusOf(fmt.Errorf("op: %w: the detail", s.Err)); status == 0 || status >= 500 && !(s.Err == registry.ErrUpstream && status == http.StatusBadGateway) {
			t.Errorf("registry.%s is answered with %d: give it a status in the statuses table", s.Name, status)
		}
	}
}
