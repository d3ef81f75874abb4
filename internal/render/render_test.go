//go:build !chartroom_norender

package render_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/render"
)

func load(t *testing.T, dir string) *chart.Chart {
	t.Helper()
	ch, err := chart.LoadDir(context.Background(), dir, chart.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func names(rs []render.Resource) []string {
	var out []string
	for _, r := range rs {
		hook := ""
		if r.Hook {
			hook = " (hook)"
		}
		out = append(out, r.Template+" "+r.APIVersion+" "+r.String()+hook)
	}
	return out
}

func TestRenderDefaults(t *testing.T) {
	res, err := render.Render(context.Background(), load(t, "testdata/webapp"), render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"charts/cache/templates/statefulset.yaml apps/v1 StatefulSet/release-name-cache",
		"templates/capabilities.yaml v1 ConfigMap/kube-20",
		"templates/deployment.yaml apps/v1 Deployment/release-name-webapp",
		"templates/deployment.yaml v1 Secret/other/release-name-webapp-generated",
		"templates/hook.yaml batch/v1 Job/release-name-webapp-migrate (hook)",
		"templates/service.yaml v1 Service/release-name-webapp",
	}
	if got := names(res.Resources); !slices.Equal(got, want) {
		t.Errorf("resources:\n got %q\nwant %q", got, want)
	}
	if got := names(res.CRDs); !slices.Equal(got, []string{"crds/widgets.yaml apiextensions.k8s.io/v1 CustomResourceDefinition/widgets.example.com"}) {
		t.Errorf("CRDs: %q", got)
	}
	if res.KubeVersion != render.DefaultKubeVersion() {
		t.Errorf("kube version %s", res.KubeVersion)
	}
}

// TestRenderIfFlip shows that a resource behind an `if` on a values
// default disappears when the default flips, and that a disabled
// dependency's resources go too: templates are executed, not scanned.
func TestRenderIfFlip(t *testing.T) {
	ch := load(t, "testdata/webapp")
	for _, f := range ch.Files {
		if f.Name == "values.yaml" {
			s := strings.Replace(string(f.Data), "service:\n  enabled: true", "service:\n  enabled: false", 1)
			s = strings.Replace(s, "cache:\n  enabled: true", "cache:\n  enabled: false", 1)
			f.Data = []byte(s)
		}
	}
	res, err := render.Render(context.Background(), ch, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names(res.Resources) {
		if strings.Contains(n, "Service/") || strings.Contains(n, "StatefulSet/") {
			t.Errorf("still rendered: %s", n)
		}
	}
	// User values work like helm template -f.
	res, err = render.Render(context.Background(), ch, render.Options{Values: map[string]any{"ingress": map[string]any{"enabled": true}}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names(res.Resources), "templates/ingress.yaml networking.k8s.io/v1 Ingress/release-name-webapp") {
		t.Errorf("ingress not rendered with -f values: %q", names(res.Resources))
	}
}

func TestRenderKubeVersion(t *testing.T) {
	ch := load(t, "testdata/webapp")
	res, err := render.Render(context.Background(), ch, render.Options{KubeVersion: "1.29"})
	if err != nil {
		t.Fatal(err)
	}
	if res.KubeVersion != "v1.29" || !slices.Contains(names(res.Resources), "templates/capabilities.yaml v1 ConfigMap/kube-29") {
		t.Errorf("kube version %s, resources %q", res.KubeVersion, names(res.Resources))
	}
	_, err = render.Render(context.Background(), ch, render.Options{KubeVersion: "1.18"})
	if !errors.Is(err, render.ErrKubeVersion) {
		t.Errorf("kubeVersion >=1.19.0-0 with Kubernetes 1.18: err %v, want ErrKubeVersion", err)
	}
}

func TestRenderErrors(t *testing.T) {
	ch := load(t, "testdata/webapp")
	for _, f := range ch.Files {
		if f.Name == "templates/service.yaml" {
			f.Data = []byte(`{{ required "service.name is required" .Values.service.name }}`)
		}
	}
	_, err := render.Render(context.Background(), ch, render.Options{})
	if err == nil || !strings.Contains(err.Error(), "service.name is required") {
		t.Errorf("err %v, want the template's required message", err)
	}
}

// TestMatchesHelmBinary compares the resources with what the pinned helm
// binary prints for `helm template` (set CHARTROOM_HELM3, see scripts/tools.sh).
func TestMatchesHelmBinary(t *testing.T) {
	helm := helmBinary()
	if helm == "" {
		t.Skip("CHARTROOM_HELM3 not set and bin/tools.env absent (make tools, or scripts/tools.sh helm3)")
	}
	out, err := exec.Command(helm, "template", "testdata/webapp").Output()
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	var fromHelm []string
	for _, part := range strings.Split(string(out), "---\n# Source: ") {
		src, body, ok := strings.Cut(part, "\n")
		if !ok {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(body), &head); err != nil {
			t.Fatal(err)
		}
		if head.Kind == "" {
			continue
		}
		r := render.Resource{APIVersion: head.APIVersion, Kind: head.Kind, Name: head.Metadata.Name,
			Namespace: head.Metadata.Namespace, Template: strings.TrimPrefix(src, "webapp/")}
		if r.Namespace == "" {
			r.Namespace = render.DefaultNamespace
		}
		fromHelm = append(fromHelm, r.Template+" "+r.APIVersion+" "+r.String())
	}
	res, err := render.Render(context.Background(), load(t, "testdata/webapp"), render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ours []string
	for _, n := range names(res.Resources) {
		ours = append(ours, strings.TrimSuffix(n, " (hook)"))
	}
	slices.Sort(fromHelm)
	slices.Sort(ours)
	if !slices.Equal(ours, fromHelm) {
		t.Errorf("differs from helm template:\n ours %q\n helm %q", ours, fromHelm)
	}
}

// helmBinary is the pinned helm v3: $CHARTROOM_HELM3, else the one `make
// tools` listed in bin/tools.env; "" if neither.
func helmBinary() string {
	if h := os.Getenv("CHARTROOM_HELM3"); h != "" {
		return h
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "bin", "tools.env"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if h, ok := strings.CutPrefix(line, "CHARTROOM_HELM3="); ok {
			if _, err := os.Stat(h); err == nil {
				return h
			}
		}
	}
	return ""
}

// TestRenderChecksYAMLBeforeHelm: Helm's loader parses values.yaml, Chart.yaml,
// requirements.yaml and lock files with sigs.k8s.io/yaml, which copies every alias. Render
// hands it nothing safeyaml has not measured, at any level, whoever built the chart: here a
// chart changed after loading, at the top and in a subchart (values 32 KiB, aliased 1,000
// times: 32 MiB once expanded).
func TestRenderChecksYAMLBeforeHelm(t *testing.T) {
	bomb := "\nbomb: &bomb " + strings.Repeat("x", 32<<10) + "\nbombs: [" + strings.Repeat("*bomb, ", 999) + "*bomb]\n"
	addBomb := func(t *testing.T, c *chart.Chart, name string) {
		f := c.File(name)
		if f == nil {
			t.Fatalf("%s has no %s", c.Metadata.Name, name)
		}
		f.Data = append(append([]byte{}, f.Data...), bomb...)
	}
	for _, name := range []string{"values.yaml", "Chart.yaml"} {
		t.Run(name, func(t *testing.T) {
			ch := load(t, "testdata/webapp")
			addBomb(t, ch, name)
			_, err := render.Render(context.Background(), ch, render.Options{})
			if err == nil || !strings.Contains(err.Error(), "aliases") {
				t.Fatalf("Render = %v, want a refusal naming the aliases", err)
			}
		})
		t.Run("subchart "+name, func(t *testing.T) {
			ch := load(t, "testdata/webapp")
			addBomb(t, ch, "charts/cache/"+name) // as the top chart lists it
			addBomb(t, ch.Dependencies[0], name) // as the subchart does
			_, err := render.Render(context.Background(), ch, render.Options{})
			if err == nil || !strings.Contains(err.Error(), "aliases") {
				t.Fatalf("Render = %v, want a refusal naming the aliases", err)
			}
		})
	}
}

// A subchart kept as an archive (charts/*.tgz) renders as the same subchart kept as a
// directory: Render takes it from the chart chartroom loaded, not from Helm's reading of it.
func TestRenderSubchartArchive(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "webapp")
	if err := os.CopyFS(dir, os.DirFS("testdata/webapp")); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "charts", "cache")
	if _, _, err := chart.PackageToDir(context.Background(), cache, filepath.Join(dir, "charts"), chart.PackageOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(cache); err != nil {
		t.Fatal(err)
	}
	ch := load(t, dir)
	if len(ch.Dependencies) != 1 || !strings.HasSuffix(ch.Dependencies[0].Path, ".tgz") {
		t.Fatalf("dependencies %+v, want the cache archive", ch.Dependencies)
	}
	fromArchive, err := render.Render(context.Background(), ch, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fromDir, err := render.Render(context.Background(), load(t, "testdata/webapp"), render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(fromArchive.Resources), names(fromDir.Resources); !slices.Equal(got, want) {
		t.Errorf("with charts/cache-*.tgz:\n got %q\nwant %q", got, want)
	}
}
