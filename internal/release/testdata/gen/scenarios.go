package main

// scenarios are written to NN-name in this order.
var scenarios = []scenario{
	{
		name: "identical",
		expect: Expect{Description: "byte-identical content and the same version: nothing to release",
			Required: "none", Verdict: "ok", Suggested: "1.4.2"},
	},
	{
		name:    "identical-version-bumped",
		changed: func(f files) { f.version("1.4.3") },
		expect: Expect{Description: "only the version changed: no change requires a bump, a greater version is fine",
			Required: "none", Verdict: "ok", Suggested: "1.4.2"},
	},
	{
		name:    "template-fix-patch",
		changed: func(f files) { templateFix(f); f.version("1.4.3") },
		expect: Expect{Description: "a template change that keeps every resource is a patch",
			Required: "patch", Verdict: "ok", Suggested: "1.4.3",
			Changes: []string{"patch templates templates/deployment.yaml | changed"}},
	},
	{
		name:    "content-changed-without-bump",
		changed: templateFix,
		expect: Expect{Description: "content changed but the version did not: a published version never changes",
			Required: "patch", Verdict: "fail", Suggested: "1.4.3",
			Changes:  []string{"patch templates templates/deployment.yaml"},
			Problems: []string{"error version-unchanged | a published version never changes: bump to 1.4.3"}},
	},
	{
		name:    "values-key-removed-patch-bump",
		changed: func(f files) { withoutRepository(f); f.version("1.4.3") },
		expect: Expect{Description: "a removed values key is breaking; a patch bump is not enough and the report names the key",
			Required: "major", Verdict: "fail", Suggested: "2.0.0",
			Changes: []string{
				"major values .image.repository | removed",
				"major schema .image.repository | property removed",
				"patch schema .image.repository | no longer required",
				"patch templates templates/deployment.yaml",
			},
			Problems: []string{"error bump-too-small | values: .image.repository removed"}},
	},
	{
		name:    "values-key-removed-major-bump",
		changed: func(f files) { withoutRepository(f); f.version("2.0.0") },
		expect: Expect{Description: "a removed values key with a major bump passes",
			Required: "major", Verdict: "ok", Suggested: "2.0.0",
			Changes: []string{
				"major values .image.repository | removed",
				"major schema .image.repository | property removed",
				"patch schema .image.repository | no longer required",
				"patch templates templates/deployment.yaml",
			}},
	},
	{
		name: "values-key-renamed",
		changed: func(f files) {
			f.replace("values.yaml", "  repository: nginx", "  name: nginx")
			f.replace("values.schema.json", `"repository": {"type": "string"}`, `"name": {"type": "string"}`)
			f.replace("values.schema.json", `"required": ["repository"]`, `"required": ["name"]`)
			f.replace("templates/deployment.yaml", ".Values.image.repository", ".Values.image.name")
			f.version("2.0.0")
		},
		expect: Expect{Description: "a key moved to a new name with the same value is reported as renamed (major)",
			Required: "major", Verdict: "ok", Suggested: "2.0.0",
			Changes: []string{
				"major values .image.repository | renamed to .image.name",
				"major schema .image.repository | property removed",
				"major schema .image.name | now required",
				"patch schema .image.repository | no longer required",
				"patch templates templates/deployment.yaml",
			}},
	},
	{
		name: "values-subtree-renamed",
		changed: func(f files) {
			f.replace("values.yaml", "ingress:\n", "httpRoute:\n")
			f.replace("values.schema.json", `"ingress": {"type": "object"}`, `"httpRoute": {"type": "object"}`)
			f.replace("templates/ingress.yaml", ".Values.ingress.enabled", ".Values.httpRoute.enabled")
			f.replace("templates/ingress.yaml", ".Values.ingress.host", ".Values.httpRoute.host")
			f.version("2.0.0")
		},
		expect: Expect{Description: "a whole map moved under a new key is one rename",
			Required: "major", Verdict: "ok", Suggested: "2.0.0",
			Changes: []string{
				"major values .ingress | renamed to .httpRoute",
				"major schema .ingress | property removed",
				"minor schema .httpRoute | optional property added",
				"patch templates templates/ingress.yaml",
			}},
	},
	{
		name: "values-type-number-to-string",
		changed: func(f files) {
			f.replace("values.yaml", "  port: 80", `  port: "80"`)
			f.version("1.5.0")
		},
		expect: Expect{Description: "a number default that becomes a string is a type change (major)",
			Required: "major", Verdict: "fail", Suggested: "2.0.0",
			Changes:  []string{"major values .service.port | type changed from number to string"},
			Problems: []string{"error bump-too-small | is a minor bump over 1.4.2"}},
	},
	{
		name: "values-type-map-to-scalar",
		changed: func(f files) {
			f.replace("values.yaml", "podAnnotations: {}", `podAnnotations: ""`)
			f.version("2.0.0")
		},
		expect: Expect{Description: "a map default that becomes a string is a type change (major)",
			Required: "major", Verdict: "ok", Suggested: "2.0.0",
			Changes: []string{"major values .podAnnotations | type changed from map to string"}},
	},
	{
		name: "values-key-added-minor",
		changed: func(f files) {
			f.replace("values.yaml", "podAnnotations: {}\n", "podAnnotations: {}\npodLabels:\n  tier: web\n")
			f.replace("templates/deployment.yaml", "        app: {{ include \"webapp.fullname\" . }}\n      {{- with",
				"        app: {{ include \"webapp.fullname\" . }}\n        {{- with .Values.podLabels }}\n        {{- toYaml . | nindent 8 }}\n        {{- end }}\n      {{- with")
			f.version("1.5.0")
		},
		expect: Expect{Description: "a new values key is a new feature (minor)",
			Required: "minor", Verdict: "ok", Suggested: "1.5.0",
			Changes: []string{"minor values .podLabels | added", "patch templates templates/deployment.yaml"}},
	},
	{
		name: "values-key-added-patch-bump",
		changed: func(f files) {
			f.replace("values.yaml", "podAnnotations: {}\n", "podAnnotations: {}\npodLabels: {}\n")
			f.version("1.4.3")
		},
		expect: Expect{Description: "a new values key needs at least a minor bump",
			Required: "minor", Verdict: "fail", Suggested: "1.5.0",
			Changes:  []string{"minor values .podLabels | added"},
			Problems: []string{"error bump-too-small | bump to 1.5.0"}},
	},
	{
		name: "values-default-changed",
		changed: func(f files) {
			f.replace("values.yaml", "replicaCount: 1", "replicaCount: 2")
			f.version("1.4.3")
		},
		expect: Expect{Description: "a changed default is a patch",
			Required: "patch", Verdict: "ok", Suggested: "1.4.3",
			Changes: []string{"patch values .replicaCount | default changed from 1 to 2"}},
	},
	{
		name: "values-comments-only",
		changed: func(f files) {
			f.replace("values.yaml", "# Default values for webapp.", "# Defaults for webapp; see README.")
			f.version("1.4.3")
		},
		expect: Expect{Description: "comments in values.yaml change the archive: a patch",
			Required: "patch", Verdict: "ok", Suggested: "1.4.3",
			Changes: []string{"patch values  | comments or formatting only"}},
	},
	{
		name: "schema-new-required-property",
		changed: func(f files) {
			f.replace("values.schema.json", `"required": ["repository"]`, `"required": ["repository", "tag"]`)
			f.version("1.5.0")
		},
		expect: Expect{Description: "a property that becomes required makes the schema stricter (major)",
			Required: "major", Verdict: "fail", Suggested: "2.0.0",
			Changes:  []string{"major schema .image.tag | is now required"},
			Problems: []string{"error bump-too-small | schema: .image.tag is now required"}},
	},
	{
		name: "schema-property-removed",
		changed: func(f files) {
			f.replace("values.schema.json", `        "type": {"type": "string"},
`, "")
			f.version("2.0.0")
		},
		expect: Expect{Description: "a property removed from the schema is breaking",
			Required: "major", Verdict: "ok", Suggested: "2.0.0",
			Changes: []string{"major schema .service.type | property removed"}},
	},
	{
		name: "schema-type-narrowed",
		changed: func(f files) {
			f.replace("values.schema.json", `"port": {"type": ["integer", "string"]}`, `"port": {"type": "integer"}`)
			f.version("2.0.0")
		},
		expect: Expect{Description: "a narrower type in the schema is breaking",
			Required: "major", Verdict: "ok", Suggested: "2.0.0",
			Changes: []string{`major schema .service.port | type narrowed from ["integer","string"] to integer`}},
	},
	{
		name: "schema-enum-narrowed",
		changed: func(f files) {
			f.replace("values.schema.json", `["Always", "IfNotPresent", "Never"]`, `["Always", "IfNotPresent"]`)
			f.version("1.4.3")
		},
		expect: Expect{Description: "an enum value removed is breaking",
			Required: "major", Verdict: "fail", Suggested: "2.0.0",
			Changes:  []string{`major schema .image.pullPolicy | enum narrowed: ["Never"] no longer allowed`},
			Problems: []string{"error bump-too-small"}},
	},
	{
		name: "schema-additional-properties-false",
		changed: func(f files) {
			f.replace("values.schema.json", `      "required": ["repository"]`, `      "required": ["repository"],
      "additionalProperties": false`)
			f.version("2.0.0")
		},
		expect: Expect{Description: "additionalProperties: false refuses keys that were accepted",
			Required: "major", Verdict: "ok", Suggested: "2.0.0",
			Changes: []string{"major schema .image | additionalProperties: false added"}},
	},
	{
		name: "schema-optional-property-added",
		changed: func(f files) {
			f.replace("values.schema.json", `"tag": {"type": "string"},`, `"tag": {"type": "string"},
        "digest": {"type": "string"},`)
			f.replace("values.yaml", "  pullPolicy: IfNotPresent\n", "  pullPolicy: IfNotPresent\n  digest: \"\"\n")
			f.version("1.5.0")
		},
		expect: Expect{Description: "a new optional schema property with its values key is minor",
			Required: "minor", Verdict: "ok", Suggested: "1.5.0",
			Changes: []string{"minor schema .image.digest | optional property added", "minor values .image.digest | added"}},
	},
	{
		name: "schema-loosened",
		changed: func(f files) {
			f.replace("values.schema.json", `{"type": "integer", "minimum": 1}`, `{"type": "integer"}`)
			f.replace("values.schema.json", `"required": ["repository"]`, `"required": []`)
			f.version("1.4.3")
		},
		expect: Expect{Description: "a schema that accepts more is not breaking",
			Required: "patch", Verdict: "ok", Suggested: "1.4.3",
			Changes: []string{"patch schema .replicaCount | minimum loosened", "patch schema .image.repository | no longer required"}},
	},
	{
		name: "schema-added",
		base: func(f files) { delete(f, "values.schema.json") },
		changed: func(f files) {
			f["values.schema.json"] = `{
  "type": "object",
  "required": ["image"],
  "properties": {
    "image": {"type": "object"},
    "service": {"type": "object"}
  }
}
`
			f.version("2.0.0")
		},
		expect: Expect{Description: "a new schema with a required top-level property is breaking",
			Required: "major", Verdict: "ok", Suggested: "2.0.0",
			Changes: []string{
				"major schema .image | is now required",
				"minor schema .service | optional property added",
				"patch schema  | values.schema.json added",
			}},
	},
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
			Problems: []string{"error lock-out-of-sync | helm dependency update"}},
	},
	{
		name: "frozen-appversion-warn",
		changed: func(f files) {
			f.replace("values.yaml", `tag: "1.25.3"`, `tag: "1.25.4"`)
			f.version("1.4.3")
		},
		expect: Expect{Description: "the default image tag moved but appVersion did not: a warning",
			Required: "patch", Verdict: "warn", Suggested: "1.4.3",
			Changes:  []string{`patch values .image.tag | default changed from "1.25.3" to "1.25.4"`},
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
			Changes:  []string{"patch values .image.tag"},
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
			Changes:  []string{`patch chart appVersion | changed from "1.25.3" to "1.26.0"`, "patch values .image.tag"},
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
			Changes:  []string{"patch templates templates/deployment.yaml"},
			Problems: []string{"error version-not-greater | use 1.4.3 or later"}},
	},
	{
		name:    "version-not-strict-semver",
		changed: func(f files) { templateFix(f); f.version(`"1.4"`) },
		expect: Expect{Description: "versions are strict SemVer (MAJOR.MINOR.PATCH)",
			Required: "patch", Verdict: "fail", Suggested: "1.4.3",
			Changes:  []string{"patch templates templates/deployment.yaml"},
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
