// Package release enforces release discipline: it compares a chart with the
// last published version of it (the baseline), classifies every change by
// the SemVer bump it requires, and checks the chart's version against that.
//
// Severities ([Severity]):
//
//   - major (breaking): a values key removed or renamed, a value's type
//     changed, values.schema.json made stricter (new required property,
//     removed property, narrowed type, enum, const, bound or pattern,
//     additionalProperties: false added), a resource that `helm template`
//     renders with default values removed or its kind/name changed,
//     kubeVersion narrowed, a dependency removed or its major version
//     changed, the chart's name or type changed;
//   - minor: new values keys, new optional schema properties, new
//     templates or rendered resources, new dependencies;
//   - patch: any other change to the chart's content, among them a resource
//     rendered differently (apart from the chart's version and appVersion);
//   - none: the same content (Chart.yaml's version aside).
//
// Resources are found by rendering both charts with Helm's engine
// ([render.Render]), never by reading template text.
//
// The discipline ([Check]): the version is strict SemVer, greater than the
// baseline's when the content changed, by at least the required bump (in
// 0.y.z a minor bump may break and a patch bump may add, as SemVer allows
// for initial development; prereleases of the same version may change
// anything); appVersion never changes without the version; Chart.lock
// matches Chart.yaml; appVersion follows the default image tag (a warning,
// an error with [Options.Strict]).
package release
