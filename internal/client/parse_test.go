package client

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseChartRef(t *testing.T) {
	env := newTestEnv(t)
	os.MkdirAll(filepath.Dir(env.repoConfig), 0o755)
	os.WriteFile(env.repoConfig, []byte("repositories:\n- name: team\n  url: https://charts.example.com/team/\n"), 0o644)
	c := env.client(t, Options{})
	for _, tc := range []struct {
		name    string
		args    []string
		repo    string
		want    string // ChartRef.String()
		version string
		err     string
	}{
		{"oci", []string{"oci://h:5000/team/charts/myapp"}, "", "oci://h:5000/team/charts/myapp", "", ""},
		{"oci with version", []string{"oci://h/team/myapp:1.2.3_build.1"}, "", "oci://h/team/myapp", "1.2.3+build.1", ""},
		{"oci at root", []string{"oci://h:5000/myapp"}, "", "oci://h:5000/myapp", "", ""},
		{"oci without chart", []string{"oci://h/"}, "", "", "", "names no chart"},
		{"oci with --repo", []string{"oci://h/team/myapp"}, "https://h/team", "", "", "--repo is for chart repositories"},
		{"repo and name", []string{"https://h/team", "myapp"}, "", "https://h/team myapp", "", ""},
		{"repo index.yaml and name", []string{"https://h/team/index.yaml", "myapp"}, "", "https://h/team myapp", "", ""},
		{"helm --repo", []string{"myapp"}, "http://h:8080/team/", "http://h:8080/team myapp", "", ""},
		{"helm repo/name", []string{"team/myapp"}, "", "https://charts.example.com/team myapp", "", ""},
		{"unknown helm repo", []string{"other/myapp"}, "", "", "", "no repository named other"},
		{"bare name", []string{"myapp"}, "", "", "", "does not say where the chart is"},
		{"oci as repo", []string{"oci://h/team", "myapp"}, "", "", "", "oci://h/team/myapp"},
		{"bad name", []string{"https://h/team", "../x"}, "", "", "", "not a chart name"},
		{"credentials in URL", []string{"https://u:p@h/team", "x"}, "", "", "", "do not put credentials in the URL"},
		{"ftp", []string{"ftp://h/team", "x"}, "", "", "", "not a registry location"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := c.ParseChartRef(tc.args, tc.repo)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ref.String() != tc.want || ref.Version != tc.version {
				t.Errorf("got %q version %q, want %q version %q", ref.String(), ref.Version, tc.want, tc.version)
			}
		})
	}
}

func TestPickVersion(t *testing.T) {
	versions := []string{"2.1.0-rc.1", "2.0.0", "1.10.0", "1.9.3", "v1.2.0", "1.0.0"}
	for _, tc := range []struct {
		want, got string
		ok        bool
	}{
		{"", "2.0.0", true},
		{"^1", "1.10.0", true},
		{"~1.9", "1.9.3", true},
		{"v1.2.0", "v1.2.0", true}, // written exactly as published
		{"1.2.0", "v1.2.0", true},  // as a constraint
		{">=2.1.0-0", "2.1.0-rc.1", true},
		{"^3", "", false},
	} {
		got, ok, err := pickVersion(versions, tc.want)
		if err != nil || ok != tc.ok || got != tc.got {
			t.Errorf("pickVersion(%q) = %q %v %v, want %q %v", tc.want, got, ok, err, tc.got, tc.ok)
		}
	}
	if _, _, err := pickVersion(versions, "one"); err == nil {
		t.Error("a word is not a constraint")
	}
}

func TestResolveURL(t *testing.T) {
	for _, tc := range []struct{ repo, ref, want string }{
		{"https://h/team", "charts/a-1.0.0.tgz", "https://h/team/charts/a-1.0.0.tgz"},
		{"https://h/team/", "charts/a-1.0.0.tgz", "https://h/team/charts/a-1.0.0.tgz"},
		{"https://h", "a-1.0.0.tgz", "https://h/a-1.0.0.tgz"},
		{"https://h/team", "/other/a-1.0.0.tgz", "https://h/other/a-1.0.0.tgz"},
		{"https://h/team", "https://cdn.example.com/a-1.0.0.tgz", "https://cdn.example.com/a-1.0.0.tgz"},
	} {
		loc, err := parseLocation(tc.repo)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := resolveURL(loc, tc.ref); err != nil || got != tc.want {
			t.Errorf("resolveURL(%s, %s) = %s %v, want %s", tc.repo, tc.ref, got, err, tc.want)
		}
	}
}

func TestLocations(t *testing.T) {
	loc, _ := parseLocation("https://h:8443/team/charts/")
	if loc.uploadURL() != "https://h:8443/api/team/charts/charts" || loc.indexURL() != "https://h:8443/team/charts/index.yaml" {
		t.Errorf("upload %s index %s", loc.uploadURL(), loc.indexURL())
	}
	root, _ := parseLocation("http://h")
	if root.uploadURL() != "http://h/api/charts" || root.indexURL() != "http://h/index.yaml" {
		t.Errorf("root upload %s index %s", root.uploadURL(), root.indexURL())
	}
	oci, _ := parseLocation("oci://h:5000/team/")
	if oci.ociRef("myapp", "1.0.0+b") != "h:5000/team/myapp:1.0.0_b" || oci.String() != "oci://h:5000/team" {
		t.Errorf("oci ref %s string %s", oci.ociRef("myapp", "1.0.0+b"), oci)
	}
	if _, err := parseLocation("oci://h/team/myapp:1.0.0"); err == nil {
		t.Error("a push destination with a tag is refused")
	}
}

func TestLoginHost(t *testing.T) {
	for _, tc := range []struct {
		in, host string
		plain    bool
		bad      bool
	}{
		{"charts.example.com", "charts.example.com", false, false},
		{"localhost:8080", "localhost:8080", false, false},
		{"oci://localhost:8080/team", "localhost:8080", false, false},
		{"https://charts.example.com/team", "charts.example.com", false, false},
		{"http://localhost:8080/team", "localhost:8080", true, false},
		{"", "", false, true},
		{"user@host", "", false, true},
	} {
		host, plain, err := LoginHost(tc.in)
		if (err != nil) != tc.bad || host != tc.host || plain != tc.plain {
			t.Errorf("LoginHost(%q) = %q %v %v", tc.in, host, plain, err)
		}
	}
}

func TestHelmPaths(t *testing.T) {
	t.Setenv("HELM_REGISTRY_CONFIG", "")
	t.Setenv("HELM_CONFIG_HOME", "/cfg/helm")
	if got := DefaultHelmRegistryConfig(); got != "/cfg/helm/registry/config.json" {
		t.Errorf("HELM_CONFIG_HOME: %s", got)
	}
	t.Setenv("HELM_CONFIG_HOME", "")
	t.Setenv("XDG_CONFIG_HOME", "/xdg")
	if got := DefaultHelmRegistryConfig(); got != "/xdg/helm/registry/config.json" {
		t.Errorf("XDG_CONFIG_HOME: %s", got)
	}
	t.Setenv("HELM_REGISTRY_CONFIG", "/explicit.json")
	if got := DefaultHelmRegistryConfig(); got != "/explicit.json" {
		t.Errorf("HELM_REGISTRY_CONFIG: %s", got)
	}
	t.Setenv("DOCKER_CONFIG", "/d")
	if got := DefaultDockerConfig(); got != "/d/config.json" {
		t.Errorf("DOCKER_CONFIG: %s", got)
	}
	t.Setenv("HELM_REPOSITORY_CONFIG", "")
	if got := DefaultHelmRepositoryConfig(); got != "/xdg/helm/repositories.yaml" {
		t.Errorf("repositories.yaml: %s", got)
	}
}
