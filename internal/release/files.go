package release

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"reflect"
	"strings"

	"github.com/chartroom/chartroom/internal/chart"
)

// files the comparison reads semantically rather than byte for byte.
var semanticFiles = map[string]bool{
	chart.ChartfileName: true, chart.LockfileName: true, chart.RequirementsLockName: true,
	chart.ValuesfileName: true, chart.SchemafileName: true,
}

// diffFiles compares every other file of the two charts byte for byte.
// Chart.yaml, lock files, values.yaml and values.schema.json are compared
// by their own rules; lock files here only by what Helm keeps of them
// (`helm package` rewrites them).
func diffFiles(base, cur *chart.Chart) []Change {
	var out []Change
	bf := map[string][]byte{}
	for _, f := range base.Files {
		bf[f.Name] = f.Data
	}
	cf := map[string]bool{}
	for _, f := range cur.Files {
		cf[f.Name] = true
		if semanticFiles[f.Name] {
			continue
		}
		old, ok := bf[f.Name]
		switch {
		case !ok:
			out = append(out, fileChange(f.Name, true, "added"))
		case !bytes.Equal(old, f.Data):
			out = append(out, fileChange(f.Name, true, "changed"))
		}
	}
	for _, f := range base.Files {
		if !cf[f.Name] && !semanticFiles[f.Name] {
			out = append(out, fileChange(f.Name, false, "removed"))
		}
	}
	if !sameLock(base.Lock, cur.Lock) {
		name := cur.LockFile
		if name == "" {
			name = base.LockFile
		}
		what := "changed (resolved dependencies or digest)"
		switch {
		case cur.Lock == nil:
			what = "removed"
		case base.Lock == nil:
			what = "added"
		}
		out = append(out, Change{Severity: Patch, Area: AreaFiles, Path: name, Message: what, File: cur.LockFile})
	}
	return out
}

// fileChange classifies one added, changed or removed file. A new
// template is a new feature (minor); helpers (_*.tpl) and NOTES.txt are
// not. A removed template's resources are judged by rendering.
func fileChange(name string, exists bool, what string) Change {
	c := Change{Severity: Patch, Area: AreaFiles, Path: name, Message: what}
	if exists {
		c.File = name
	}
	if strings.HasPrefix(name, chart.TemplatesDir+"/") {
		c.Area = AreaTemplates
		base := path.Base(name)
		if what == "added" && !strings.HasPrefix(base, "_") && base != "NOTES.txt" {
			c.Severity = Minor
			c.Message = "added (new template)"
		}
	}
	return c
}

// sameLock compares lock files as Helm keeps them: the resolved
// dependencies and the digest (not the generation time).
func sameLock(a, b *chart.Lock) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Digest == b.Digest && reflect.DeepEqual(a.Dependencies, b.Dependencies)
}

// diffMetadata compares Chart.yaml field by field; version is not a
// change (it is what the discipline checks). lines index the changed Chart.yaml.
func diffMetadata(base, cur *chart.Chart, lines lineIndex) []Change {
	b, c := base.Metadata, cur.Metadata
	var out []Change
	add := func(s Severity, area, field, msg string) {
		out = append(out, Change{Severity: s, Area: area, Path: field, Message: msg, File: chart.ChartfileName, Line: lines.line([]string{field})})
	}
	if b.Name != c.Name {
		add(Major, AreaChart, "name", fmt.Sprintf("changed from %q to %q", b.Name, c.Name))
	}
	if chartType(b) != chartType(c) {
		add(Major, AreaChart, "type", fmt.Sprintf("changed from %s to %s", chartType(b), chartType(c)))
	}
	if b.AppVersion != c.AppVersion {
		add(Patch, AreaChart, "appVersion", fmt.Sprintf("changed from %q to %q", b.AppVersion, c.AppVersion))
	}
	out = append(out, compareKubeVersion(b.KubeVersion, c.KubeVersion, lines.line([]string{"kubeVersion"}))...)
	out = append(out, diffDependencies(base, cur, lines)...)

	// Every other field: a patch change each.
	rest := func(md *chart.Metadata) map[string]any {
		m := md.Clone()
		m.Name, m.Type, m.Version, m.AppVersion, m.KubeVersion, m.Dependencies = "", "", "", "", "", nil
		data, _ := json.Marshal(m)
		var out map[string]any
		_ = json.Unmarshal(data, &out)
		return out
	}
	rb, rc := rest(b), rest(c)
	for _, k := range sortedKeys(unionKeys(rb, rc)) {
		if !reflect.DeepEqual(rb[k], rc[k]) {
			add(Patch, AreaChart, k, "changed")
		}
	}
	return out
}

func chartType(md *chart.Metadata) string {
	if md.Type == "" {
		return chart.TypeApplication
	}
	return md.Type
}

func unionKeys(a, b map[string]any) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}
