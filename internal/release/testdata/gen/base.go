package main

// baseChart is the chart every scenario starts from (version 1.4.2).
var baseChart = files{
	"Chart.yaml": `apiVersion: v2
name: webapp
description: A small web application
type: application
version: 1.4.2
appVersion: "1.25.3"
kubeVersion: ">=1.19.0-0"
`,
	"values.yaml": `# Default values for webapp.
replicaCount: 1

image:
  repository: nginx
  tag: "1.25.3"
  pullPolicy: IfNotPresent

podAnnotations: {}

service:
  enabled: true
  type: ClusterIP
  port: 80

ingress:
  enabled: false
  host: chart.example.com

resources: {}
`,
	"values.schema.json": `{
  "type": "object",
  "properties": {
    "replicaCount": {"type": "integer", "minimum": 1},
    "image": {
      "type": "object",
      "properties": {
        "repository": {"type": "string"},
        "tag": {"type": "string"},
        "pullPolicy": {"type": "string", "enum": ["Always", "IfNotPresent", "Never"]}
      },
      "required": ["repository"]
    },
    "service": {
      "type": "object",
      "properties": {
        "enabled": {"type": "boolean"},
        "type": {"type": "string"},
        "port": {"type": ["integer", "string"]}
      }
    },
    "ingress": {"type": "object"},
    "resources": {"type": "object"}
  }
}
`,
	"templates/_helpers.tpl": `{{- define "webapp.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
`,
	"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "webapp.fullname" . }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      app: {{ include "webapp.fullname" . }}
  template:
    metadata:
      labels:
        app: {{ include "webapp.fullname" . }}
      {{- with .Values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
`,
	"templates/service.yaml": `{{- if .Values.service.enabled }}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "webapp.fullname" . }}
spec:
  type: {{ .Values.service.type }}
  selector:
    app: {{ include "webapp.fullname" . }}
  ports:
    - port: {{ .Values.service.port }}
{{- end }}
`,
	"templates/ingress.yaml": `{{- if .Values.ingress.enabled }}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ include "webapp.fullname" . }}
spec:
  rules:
    - host: {{ .Values.ingress.host }}
{{- end }}
`,
	"templates/NOTES.txt": `{{ .Chart.Name }} {{ .Chart.AppVersion }} is installed as {{ .Release.Name }}.
`,
}

const cacheTemplate = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ .Release.Name }}-cache
`

const metricsTemplate = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-metrics
`

// withCache adds the cache dependency, vendored at 1.2.0 and locked.
func withCache(f files) {
	f["Chart.yaml"] += `dependencies:
  - name: cache
    version: "~1.2.0"
    repository: https://charts.example.com
`
	subchart(f, "cache", "1.2.0", cacheTemplate)
	lock(f, map[string]string{"cache": "1.2.0"})
}

// withoutPodAnnotations removes the podAnnotations key and its use.
func withoutPodAnnotations(f files) {
	f.replace("values.yaml", "podAnnotations: {}\n\n", "")
	f.replace("templates/deployment.yaml", `      {{- with .Values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
`, "")
}

// withoutRepository removes .image.repository (values, schema, template).
func withoutRepository(f files) {
	f.replace("values.yaml", "  repository: nginx\n", "")
	f.replace("values.schema.json", `        "repository": {"type": "string"},
`, "")
	f.replace("values.schema.json", `,
      "required": ["repository"]`, "")
	f.replace("templates/deployment.yaml", `{{ .Values.image.repository }}`, "nginx")
}

func templateFix(f files) {
	f.replace("templates/deployment.yaml", "spec:\n  replicas:", "spec:\n  revisionHistoryLimit: 5\n  replicas:")
}
