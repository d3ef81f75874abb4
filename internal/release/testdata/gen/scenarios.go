package main

// scenarios are written to NN-name in this order.
var scenarios = append(append([]scenario{}, contentScenarios...), ruleScenarios...)

// contentScenarios cover identical content, templates, values and values.schema.json.
var contentScenarios = []scenario{
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
			Changes: []string{"patch templates templates/deployment.yaml | changed", "patch resources Deployment/release-name-webapp | rendered differently"}},
	},
	{
		name:    "content-changed-without-bump",
		changed: templateFix,
		expect: Expect{Description: "content changed but the version did not: a published version never changes",
			Required: "patch", Verdict: "fail", Suggested: "1.4.3",
			Changes:  []string{"patch templates templates/deployment.yaml", "patch resources Deployment/release-name-webapp | rendered differently"},
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
			Changes: []string{"minor values .podLabels | added", "patch templates templates/deployment.yaml", "patch resources Deployment/release-name-webapp | rendered differently"}},
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
			Changes: []string{"patch values .replicaCount | default changed from 1 to 2", "patch resources Deployment/release-name-webapp | rendered differently"}},
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
}
