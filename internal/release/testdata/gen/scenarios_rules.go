package main

// ruleScenarios cover rendered resources, kubeVersion, dependencies, appVersion and the
// version rules.
var ruleScenarios = []scenario{
	{
		name: "resource-removed-by-if-default-flip",
		changed: func(f files) {
			f.replace("values.yaml", "service:\n  enabled: true", "service:\n  enabled: false")
			f.version("1.4.3")
		},
		expect: Expect{Description: "flipping the default behind an `if` stops rendering the Service: helm template sees it, a template scan would not",
			Required: "major", Verdict: "fail", Suggested: "2.0.0",
			Changes: []string{
				"major resources Service/release-name-webapp | removed",
				"patch values .service.enabled | default changed from true to false",
			},
			Problems: []string{"error bump-too-small | resources: Service/release-name-webapp removed"}},
	},
	{
		name: "resource-renamed",
		changed: func(f files) {
			f.replace("templates/service.yaml", "  name: {{ include \"webapp.fullname\" . }}\n", "  name: {{ include \"webapp.fullname\" . }}-http\n")
			f.version("2.0.0")
		},
		expect: Expect{Description: "a rendered resource whose name changed is breaking (the old object is deleted)",
			Required: "major", Verdict: "ok", Suggested: "2.0.0",
			Changes: []string{
				"major resources Service/release-name-webapp | renamed: now Service/release-name-webapp-http",
				"patch templates templates/service.yaml",
			}},
	},
	{
		name: "resource-kind-changed",
		changed: func(f files) {
			f.replace("templates/deployment.yaml", "kind: Deployment", "kind: StatefulSet")
			f.version("1.5.0")
		},
		expect: Expect{Description: "a rendered resource whose kind changed is breaking",
			Required: "major", Verdict: "fail", Suggested: "2.0.0",
			Changes: []string{
				"major resources Deployment/release-name-webapp | kind changed: now StatefulSet/release-name-webapp",
				"patch templates templates/deployment.yaml",
			},
			Problems: []string{"error bump-too-small"}},
	},
	{
		name: "new-template",
		changed: func(f files) {
			f["templates/configmap.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include \"webapp.fullname\" . }}-config\ndata: {}\n"
			f.version("1.5.0")
		},
		expect: Expect{Description: "a new template rendering a new resource is minor",
			Required: "minor", Verdict: "ok", Suggested: "1.5.0",
			Changes: []string{
				"minor templates templates/configmap.yaml | added (new template)",
				"minor resources ConfigMap/release-name-webapp-config | added",
			}},
	},
	{
		name: "resource-enabled-by-default",
		changed: func(f files) {
			f.replace("values.yaml", "ingress:\n  enabled: false", "ingress:\n  enabled: true")
			f.version("1.5.0")
		},
		expect: Expect{Description: "a default flip that renders one more resource is minor",
			Required: "minor", Verdict: "ok", Suggested: "1.5.0",
			Changes: []string{
				"minor resources Ingress/release-name-webapp | added",
				"patch values .ingress.enabled | default changed from false to true",
			}},
	},
	{
		name: "crd-removed",
		base: func(f files) {
			f["crds/widgets.yaml"] = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n"
		},
		changed: func(f files) { delete(f, "crds/widgets.yaml"); f.version("1.4.3") },
		expect: Expect{Description: "a CRD dropped from crds/ is breaking",
			Required: "major", Verdict: "fail", Suggested: "2.0.0",
			Changes: []string{
				"major resources CustomResourceDefinition/widgets.example.com | removed",
				"patch files crds/widgets.yaml | removed",
			},
			Problems: []string{"error bump-too-small"}},
	},
	{
		name: "kubeversion-narrowed",
		changed: func(f files) {
			f.setChart("kubeVersion", `">=1.25.0-0"`)
			f.version("2.0.0")
		},
		expect: Expect{Description: "kubeVersion that drops supported Kubernetes versions is breaking",
			Required: "major", Verdict: "ok", Suggested: "2.0.0",
			Changes: []string{`major kubeVersion  | narrowed from ">=1.19.0-0" to ">=1.25.0-0"`}},
	},
	{
		name: "kubeversion-widened",
		changed: func(f files) {
			f.setChart("kubeVersion", `">=1.16.0-0"`)
			f.version("1.4.3")
		},
		expect: Expect{Description: "kubeVersion that accepts more versions is a patch",
			Required: "patch", Verdict: "ok", Suggested: "1.4.3",
			Changes: []string{"patch kubeVersion  | widened"}},
	},
	{
		name: "kubeversion-prerelease-dropped",
		changed: func(f files) {
			f.setChart("kubeVersion", `">=1.19.0"`)
			f.version("1.4.3")
		},
		expect: Expect{Description: "dropping -0 refuses vendor versions such as 1.27.3-gke.100: narrowed",
			Required: "major", Verdict: "fail", Suggested: "2.0.0",
			Changes:  []string{"major kubeVersion  | narrowed"},
			Problems: []string{"error bump-too-small"}},
	},
	{
		name: "kubeversion-or-ranges-widened",
		base: func(f files) { f.setChart("kubeVersion", `">= 1.21, < 1.30"`) },
		changed: func(f files) {
			f.setChart("kubeVersion", `">=1.21.0-0 <1.31.0-0 || ^2.0"`)
			f.version("1.4.3")
		},
		expect: Expect{Description: "ranges with ||, spaces and ^ compared as sets: every version accepted before still is",
			Required: "patch", Verdict: "ok", Suggested: "1.4.3",
			Changes: []string{"patch kubeVersion  | widened"}},
	},
	{
		name: "dependency-major-raised",
		base: withCache,
		changed: func(f files) {
			f.replace("Chart.yaml", `version: "~1.2.0"`, `version: "~2.0.0"`)
			subchart(f, "cache", "2.0.0", cacheTemplate)
			lock(f, map[string]string{"cache": "2.0.0"})
			f.version("2.0.0")
		},
		expect: Expect{Description: "a dependency raised to a new major version is breaking",
			Required: "major", Verdict: "ok", Suggested: "2.0.0",
			Changes: []string{
				"major dependencies cache | major version raised from 1.2.0 to 2.0.0",
				"patch files Chart.lock | changed",
				"patch files charts/cache/Chart.yaml | changed",
			}},
	},
	{
		name: "dependency-major-raised-minor-bump",
		base: withCache,
		changed: func(f files) {
			f.replace("Chart.yaml", `version: "~1.2.0"`, `version: "~2.0.0"`)
			subchart(f, "cache", "2.0.0", cacheTemplate)
			lock(f, map[string]string{"cache": "2.0.0"})
			f.version("1.5.0")
		},
		expect: Expect{Description: "a dependency's major raise with a minor bump fails",
			Required: "major", Verdict: "fail", Suggested: "2.0.0",
			Changes: []string{
				"major dependencies cache | major version raised",
				"patch files Chart.lock",
				"patch files charts/cache/Chart.yaml",
			},
			Problems: []string{"error bump-too-small | dependencies: cache major version raised"}},
	},
	{
		name: "dependency-optional-added",
		changed: func(f files) {
			f["Chart.yaml"] += `dependencies:
  - name: metrics
    version: "0.3.0"
    repository: https://charts.example.com
    condition: metrics.enabled
`
			f.replace("values.yaml", "resources: {}\n", "resources: {}\n\nmetrics:\n  enabled: false\n")
			subchart(f, "metrics", "0.3.0", metricsTemplate)
			lock(f, map[string]string{"metrics": "0.3.0"})
			f.version("1.5.0")
		},
		expect: Expect{Description: "a new dependency behind a condition is minor",
			Required: "minor", Verdict: "ok", Suggested: "1.5.0",
			Changes: []string{
				"minor dependencies metrics | optional dependency added",
				"minor values .metrics | added",
				"patch files Chart.lock | added",
				"patch files charts/metrics/Chart.yaml | added",
				"patch files charts/metrics/templates/metrics.yaml | added",
			}},
	},
	{
		name: "dependency-removed",
		base: withCache,
		changed: func(f files) {
			f.replace("Chart.yaml", "dependencies:\n  - name: cache\n    version: \"~1.2.0\"\n    repository: https://charts.example.com\n", "")
			dropSubchart(f, "cache")
			delete(f, "Chart.lock")
			f.version("2.0.0")
		},
		expect: Expect{Description: "a removed dependency, and its resources, are breaking",
			Required: "major", Verdict: "ok", Suggested: "2.0.0",
			Changes: []string{
				"major dependencies cache | dependency removed",
				"major resources StatefulSet/release-name-cache | removed",
				"patch files Chart.lock | removed",
				"patch files charts/cache/Chart.yaml | removed",
				"patch files charts/cache/templates/cache.yaml | removed",
			}},
	},
	{
		name: "lock-out-of-sync",
		base: withCache,
		changed: func(f files) {
			f.replace("Chart.yaml", `version: "~1.2.0"`, `version: "~1.3.0"`)
			f.version("1.4.3")
		},
		expect: Expect{Description: "Chart.yaml's dependencies changed but Chart.lock was not updated",
			Required: "patch", Verdict: "fail", Suggested: "1.4.3",
			Changes:  []string{`patch dependencies cache | version changed from "~1.2.0" to "~1.3.0"`},
			Problems: []string{"error lock-out-of-sync | run `chartroom lock`"}},
	},
	{
		name: "frozen-appversion-warn",
		changed: func(f files) {
			f.replace("values.yaml", `tag: "1.25.3"`, `tag: "1.25.4"`)
			f.version("1.4.3")
		},
		expect: Expect{Description: "the default image tag moved but appVersion did not: a warning",
			Required: "patch", Verdict: "warn", Suggested: "1.4.3",
			Changes:  []string{`patch values .image.tag | default changed from "1.25.3" to "1.25.4"`, "patch resources Deployment/release-name-webapp | rendered differently"},
			Problems: []string{`warning frozen-appversion | set appVersion to "1.25.4"`}},
	},
	{
		name: "frozen-appversion-strict",
		changed: func(f files) {
			f.replace("values.yaml", `tag: "1.25.3"`, `tag: "1.25.4"`)
			f.version("1.4.3")
		},
		expect: Expect{Description: "with --strict the frozen appVersion fails the check",
			Options:  &Options{Strict: true},
			Required: "patch", Verdict: "fail", Suggested: "1.4.3",
			Changes:  []string{"patch values .image.tag", "patch resources Deployment/release-name-webapp | rendered differently"},
			Problems: []string{"error frozen-appversion"}},
	},
	{
		name: "frozen-appversion-custom-key",
		base: func(f files) {
			f.replace("values.yaml", "resources: {}\n", "resources: {}\n\nserver:\n  version: \"1.25.3\"\n")
		},
		changed: func(f files) {
			f.replace("values.yaml", `  version: "1.25.3"`, `  version: "1.26.0"`)
			f.version("1.4.3")
		},
		expect: Expect{Description: "--image-tag-key picks the key holding the image tag",
			Options:  &Options{ImageTagKeys: []string{"server.version"}},
			Required: "patch", Verdict: "warn", Suggested: "1.4.3",
			Changes:  []string{"patch values .server.version"},
			Problems: []string{"warning frozen-appversion | .server.version"}},
	},
	{
		name: "appversion-differs-from-image-tag",
		changed: func(f files) {
			f.setChart("appVersion", `"1.26.0"`)
			f.replace("values.yaml", `tag: "1.25.3"`, `tag: "1.26.1"`)
			f.version("1.4.3")
		},
		expect: Expect{Description: "appVersion and the default image tag disagree: a warning",
			Required: "patch", Verdict: "warn", Suggested: "1.4.3",
			Changes:  []string{`patch chart appVersion | changed from "1.25.3" to "1.26.0"`, "patch values .image.tag", "patch resources Deployment/release-name-webapp | rendered differently"},
			Problems: []string{"warning appversion-image-tag-mismatch"}},
	},
	{
		name: "appversion-changed-without-version",
		changed: func(f files) {
			f.setChart("appVersion", `"1.25.4"`)
			f.replace("values.yaml", `tag: "1.25.3"`, `tag: "1.25.4"`)
		},
		expect: Expect{Description: "appVersion moved under the same chart version: rollbacks would deploy the new app",
			Required: "patch", Verdict: "fail", Suggested: "1.4.3",
			Changes:  []string{"patch chart appVersion", "patch values .image.tag"},
			Problems: []string{"error appversion-without-version | bump to 1.4.3"}},
	},
	{
		name:    "version-lower-than-baseline",
		changed: func(f files) { templateFix(f); f.version("1.4.1") },
		expect: Expect{Description: "the version must be greater than the published one",
			Required: "patch", Verdict: "fail", Suggested: "1.4.3",
			Changes:  []string{"patch templates templates/deployment.yaml", "patch resources Deployment/release-name-webapp | rendered differently"},
			Problems: []string{"error version-not-greater | use 1.4.3 or later"}},
	},
	{
		name:    "version-not-strict-semver",
		changed: func(f files) { templateFix(f); f.version(`"1.4"`) },
		expect: Expect{Description: "versions are strict SemVer (MAJOR.MINOR.PATCH)",
			Required: "patch", Verdict: "fail", Suggested: "1.4.3",
			Changes:  []string{"patch templates templates/deployment.yaml", "patch resources Deployment/release-name-webapp | rendered differently"},
			Problems: []string{"error version-not-semver | write it as 1.4.0"}},
	},
	{
		name: "zero-major-minor-bump-may-break",
		base: func(f files) { f.version("0.3.1") },
		changed: func(f files) {
			withoutPodAnnotations(f)
			f.version("0.4.0")
		},
		expect: Expect{Description: "in 0.y.z a minor bump may break (SemVer: initial development)",
			Required: "major", Verdict: "ok", Suggested: "0.4.0",
			Changes: []string{"major values .podAnnotations | removed", "patch templates templates/deployment.yaml"}},
	},
	{
		name: "zero-major-patch-bump-fails",
		base: func(f files) { f.version("0.3.1") },
		changed: func(f files) {
			withoutPodAnnotations(f)
			f.version("0.3.2")
		},
		expect: Expect{Description: "in 0.y.z a breaking change still needs the minor bump",
			Required: "major", Verdict: "fail", Suggested: "0.4.0",
			Changes:  []string{"major values .podAnnotations | removed", "patch templates templates/deployment.yaml"},
			Problems: []string{"error bump-too-small | bump to 0.4.0"}},
	},
	{
		name: "prerelease-next-prerelease",
		base: func(f files) { f.version("2.0.0-rc.1") },
		changed: func(f files) {
			withoutPodAnnotations(f)
			f.version("2.0.0-rc.2")
		},
		expect: Expect{Description: "prereleases of one version may change anything",
			Required: "major", Verdict: "ok", Suggested: "2.0.0-rc.2",
			Changes: []string{"major values .podAnnotations | removed", "patch templates templates/deployment.yaml"}},
	},
	{
		name:    "readme-added",
		changed: func(f files) { f["README.md"] = "# webapp\n"; f.version("1.4.3") },
		expect: Expect{Description: "any other file that changes the archive is a patch",
			Required: "patch", Verdict: "ok", Suggested: "1.4.3",
			Changes: []string{"patch files README.md | added"}},
	},
}
