//go:build !chartroom_norender

package render

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/chartroom/chartroom/internal/safeyaml"
	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"

	"github.com/chartroom/chartroom/internal/chart"
)

// DefaultKubeVersion is the Kubernetes version `helm template` assumes
// without --kube-version (.Capabilities.KubeVersion), e.g. "v1.20.0".
func DefaultKubeVersion() string { return chartutil.DefaultCapabilities.KubeVersion.Version }

// Render renders ch with default values (plus opts.Values) exactly as
// `helm template` does: dependencies enabled or disabled by their
// conditions and tags, import-values processed, values coalesced and
// validated against values.schema.json, and each template executed by
// Helm's engine. Missing subcharts (not vendored in charts/) are skipped,
// where `helm template` would refuse the chart.
func Render(ctx context.Context, ch *chart.Chart, opts Options) (*Result, error) {
	hc, out, caps, err := renderFiles(ctx, ch, &opts)
	if err != nil {
		return nil, err
	}
	res, err := resources(hc, out, opts.Namespace)
	if err != nil {
		return nil, err
	}
	crds, err := crdResources(hc)
	if err != nil {
		return nil, err
	}
	return &Result{Resources: res, CRDs: crds, KubeVersion: caps.KubeVersion.String()}, nil
}

// renderFiles executes ch's templates as Render describes (opts' defaults filled in) and
// returns Helm's chart, the rendered files by template path ("<chart>/templates/x.yaml") and
// the capabilities rendered with.
func renderFiles(ctx context.Context, ch *chart.Chart, opts *Options) (*helmchart.Chart, map[string]string, *chartutil.Capabilities, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, err
	}
	if opts.ReleaseName == "" {
		opts.ReleaseName = DefaultReleaseName
	}
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	caps := chartutil.DefaultCapabilities.Copy()
	if opts.KubeVersion != "" {
		kv, err := chartutil.ParseKubeVersion(opts.KubeVersion)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("render: invalid Kubernetes version %q: %w", opts.KubeVersion, err)
		}
		caps.KubeVersion = *kv
	}

	hc, err := helmChart(ch)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("render: %w", err)
	}
	if hc.Metadata.KubeVersion != "" && !chartutil.IsCompatibleRange(hc.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return nil, nil, nil, fmt.Errorf("render: %w: chart requires kubeVersion %s which is incompatible with Kubernetes %s",
			ErrKubeVersion, hc.Metadata.KubeVersion, caps.KubeVersion.String())
	}

	vals := opts.Values
	if vals == nil {
		vals = map[string]any{}
	}
	if err := chartutil.ProcessDependenciesWithMerge(hc, vals); err != nil {
		return nil, nil, nil, fmt.Errorf("render: dependencies: %w", err)
	}
	relOpts := chartutil.ReleaseOptions{Name: opts.ReleaseName, Namespace: opts.Namespace, Revision: 1, IsInstall: true}
	top, err := chartutil.ToRenderValuesWithSchemaValidation(hc, vals, relOpts, caps, opts.SkipSchemaValidation)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("render: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, err
	}
	var e engine.Engine
	out, err := e.Render(hc, top)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("render: %w", err)
	}
	return hc, out, caps, nil
}

// helmChart builds Helm's chart from ch, level by level, so that Helm's loader never parses
// YAML chartroom has not checked: each level's own files go through loader.LoadFiles (which
// parses Chart.yaml, values.yaml, requirements.yaml and the lock files with sigs.k8s.io/yaml,
// where an alias becomes a full copy) only after safeyaml.Check has measured them, and
// subcharts are the ones ch.Dependencies holds, already loaded and checked by chartroom,
// instead of charts/ entries Helm would read again (a charts/*.tgz would reach Helm's own
// LoadArchive unchecked). The result is what loader.LoadFiles gives for ch.Files.
func helmChart(ch *chart.Chart) (*helmchart.Chart, error) {
	files := make([]*loader.BufferedFile, 0, len(ch.Files))
	for _, f := range ch.Files {
		// Everything under charts/ but provenance files is a subchart to Helm.
		if strings.HasPrefix(f.Name, chart.ChartsDir+"/") && path.Ext(f.Name) != ".prov" {
			continue
		}
		switch f.Name {
		case chart.ChartfileName, chart.ValuesfileName, chart.RequirementsName, chart.LockfileName, chart.RequirementsLockName:
			if err := safeyaml.Check(f.Data); err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name, err)
			}
		}
		files = append(files, &loader.BufferedFile{Name: f.Name, Data: f.Data})
	}
	hc, err := loader.LoadFiles(files)
	if err != nil {
		return nil, err
	}
	for _, dep := range ch.Dependencies {
		sc, err := helmChart(dep)
		if err != nil {
			return nil, fmt.Errorf("subchart %s: %w", dep.Path, err)
		}
		hc.AddDependency(sc)
	}
	return hc, nil
}

// crdResources reads the objects of crds/ of the chart and its enabled
// subcharts (Helm's Chart.CRDObjects).
func crdResources(hc *helmchart.Chart) ([]Resource, error) {
	var res []Resource
	for _, crd := range hc.CRDObjects() {
		for _, doc := range sortedDocs(string(crd.File.Data)) {
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if err := safeyaml.Unmarshal([]byte(doc), &head); err != nil {
				return nil, fmt.Errorf("render: YAML parse error on %s: %w", crd.Filename, err)
			}
			if head.Kind == "" {
				continue
			}
			res = append(res, Resource{
				APIVersion: head.APIVersion, Kind: head.Kind, Name: head.Metadata.Name,
				Template: strings.TrimPrefix(crd.Filename, hc.Name()+"/"), Doc: doc,
			})
		}
	}
	return res, nil
}
