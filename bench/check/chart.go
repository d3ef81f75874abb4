package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// componentLines is how many values.yaml lines one component takes.
const componentLines = 25

// component writes the values of component i (componentLines lines).
func component(b *strings.Builder, i int) {
	fmt.Fprintf(b, `  c%03d:
    enabled: true
    replicas: 1
    image:
      repository: registry.example.com/team/c%03d
      tag: "1.0.%d"
      pullPolicy: IfNotPresent
    service:
      type: ClusterIP
      port: %d
    resources:
      limits:
        cpu: 100m
        memory: 128Mi
      requests:
        cpu: 50m
        memory: 64Mi
    env:
      LOG_LEVEL: info
      FEATURE_FLAGS: "a,b,c"
    labels:
      team: team-%d
      tier: backend
    annotations:
      example.com/owner: team-%d
`, i, i, i, 8000+i, i%10, i%10)
}

const helpers = `{{- define "big.labels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{- with .values.labels }}
{{ toYaml . }}
{{- end }}
{{- end }}
`

// template renders component i: a Deployment and a Service, while enabled.
func template(i int) string {
	return fmt.Sprintf(`{{- $c := .Values.components.c%03[1]d }}
{{- if $c.enabled }}
{{- $ctx := dict "name" "c%03[1]d" "root" . "values" $c }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-c%03[1]d
  labels:
    {{- include "big.labels" $ctx | nindent 4 }}
  annotations:
    {{- toYaml $c.annotations | nindent 4 }}
spec:
  replicas: {{ $c.replicas }}
  selector:
    matchLabels:
      app.kubernetes.io/name: c%03[1]d
  template:
    metadata:
      labels:
        {{- include "big.labels" $ctx | nindent 8 }}
    spec:
      containers:
        - name: c%03[1]d
          image: "{{ $c.image.repository }}:{{ $c.image.tag | default $.Chart.AppVersion }}"
          imagePullPolicy: {{ $c.image.pullPolicy }}
          env:
            {{- range $k, $v := $c.env }}
            - name: {{ $k }}
              value: {{ $v | quote }}
            {{- end }}
          resources:
            {{- toYaml $c.resources | nindent 12 }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-c%03[1]d
spec:
  type: {{ $c.service.type }}
  selector:
    app.kubernetes.io/name: c%03[1]d
  ports:
    - port: {{ $c.service.port }}
{{- end }}
`, i)
}

const schema = `{
  "type": "object",
  "required": ["components"],
  "properties": {
    "image": {"type": "object", "properties": {"tag": {"type": "string"}}},
    "components": {
      "type": "object",
      "additionalProperties": {
        "type": "object",
        "required": ["enabled", "image"],
        "properties": {
          "enabled": {"type": "boolean"},
          "replicas": {"type": "integer", "minimum": 0},
          "image": {
            "type": "object",
            "required": ["repository"],
            "properties": {
              "repository": {"type": "string"},
              "tag": {"type": "string"},
              "pullPolicy": {"type": "string", "enum": ["Always", "IfNotPresent", "Never"]}
            }
          },
          "service": {"type": "object", "properties": {"port": {"type": "integer"}, "type": {"type": "string"}}},
          "resources": {"type": "object"},
          "env": {"type": "object", "additionalProperties": {"type": "string"}},
          "labels": {"type": "object"},
          "annotations": {"type": "object"}
        }
      }
    }
  }
}
`

// writeCharts writes the baseline (1.0.0) and a changed copy (1.0.1: a patch bump,
// too small for its changes).
func writeCharts(base, changed string, templates, lines int) error {
	files := map[string]string{
		"Chart.yaml":             "apiVersion: v2\nname: big\nversion: 1.0.0\nappVersion: \"2.0.0\"\nkubeVersion: \">=1.19.0-0\"\n",
		"values.schema.json":     schema,
		"templates/_helpers.tpl": helpers,
	}
	var v strings.Builder
	v.WriteString("# A large chart for benchmarks.\nimage:\n  tag: \"2.0.0\"\ncomponents:\n")
	for i := range templates {
		component(&v, i)
		files[fmt.Sprintf("templates/c%03d.yaml", i)] = template(i)
	}
	// Pad to the requested length with documented, unused settings.
	for n := 4 + templates*componentLines; n < lines; n++ {
		if n == 4+templates*componentLines {
			v.WriteString("extra:\n")
			continue
		}
		fmt.Fprintf(&v, "  setting%05d: value-%d\n", n, n)
	}
	files["values.yaml"] = v.String()
	if err := write(base, files); err != nil {
		return err
	}

	c := map[string]string{}
	for k, val := range files {
		c[k] = val
	}
	c["Chart.yaml"] = strings.Replace(c["Chart.yaml"], "version: 1.0.0", "version: 1.0.1", 1)
	vals := c["values.yaml"]
	vals = strings.Replace(vals, "  c007:\n    enabled: true", "  c007:\n    enabled: false", 1)                                  // a resource removed
	vals = strings.Replace(vals, "  c010:\n    enabled: true\n    replicas: 1", "  c010:\n    enabled: true\n    replicas: 3", 1) // a default
	vals = strings.Replace(vals, "      FEATURE_FLAGS: \"a,b,c\"\n    labels:\n      team: team-2\n", "    labels:\n      team: team-2\n", 1)
	vals = strings.Replace(vals, "  c020:\n    enabled: true\n", "  c020:\n    enabled: true\n    priorityClassName: high\n", 1)
	c["values.yaml"] = vals
	c["templates/c199.yaml"] = strings.Replace(c["templates/c199.yaml"], "kind: Service", "kind: Service # edited", 1)
	return write(changed, c)
}

func write(dir string, files map[string]string) error {
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			return err
		}
	}
	return nil
}
