package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/chart/charttest"
)

var createdRE = regexp.MustCompile(`(?m)^    created: .*\n|"created":"[^"]*",?`)

// indexEntries returns a namespace's YAML and JSON index entries of one version, created
// times blanked.
func indexEntries(t *testing.T, r *Registry, ns, version string) (string, string) {
	t.Helper()
	var out [2]string
	for i, f := range []IndexFormat{IndexYAML, IndexJSON} {
		idx, err := r.Index(context.Background(), ns, f, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range idx.Entries {
			if e.Version == version {
				out[i] = createdRE.ReplaceAllString(string(e.YAML)+string(e.JSON), "")
			}
		}
		if out[i] == "" {
			t.Fatalf("namespace %q lists no version %s", ns, version)
		}
	}
	return out[0], out[1]
}

// charts the index must render from the archive alone, whichever client built the config.
func configCharts(t *testing.T) map[string][]byte {
	return map[string][]byte{
		"plain": simpleChart(t, "app", "1.0.0", "1.0", "x"),
		"v1 with requirements.yaml": charttest.Files(t, "app", map[string]string{
			"Chart.yaml":        "name: app\nversion: 1.0.0\ndescription: a Helm 2 chart\n",
			"requirements.yaml": "dependencies:\n- name: redis\n  version: ~17.0.0\n  repository: https://charts.example.com\n  condition: redis.enabled\n  tags: [cache]\n  import-values:\n  - child: a\n    parent: b\n  - data\n",
			"requirements.lock": "dependencies:\n- name: redis\n  version: 17.0.1\n  repository: https://charts.example.com\ndigest: sha256:0000\ngenerated: \"2020-01-01T00:00:00Z\"\n",
		}),
		"apiVersion v1 declared": charttest.Files(t, "app", map[string]string{
			"Chart.yaml": "apiVersion: v1\nname: app\nversion: 1.0.0\nappVersion: \"2\"\n",
		}),
		"rich metadata": charttest.Files(t, "app", map[string]string{
			"Chart.yaml": `apiVersion: v2
name: app
version: 1.0.0-rc.1+build.7
kubeVersion: ">=1.25.0-0"
description: |
  A chart
  over two lines	with a tab
type: application
keywords: [web, "http server"]
home: https://example.com
sources: [https://github.com/example/app, https://mirror.example.com/app]
icon: https://example.com/icon.svg
deprecated: true
annotations:
  artifacthub.io/license: Apache-2.0
  example.com/empty: ""
maintainers:
- name: Jane
  email: jane@example.com
  url: https://jane.example.com
- name: Bob
appVersion: "3.1"
dependencies:
- name: common
  version: 1.x.x
  repository: oci://registry.example.com/charts
  alias: lib
  enabled: true
- name: local
  version: 0.1.0
  repository: ""
  import-values:
  - child: data.x
    parent: y
`,
		}),
		"empty fields": charttest.Files(t, "app", map[string]string{
			"Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.0.0\ndescription: \"\"\nappVersion: \"\"\nkeywords: []\nmaintainers: []\nannotations: {}\nsources: []\nhome: \"\"\ndeprecated: false\ndependencies: []\ntype: \"\"\n",
		}),
		"library": charttest.Files(t, "app", map[string]string{
			"Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.0.0\ntype: library\n",
		}),
	}
}

// A chart pushed over OCI gets the index entry an upload of the same archive over the classic
// API gets, byte for byte (created aside), whether the config came from helm push, from
// chartroom push or is helm's with fields spelled empty; a config that disagrees with the
// archive is refused, naming the field.
func TestChartConfigAgreesWithArchive(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t, Options{})
	n := 0
	for name, archive := range configCharts(t) {
		t.Run(name, func(t *testing.T) {
			up, err := r.publishBytes(ctx, archive, PublishChartRequest{Namespace: fmt.Sprintf("api%d", n)})
			if err != nil {
				t.Fatal(err)
			}
			wantYAML, wantJSON := indexEntries(t, r, up.Namespace, up.Version)
			ours, err := r.readSmallBlob(ctx, up.Repository, mustConfigDigest(t, r, up), maxChartConfigSize)
			if err != nil {
				t.Fatal(err)
			}
			helms := helmConfig(t, archive)
			var spelled map[string]any
			json.Unmarshal(helms, &spelled)
			for k, v := range map[string]any{"keywords": []string{}, "home": "", "deprecated": false, "annotations": map[string]string{}, "tags": ""} {
				if _, ok := spelled[k]; !ok {
					spelled[k] = v
				}
			}
			empties, _ := json.Marshal(spelled)
			configs := []struct {
				name   string
				config []byte
			}{{"helm push", helms}, {"chartroom push", ours}, {"empty fields spelled out", empties}}
			if spelled["apiVersion"] == "v1" { // a config without apiVersion means v1, as helm reads Chart.yaml
				delete(spelled, "apiVersion")
				noAPIVersion, _ := json.Marshal(spelled)
				configs = append(configs, struct {
					name   string
					config []byte
				}{"apiVersion omitted", noAPIVersion})
			}
			for i, cfg := range configs {
				t.Run(cfg.name, func(t *testing.T) {
					ns := fmt.Sprintf("oci%d-%d", n, i)
					repo := ns + "/" + up.Name
					err := r.push(repo, chart.OCITag(up.Version), r.chartManifestFor(t, repo, cfg.config, archive, ""))
					if err != nil {
						t.Fatalf("config %s refused: %v", cfg.config, err)
					}
					gotYAML, gotJSON := indexEntries(t, r, ns, up.Version)
					if gotYAML != wantYAML || gotJSON != wantJSON {
						t.Fatalf("index entry of the OCI push differs from the upload's:\n%s\n%s\nwant\n%s\n%s", gotYAML, gotJSON, wantYAML, wantJSON)
					}
				})
			}
		})
		n++
	}

	archive := simpleChart(t, "evil", "1.0.0", "1.0", "x")
	refused := []struct {
		name, config string
		want         []string
	}{
		{"unknown field", `{"apiVersion":"v2","name":"evil","version":"1.0.0","appVersion":"1.0","x-unknown-field":1}`, []string{"x-unknown-field", "1", "absent"}},
		{"keywords not a list", `{"apiVersion":"v2","name":"evil","version":"1.0.0","appVersion":"1.0","keywords":"not-a-list"}`, []string{"keywords", `"not-a-list"`}},
		{"other appVersion", `{"apiVersion":"v2","name":"evil","version":"1.0.0","appVersion":"6.6.6"}`, []string{"appVersion", `"6.6.6"`, `"1.0"`}},
		{"description the archive lacks", `{"apiVersion":"v2","name":"evil","version":"1.0.0","appVersion":"1.0","description":"trusted"}`, []string{"description", `"trusted"`}},
		{"nested", `{"apiVersion":"v2","name":"evil","version":"1.0.0","appVersion":"1.0","maintainers":[{"name":"x","email":"y"}]}`, []string{"maintainers", `"x"`}},
		{"other apiVersion", `{"apiVersion":"v1","name":"evil","version":"1.0.0","appVersion":"1.0"}`, []string{"apiVersion", `"v1"`, `"v2"`}},
		{"apiVersion omitted for a v2 chart", `{"name":"evil","version":"1.0.0","appVersion":"1.0"}`, []string{"apiVersion", `"v1"`, `"v2"`}},
		{"a string for a number", `{"apiVersion":"v2","name":"evil","version":"1.0.0","appVersion":1.0}`, []string{"appVersion"}},
	}
	for _, tc := range refused {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			const repo = "team/evil"
			err := r.push(repo, "1.0.0", r.chartManifestFor(t, repo, []byte(tc.config), archive, ""))
			if !errors.Is(err, ErrChartInvalid) {
				t.Fatalf("got %v, want ErrChartInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if _, err := r.ChartVersion(ctx, "team", "evil", "1.0.0"); !errors.Is(err, ErrChartUnknown) {
		t.Fatalf("a refused config published the chart: %v", err)
	}
}

func mustConfigDigest(t *testing.T, r *Registry, c *ChartVersion) digest.Digest {
	t.Helper()
	m, err := r.GetManifest(context.Background(), c.Repository, c.ManifestDigest.String(), true)
	if err != nil {
		t.Fatal(err)
	}
	var doc ocispec.Manifest
	if err := json.Unmarshal(m.Content, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Config.Digest
}
