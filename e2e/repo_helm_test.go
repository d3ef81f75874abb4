package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestRepoHelm drives the classic chart repository with the real helm v3 and v4: charts
// signed by helm package --sign and uploaded over the ChartMuseum-style API are found by
// helm repo add/update/search, pulled and verified, templated, and used as dependencies next
// to a chart pushed over OCI; each protocol serves the other's bytes unchanged.
func TestRepoHelm(t *testing.T) {
	for _, h := range helmVersions {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			helm := need(t, h)
			key := newSigningKey(t)
			srv := StartServer(t)
			e := newToolEnv(t)
			c := adminClient(srv)
			host := srv.Host()
			repoURL := "http://" + host + "/team"
			work := t.TempDir()
			pkg := filepath.Join(work, "pkg")
			plain := "--plain-http"

			// Uploaded out of order, with a pre-release, over the API (multipart chart + prov).
			versions := [][2]string{{"1.2.0", "1.2"}, {"1.0.0", "1.0"}, {"2.0.0-rc.1", "2.0-rc"}, {"1.10.0", "1.10"}}
			archives := map[string]string{}
			for _, v := range versions {
				dir := repoChartDir(t, filepath.Join(work, "src-"+v[0]), "myapp", v[0], v[1])
				e.must(helm, "package", "--sign", "--key", key.name, "--keyring", key.secring, dir, "--destination", pkg)
				tgz := filepath.Join(pkg, "myapp-"+v[0]+".tgz")
				archives[v[0]] = tgz
				repoUploadFiles(t, c, "team", tgz, tgz+".prov")
			}

			e.must(helm, "repo", "add", "team", repoURL, "--username", "admin", "--password", srv.Password)
			e.must(helm, "repo", "update")

			t.Log("helm search lists every version, newest first, with its app version")
			want := [][2]string{{"2.0.0-rc.1", "2.0-rc"}, {"1.10.0", "1.10"}, {"1.2.0", "1.2"}, {"1.0.0", "1.0"}}
			if got := searchVersions(t, e.must(helm, "search", "repo", "team/myapp", "--versions", "--devel")); !reflect.DeepEqual(got, want) {
				t.Fatalf("helm search repo team/myapp --versions --devel = %v, want %v", got, want)
			}
			if got := searchVersions(t, e.must(helm, "search", "repo", "team/myapp", "--versions")); !reflect.DeepEqual(got, want[1:]) {
				t.Fatalf("helm search repo team/myapp --versions = %v, want the stable ones %v", got, want[1:])
			}

			t.Log("helm pull --verify checks the .prov made by helm package --sign")
			pulled := t.TempDir()
			out := e.must(helm, "pull", "team/myapp", "--version", "1.10.0", "--verify", "--keyring", key.pubring, "--destination", pulled)
			if !strings.Contains(out, "Chart Hash Verified") {
				t.Errorf("helm pull --verify did not report a verified hash:\n%s", out)
			}
			sameFile(t, filepath.Join(pulled, "myapp-1.10.0.tgz"), archives["1.10.0"])

			t.Log("helm template renders a chart from the repository")
			rendered := e.must(helm, "template", "rel", "team/myapp", "--version", "1.2.0")
			for _, s := range []string{"name: rel-myapp", `app: "1.2"`} {
				if !strings.Contains(rendered, s) {
					t.Errorf("helm template lacks %q:\n%s", s, rendered)
				}
			}

			t.Log("the JSON index: a repository URL with ?format=json")
			e.must(helm, "repo", "add", "teamjson", repoURL+"?format=json", "--username", "admin", "--password", srv.Password)
			if got := searchVersions(t, e.must(helm, "search", "repo", "teamjson/myapp", "--versions", "--devel")); !reflect.DeepEqual(got, want) {
				t.Fatalf("search through the JSON index = %v, want %v", got, want)
			}

			t.Log("uploaded over the API, pulled over OCI: the same bytes and digest")
			e.must(helm, "registry", "login", host, "--username", "admin", "--password", srv.Password, plain)
			pulled = t.TempDir()
			out = e.must(helm, "pull", "oci://"+host+"/team/myapp", "--version", "1.10.0", plain, "--destination", pulled)
			sameFile(t, filepath.Join(pulled, "myapp-1.10.0.tgz"), archives["1.10.0"])
			layers := chartLayers(t, c, "team/myapp", printedDigest(t, out))
			idx := repoGetIndex(t, c, "team")
			if d := indexDigest(idx, "myapp", "1.10.0"); layers[chartLayer] != "sha256:"+d || d != fileSHA256(t, archives["1.10.0"]) {
				t.Fatalf("index digest %s, OCI layer %s, file %s", d, layers[chartLayer], fileSHA256(t, archives["1.10.0"]))
			}
			if layers[provLayer] == "" {
				t.Fatal("the OCI manifest of an upload with a .prov has no provenance layer")
			}

			t.Log("pushed with helm push oci://, listed in index.yaml and served from charts/")
			depDir := repoChartDir(t, filepath.Join(work, "src-dep"), "ocidep", "0.3.0", "3.0")
			e.must(helm, "package", "--sign", "--key", key.name, "--keyring", key.secring, depDir, "--destination", pkg)
			depTgz := filepath.Join(pkg, "ocidep-0.3.0.tgz")
			out = e.must(helm, "push", depTgz, "oci://"+host+"/team", plain)
			layers = chartLayers(t, c, "team/ocidep", printedDigest(t, out))
			idx = repoGetIndex(t, c, "team")
			if d := indexDigest(idx, "ocidep", "0.3.0"); "sha256:"+d != layers[chartLayer] {
				t.Fatalf("index digest of the OCI push %s, layer digest %s", d, layers[chartLayer])
			}
			if got, _ := os.ReadFile(depTgz); !bytes.Equal(repoGet(t, c, "/team/charts/ocidep-0.3.0.tgz", http.StatusOK), got) {
				t.Fatal("charts/ocidep-0.3.0.tgz differs from the archive helm pushed")
			}
			if got, _ := os.ReadFile(depTgz + ".prov"); !bytes.Equal(repoGet(t, c, "/team/charts/ocidep-0.3.0.tgz.prov", http.StatusOK), got) {
				t.Fatal("charts/ocidep-0.3.0.tgz.prov differs from the .prov helm pushed")
			}
			e.must(helm, "repo", "update")
			pulled = t.TempDir()
			e.must(helm, "pull", "team/ocidep", "--version", "0.3.0", "--verify", "--keyring", key.pubring, "--destination", pulled)
			sameFile(t, filepath.Join(pulled, "ocidep-0.3.0.tgz"), depTgz)

			t.Log("helm dependency build fetches from chartroom by http(s)://…/<ns> and by oci://")
			parent := repoChartDir(t, filepath.Join(work, "src-parent"), "parent", "0.1.0", "1.0",
				[3]string{"myapp", "1.10.0", repoURL}, [3]string{"ocidep", "0.3.0", "oci://" + host + "/team"})
			e.must(helm, "dependency", "build", parent, plain)
			sameFile(t, filepath.Join(parent, "charts", "myapp-1.10.0.tgz"), archives["1.10.0"])
			sameFile(t, filepath.Join(parent, "charts", "ocidep-0.3.0.tgz"), depTgz)
			rendered = e.must(helm, "template", "rel", parent)
			for _, s := range []string{"name: rel-myapp", "name: rel-ocidep", `app: "3.0"`} {
				if !strings.Contains(rendered, s) {
					t.Errorf("the parent chart's template lacks %q", s)
				}
			}
		})
	}
}

// searchVersions reads `helm search repo` output: (chart version, app version) per row.
func searchVersions(t testing.TB, out string) [][2]string {
	t.Helper()
	var rows [][2]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] == "NAME" {
			continue
		}
		rows = append(rows, [2]string{f[1], f[2]})
	}
	return rows
}

// sameFile fails the test unless two files hold the same bytes.
func sameFile(t testing.TB, got, want string) {
	t.Helper()
	if g, w := fileSHA256(t, got), fileSHA256(t, want); g != w {
		t.Fatalf("%s has sha256 %s; want %s (%s)", got, g, w, want)
	}
}

// indexDigest is the digest an index lists for a chart version, "" when it is not listed.
func indexDigest(idx repoIndex, name, version string) string {
	for _, v := range idx.Entries[name] {
		if v.Version == version {
			return v.Digest
		}
	}
	return ""
}

// Helm's OCI layer media types.
const (
	chartLayer = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	provLayer  = "application/vnd.cncf.helm.chart.provenance.v1.prov"
)

// chartLayers fetches a chart manifest and returns its layer digests by media type.
func chartLayers(t testing.TB, c *ociClient, repo, manifestDigest string) map[string]string {
	t.Helper()
	resp, body, err := c.do("GET", "/v2/"+repo+"/manifests/"+manifestDigest, nil,
		map[string]string{"Accept": "application/vnd.oci.image.manifest.v1+json"})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET manifest %s@%s: %v %v %s", repo, manifestDigest, err, resp, body)
	}
	var m struct {
		Layers []struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range m.Layers {
		out[l.MediaType] = l.Digest
	}
	return out
}
