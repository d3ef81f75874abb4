// Package render renders a chart the way `helm template` does with default
// values, using Helm's own template engine (helm.sh/helm/v3 v3.22.0:
// pkg/engine, pkg/chartutil, pkg/chart/loader, pkg/releaseutil), and
// returns the identities of the rendered Kubernetes resources.
//
// It is the only chartroom package that imports Helm's engine: the engine
// brings in Kubernetes client libraries (for `lookup`), so keeping it here
// keeps them out of every other package's dependencies. Rendering never
// talks to a cluster: `lookup` returns empty results, as in `helm template`.
package render

import (
	"context"
	"errors"
	"fmt"
	"strings"

	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"sigs.k8s.io/yaml"

	"github.com/chartroom/chartroom/internal/chart"
)

// Defaults of `helm template` without flags.
const (
	// DefaultReleaseName is the release name `helm template` uses when none is given.
	DefaultReleaseName = "release-name"
	// DefaultNamespace is the release namespace without a kube context.
	DefaultNamespace = "default"
)

// DefaultKubeVersion is the Kubernetes version `helm template` assumes
// without --kube-version (.Capabilities.KubeVersion), e.g. "v1.20.0".
func DefaultKubeVersion() string { return chartutil.DefaultCapabilities.KubeVersion.Version }

// Options tune [Render]. The zero value renders like `helm template CHART`.
type Options struct {
	// ReleaseName is .Release.Name (default [DefaultReleaseName]).
	ReleaseName string
	// Namespace is .Release.Namespace (default [DefaultNamespace]); it is
	// also the namespace of rendered resources that name none.
	Namespace string
	// KubeVersion is .Capabilities.KubeVersion, as `helm template
	// --kube-version` takes it ("1.29", "v1.29.3"); empty means
	// [DefaultKubeVersion].
	KubeVersion string
	// Values are user-supplied values, merged over the chart's defaults as
	// `helm template -f` does; nil means the defaults alone.
	Values map[string]any
	// SkipSchemaValidation skips validating values against
	// values.schema.json (`helm template --skip-schema-validation`).
	SkipSchemaValidation bool
}

// Resource is one rendered Kubernetes object.
type Resource struct {
	// APIVersion is "apps/v1", "v1", ….
	APIVersion string `json:"apiVersion"`
	// Kind is "Deployment", ….
	Kind string `json:"kind"`
	// Namespace is metadata.namespace, or the release namespace if unset.
	Namespace string `json:"namespace"`
	// Name is metadata.name.
	Name string `json:"name"`
	// Template is the template that rendered it, relative to the top
	// chart: "templates/deployment.yaml" or "charts/redis/templates/x.yaml".
	Template string `json:"template"`
	// Hook is true for Helm hooks (helm.sh/hook annotation).
	Hook bool `json:"hook,omitempty"`
}

// Group is the API group of APIVersion ("" for the core group).
func (r Resource) Group() string {
	g, _, ok := strings.Cut(r.APIVersion, "/")
	if !ok {
		return ""
	}
	return g
}

// Key identifies the object in a cluster: group, kind, namespace and name.
// The API version is not part of it: apps/v1beta2 and apps/v1 Deployments
// of the same name are the same object.
func (r Resource) Key() string {
	return r.Group() + "|" + r.Kind + "|" + r.Namespace + "|" + r.Name
}

// String is "Kind/name" (with "namespace/" before name when it is not the default).
func (r Resource) String() string {
	if r.Namespace != "" && r.Namespace != DefaultNamespace {
		return r.Kind + "/" + r.Namespace + "/" + r.Name
	}
	return r.Kind + "/" + r.Name
}

// Result is what one chart renders to.
type Result struct {
	// Resources are the rendered objects (hooks included, NOTES.txt and
	// partials excluded), sorted by template, then order in the template.
	Resources []Resource
	// CRDs are the objects in crds/ of the chart and its enabled
	// subcharts, which `helm install` creates first and `helm template
	// --include-crds` prints; they are not templates.
	CRDs []Resource
	// KubeVersion is the .Capabilities.KubeVersion used ("v1.20.0").
	KubeVersion string
}

// ErrKubeVersion is wrapped when the chart's kubeVersion constraint rejects
// the Kubernetes version rendered for, as `helm template` refuses it.
var ErrKubeVersion = errors.New("chart kubeVersion incompatible")

// Render renders ch with default values (plus opts.Values) exactly as
// `helm template` does: dependencies enabled or disabled by their
// conditions and tags, import-values processed, values coalesced and
// validated against values.schema.json, and each template executed by
// Helm's engine. Missing subcharts (not vendored in charts/) are skipped,
// where `helm template` would refuse the chart.
func Render(ctx context.Context, ch *chart.Chart, opts Options) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
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
			return nil, fmt.Errorf("render: invalid Kubernetes version %q: %w", opts.KubeVersion, err)
		}
		caps.KubeVersion = *kv
	}

	files := make([]*loader.BufferedFile, 0, len(ch.Files))
	for _, f := range ch.Files {
		files = append(files, &loader.BufferedFile{Name: f.Name, Data: f.Data})
	}
	hc, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	if hc.Metadata.KubeVersion != "" && !chartutil.IsCompatibleRange(hc.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("render: %w: chart requires kubeVersion %s which is incompatible with Kubernetes %s",
			ErrKubeVersion, hc.Metadata.KubeVersion, caps.KubeVersion.String())
	}

	vals := opts.Values
	if vals == nil {
		vals = map[string]any{}
	}
	if err := chartutil.ProcessDependenciesWithMerge(hc, vals); err != nil {
		return nil, fmt.Errorf("render: dependencies: %w", err)
	}
	relOpts := chartutil.ReleaseOptions{Name: opts.ReleaseName, Namespace: opts.Namespace, Revision: 1, IsInstall: true}
	top, err := chartutil.ToRenderValuesWithSchemaValidation(hc, vals, relOpts, caps, opts.SkipSchemaValidation)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var e engine.Engine
	out, err := e.Render(hc, top)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
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
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				return nil, fmt.Errorf("render: YAML parse error on %s: %w", crd.Filename, err)
			}
			if head.Kind == "" {
				continue
			}
			res = append(res, Resource{
				APIVersion: head.APIVersion, Kind: head.Kind, Name: head.Metadata.Name,
				Template: strings.TrimPrefix(crd.Filename, hc.Name()+"/"),
			})
		}
	}
	return res, nil
}
