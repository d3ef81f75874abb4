// Package render renders a chart the way `helm template` does with default
// values, using Helm's own template engine (helm.sh/helm/v3 v3.22.0:
// pkg/engine, pkg/chartutil, pkg/chart/loader, pkg/releaseutil), and
// returns the identities of the rendered Kubernetes resources.
//
// It is the only chartroom package that imports Helm's engine: the engine
// brings in Kubernetes client libraries (for `lookup`), so keeping it here
// keeps them out of every other package's dependencies. Rendering never
// talks to a cluster: `lookup` returns empty results, as in `helm template`.
//
// Built with -tags chartroom_norender, the package leaves Helm's engine
// (and the Kubernetes libraries) out of the binary and [Render] answers
// [ErrUnavailable].
package render

import (
	"errors"
	"strings"
)

// Defaults of `helm template` without flags.
const (
	// DefaultReleaseName is the release name `helm template` uses when none is given.
	DefaultReleaseName = "release-name"
	// DefaultNamespace is the release namespace without a kube context.
	DefaultNamespace = "default"
)

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
	// Doc is the rendered YAML document, as Helm split it (for comparing two renders).
	Doc string `json:"-"`
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

// ErrUnavailable is returned by [Render] in a chartroom built without
// Helm's template engine (-tags chartroom_norender).
var ErrUnavailable = errors.New("this chartroom was built without helm's template engine (-tags chartroom_norender)")
