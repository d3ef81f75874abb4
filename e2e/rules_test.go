package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The registry's rules against the real helm v3 and v4: what helm push uploads is accepted
// and indexed exactly as an upload of the same archive; forged configs, extra tags on chart
// manifests and tags of deleted versions are refused, so helm pull --version always returns
// the version asked for.

// rulesCharts are chart directories covering what Chart.yaml can say: apiVersion v1 with
// requirements.yaml, dependencies (vendored in charts/), annotations, maintainers, fields
// written empty.
var rulesCharts = map[string]map[string]string{
	"legacy": {
		"Chart.yaml":               "apiVersion: v1\nname: legacy\nversion: 1.0.0\ndescription: a Helm 2 chart\nappVersion: \"2.4\"\nkeywords: [old]\n",
		"requirements.yaml":        "dependencies:\n- name: redis\n  version: ~17.0.0\n  repository: https://charts.example.com\n  condition: redis.enabled\n  tags: [cache]\n",
		"requirements.lock":        "dependencies:\n- name: redis\n  version: 17.0.1\n  repository: https://charts.example.com\ndigest: sha256:0000000000000000000000000000000000000000000000000000000000000000\ngenerated: \"2020-01-01T00:00:00Z\"\n",
		"values.yaml":              "redis:\n  enabled: false\n",
		"charts/redis/Chart.yaml":  "apiVersion: v1\nname: redis\nversion: 17.0.1\n",
		"templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-legacy\n",
	},
	"rich": {
		"Chart.yaml": `apiVersion: v2
name: rich
version: 1.2.3-rc.1+build.5
kubeVersion: ">=1.25.0-0"
description: |
  A chart whose description
  spans lines
type: application
keywords: [web, "http server"]
home: https://example.com
sources: [https://github.com/example/rich]
icon: https://example.com/icon.svg
annotations:
  artifacthub.io/license: Apache-2.0
  example.com/note: "x: y"
maintainers:
- name: Jane Doe
  email: jane@example.com
  url: https://jane.example.com
- name: Bob
appVersion: "3.1"
dependencies:
- name: common
  version: 0.1.x
  repository: https://charts.example.com
  alias: lib
  condition: lib.enabled
  import-values:
  - child: exported
    parent: imported
`,
		"values.yaml":              "lib:\n  enabled: true\n",
		"charts/common/Chart.yaml": "apiVersion: v2\nname: common\nversion: 0.1.4\ntype: library\n",
		"templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-rich\n",
	},
	"empties": {
		"Chart.yaml":  "apiVersion: v2\nname: empties\nversion: 0.0.1\ndescription: \"\"\nappVersion: \"\"\nkeywords: []\nmaintainers: []\nannotations: {}\nsources: []\nhome: \"\"\ndeprecated: false\n",
		"values.yaml": "",
	},
}

var volatileIndexRE = regexp.MustCompile(`(?m)^\s+created: .*\n|^generated: .*\n|"created":"[^"]*",?|"generated":"[^"]*",?`)

// indexWithoutTimes is a namespace's index (yaml or json) without its created and generated times.
func indexWithoutTimes(t *testing.T, c *ociClient, ns, file string) string {
	t.Helper()
	return volatileIndexRE.ReplaceAllString(string(repoGet(t, c, "/"+ns+"/"+file, http.StatusOK)), "")
}

// TestHelmPushIndexedAsUploaded: charts pushed by helm push (v3, v4) and chartroom push are
// accepted and get the index entries an upload of the same archives gets, byte for byte; a
// hand-made config that disagrees with its archive is refused, and the namespace's index
// stays readable by helm.
func TestHelmPushIndexedAsUploaded(t *testing.T) {
	for _, h := range helmVersions {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			helm := need(t, h)
			srv := StartServer(t)
			e := newToolEnv(t)
			c := adminClient(srv)
			host, plain := srv.Host(), "--plain-http"
			e.must(helm, "registry", "login", host, "--username", "admin", "--password", srv.Password, plain)

			work := t.TempDir()
			dist := filepath.Join(work, "dist")
			var archives []string
			for name, files := range rulesCharts {
				dir := filepath.Join(work, "src", name)
				checkWriteChart(t, dir, files)
				out := e.must(helm, "package", dir, "--destination", dist)
				archives = append(archives, strings.TrimSpace(out[strings.LastIndex(out, ": ")+2:]))
			}
			e.must(helm, "create", filepath.Join(work, "src", "created"))
			out := e.must(helm, "package", filepath.Join(work, "src", "created"), "--destination", dist)
			archives = append(archives, strings.TrimSpace(out[strings.LastIndex(out, ": ")+2:]))

			for _, tgz := range archives {
				e.must(helm, "push", tgz, "oci://"+host+"/helm", plain)
				e.tcMust("push", tgz, "oci://"+host+"/chartroom", plain)
				repoUploadFiles(t, c, "api", tgz, "")
			}
			for _, file := range []string{"index.yaml", "index.json"} {
				want := indexWithoutTimes(t, c, "api", file)
				for _, ns := range []string{"helm", "chartroom"} {
					if got := indexWithoutTimes(t, c, ns, file); got != want {
						t.Errorf("/%s/%s differs from the upload's /api/%s:\n%s\nwant\n%s", ns, file, file, got, want)
					}
				}
			}

			t.Log("a config that disagrees with the archive is refused; the index stays readable")
			archive, err := os.ReadFile(archives[0])
			if err != nil {
				t.Fatal(err)
			}
			var cfg map[string]any
			if err := json.Unmarshal(helmConfigOf(t, c, "helm", archives[0]), &cfg); err != nil {
				t.Fatal(err)
			}
			for field, value := range map[string]any{"x-unknown-field": 1, "keywords": "not-a-list", "appVersion": "6.6.6"} {
				forged := map[string]any{}
				for k, v := range cfg {
					forged[k] = v
				}
				forged[field] = value
				body, _ := json.Marshal(forged)
				name, version := forged["name"].(string), forged["version"].(string)
				status, msg := pushChart(t, c, "evil/"+name, strings.ReplaceAll(version, "+", "_"), body, archive)
				if status != http.StatusBadRequest || !strings.Contains(msg, "MANIFEST_INVALID") || !strings.Contains(msg, field) {
					t.Errorf("forged %s: %d %s", field, status, msg)
				}
			}
			e.must(helm, "repo", "add", "evil", "http://"+host+"/evil", "--username", "admin", "--password", srv.Password)
			e.must(helm, "repo", "add", "helmns", "http://"+host+"/helm", "--username", "admin", "--password", srv.Password)
			if out := e.must(helm, "search", "repo", "helmns/", "--devel"); !strings.Contains(out, "helmns/rich") || !strings.Contains(out, "helmns/legacy") {
				t.Errorf("helm search of the pushed charts:\n%s", out)
			}
		})
	}
}

// helmConfigOf fetches the config blob of the chart archive's version as helm pushed it to ns.
func helmConfigOf(t *testing.T, c *ociClient, ns, tgz string) []byte {
	t.Helper()
	base := strings.TrimSuffix(filepath.Base(tgz), ".tgz")
	m := regexp.MustCompile(`^(.*?)-(\d+\.\d+\.\d+.*)$`).FindStringSubmatch(base)
	if m == nil {
		t.Fatalf("archive name %s", tgz)
	}
	status, body, _, err := c.getManifest(ns+"/"+m[1], strings.ReplaceAll(m[2], "+", "_"))
	if err != nil || status != http.StatusOK {
		t.Fatalf("manifest of %s: %d %v", base, status, err)
	}
	var doc struct {
		Config struct {
			Digest string `json:"digest"`
		} `json:"config"`
	}
	json.Unmarshal(body, &doc)
	status, cfg, err := c.getBlob(ns+"/"+m[1], doc.Config.Digest)
	if err != nil || status != http.StatusOK {
		t.Fatalf("config of %s: %d %v", base, status, err)
	}
	return cfg
}

// pushChart pushes a chart as helm push does, with the config given, and returns the
// manifest push's status and body.
func pushChart(t *testing.T, c *ociClient, repo, tag string, config, archive []byte) (int, string) {
	t.Helper()
	for _, b := range [][]byte{config, archive} {
		if _, err := c.pushBlob(repo, b); err != nil {
			t.Fatal(err)
		}
	}
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaTypeManifest,
		"config":        map[string]any{"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": digestOf(config), "size": len(config)},
		"layers":        []any{map[string]any{"mediaType": chartLayer, "digest": digestOf(archive), "size": len(archive)}},
	})
	resp, body, err := c.do("PUT", "/v2/"+repo+"/manifests/"+tag, manifest, map[string]string{"Content-Type": mediaTypeManifest})
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// tagAttackEnv is a server with chart sq 2.0.0 pushed by the real helm, and 1.0.0 packaged.
type tagAttackEnv struct {
	t          *testing.T
	e          *toolEnv
	c          *ociClient
	helm, host string
	v1         string // sq-1.0.0.tgz
	d2         string // 2.0.0's manifest digest
	m2         []byte // and bytes
}

func newTagAttackEnv(t *testing.T, h tool) *tagAttackEnv {
	helm := need(t, h)
	srv := StartServer(t)
	a := &tagAttackEnv{t: t, e: newToolEnv(t), c: adminClient(srv), helm: helm, host: srv.Host()}
	a.e.must(helm, "registry", "login", a.host, "--username", "admin", "--password", srv.Password, "--plain-http")
	work := t.TempDir()
	a.v1 = tcHelmChart(t, a.e, helm, filepath.Join(work, "one"), "sq", "1.0.0")
	v2 := tcHelmChart(t, a.e, helm, filepath.Join(work, "two"), "sq", "2.0.0")
	a.d2 = printedDigest(t, a.e.must(helm, "push", v2, "oci://"+a.host+"/team", "--plain-http"))
	var err error
	if _, a.m2, _, err = a.c.getManifest("team/sq", a.d2); err != nil {
		t.Fatal(err)
	}
	return a
}

// push pushes the real 1.0.0 with helm.
func (a *tagAttackEnv) push() {
	a.t.Helper()
	a.e.must(a.helm, "push", a.v1, "oci://"+a.host+"/team", "--plain-http")
}

// pullIsV1 fails the test unless helm pull --version 1.0.0 returns the real 1.0.0.
func (a *tagAttackEnv) pullIsV1() {
	a.t.Helper()
	dest := a.t.TempDir()
	a.e.must(a.helm, "pull", "oci://"+a.host+"/team/sq", "--version", "1.0.0", "--plain-http", "--destination", dest)
	tcSameFile(a.t, filepath.Join(dest, "sq-1.0.0.tgz"), a.v1)
}

// attack PUTs a manifest to team/sq under ref and fails the test unless it answers want.
func (a *tagAttackEnv) attack(what, ref string, manifest []byte, want int) {
	a.t.Helper()
	resp, body, err := a.c.do("PUT", "/v2/team/sq/manifests/"+ref, manifest, map[string]string{"Content-Type": mediaTypeManifest})
	if err != nil {
		a.t.Fatal(err)
	}
	if resp.StatusCode != want {
		a.t.Fatalf("%s: %d %s, want %d", what, resp.StatusCode, body, want)
	}
	a.t.Logf("%s: %d %s", what, resp.StatusCode, body)
}

// TestHelmPullAfterExtraTagAttack: chart 2.0.0's manifest pushed again under tag 1.0.0 (by
// digest with ?tag=, or by tag) is refused, so the real 1.0.0 publishes and helm pull
// --version 1.0.0 returns it.
func TestHelmPullAfterExtraTagAttack(t *testing.T) {
	for _, h := range helmVersions {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			a := newTagAttackEnv(t, h)
			a.attack("2.0.0 by digest ?tag=1.0.0", a.d2+"?tag=1.0.0", a.m2, http.StatusBadRequest)
			a.attack("2.0.0 under tag 1.0.0", "1.0.0", a.m2, http.StatusBadRequest)
			a.push()
			a.pullIsV1()
		})
	}
}

// TestHelmPullAfterDeletedTagAttack: once 1.0.0 is deleted (over the classic API, or its tag
// over OCI), neither an image nor chart 2.0.0 takes its tag; the same archive published again
// does, and helm pull --version 1.0.0 returns it.
func TestHelmPullAfterDeletedTagAttack(t *testing.T) {
	for _, h := range helmVersions {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			a := newTagAttackEnv(t, h)
			a.push()
			for _, del := range []string{"classic API", "OCI tag delete"} {
				t.Logf("deleted through the %s, 1.0.0's tag stays reserved", del)
				path, want := "/api/team/charts/sq/1.0.0", http.StatusOK
				if del != "classic API" {
					path, want = "/v2/team/sq/manifests/1.0.0", http.StatusAccepted
				}
				if resp, body, err := a.c.do("DELETE", path, nil, nil); err != nil || resp.StatusCode != want {
					t.Fatalf("delete: %v %v %s", err, resp, body)
				}
				img := newImage("team/sq", "1.0.0", 64)
				for _, b := range img.blobs {
					if _, err := a.c.pushBlob("team/sq", b); err != nil {
						t.Fatal(err)
					}
				}
				a.attack("an image under tag 1.0.0", "1.0.0", img.manifest, http.StatusConflict)
				a.attack("an image by digest ?tag=1.0.0", img.digest+"?tag=1.0.0", img.manifest, http.StatusConflict)
				a.attack("2.0.0 by digest ?tag=1.0.0", a.d2+"?tag=1.0.0", a.m2, http.StatusBadRequest)
				if out, err := a.e.run(a.helm, "pull", "oci://"+a.host+"/team/sq", "--version", "1.0.0", "--plain-http", "--destination", t.TempDir()); err == nil {
					t.Fatalf("helm pull of the deleted 1.0.0 succeeded:\n%s", out)
				}
				a.push()
				a.pullIsV1()
			}
		})
	}
}
