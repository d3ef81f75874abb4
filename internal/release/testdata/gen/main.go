// Command gen writes the release-discipline scenario corpus:
// testdata/scenarios/<NN-name>/{base/,changed/,expect.yaml}, each a
// baseline chart, the changed chart and what `chartroom check` must say.
//
// Run from the repository root after editing a scenario below:
//
//	go run ./internal/release/testdata/gen
//
// It rewrites testdata/scenarios entirely. Expectations are written by
// hand here, not computed: the test compares them with the checker.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	yaml3 "go.yaml.in/yaml/v3"

	"github.com/chartroom/chartroom/internal/chart"
)

// files is a chart: name → content.
type files map[string]string

func (f files) clone() files {
	out := files{}
	for k, v := range f {
		out[k] = v
	}
	return out
}

// replace substitutes old (which must occur) in file name.
func (f files) replace(name, old, new string) {
	s, ok := f[name]
	if !ok || !strings.Contains(s, old) {
		panic(fmt.Sprintf("%s does not contain %q", name, old))
	}
	f[name] = strings.Replace(s, old, new, 1)
}

func (f files) version(v string) { f.setChart("version", v) }

func (f files) setChart(key, value string) {
	lines := strings.Split(f["Chart.yaml"], "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, key+":") {
			lines[i] = key + ": " + value
			f["Chart.yaml"] = strings.Join(lines, "\n")
			return
		}
	}
	panic("no " + key + " in Chart.yaml")
}

// Expect is expect.yaml.
type Expect struct {
	Description string   `yaml:"description"`
	Options     *Options `yaml:"options,omitempty"`
	Required    string   `yaml:"required"`
	Verdict     string   `yaml:"verdict"`
	Suggested   string   `yaml:"suggested"`
	// Changes lists every change: severity area path, and optionally a
	// substring of the message after " | ".
	Changes []string `yaml:"changes"`
	// Problems lists every problem: level rule, and optionally a
	// substring of the message after " | ".
	Problems []string `yaml:"problems"`
}

// Options are check options for the scenario.
type Options struct {
	Strict       bool     `yaml:"strict,omitempty"`
	ImageTagKeys []string `yaml:"imageTagKeys,omitempty"`
}

type scenario struct {
	name    string
	base    func(files) // applied to the base chart (and so to changed too)
	changed func(files)
	expect  Expect
}

func main() {
	out := filepath.Join("internal", "release", "testdata", "scenarios")
	if err := os.RemoveAll(out); err != nil {
		fail(err)
	}
	for i, s := range scenarios {
		dir := filepath.Join(out, fmt.Sprintf("%02d-%s", i+1, s.name))
		base := baseChart.clone()
		if s.base != nil {
			s.base(base)
		}
		changed := base.clone()
		if s.changed != nil {
			s.changed(changed)
		}
		write(filepath.Join(dir, "base"), base)
		write(filepath.Join(dir, "changed"), changed)
		data, err := yaml3.Marshal(s.expect)
		if err != nil {
			fail(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "expect.yaml"), data, 0o644); err != nil {
			fail(err)
		}
	}
	fmt.Printf("wrote %d scenarios to %s\n", len(scenarios), out)
}

func write(dir string, f files) {
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			fail(err)
		}
		if err := os.WriteFile(p, []byte(f[n]), 0o644); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gen:", err)
	os.Exit(1)
}

// lock writes Chart.lock for the chart's Chart.yaml dependencies resolved
// to versions (name → version), with the digest `helm dependency update`
// computes.
func lock(f files, versions map[string]string) {
	md, err := chart.ParseMetadata([]byte(f["Chart.yaml"]))
	if err != nil {
		fail(err)
	}
	md.Sanitize()
	var locked []*chart.Dependency
	for _, d := range md.Dependencies {
		locked = append(locked, &chart.Dependency{Name: d.Name, Repository: d.Repository, Version: versions[d.Name]})
	}
	digest, err := chart.LockDigest(md.Dependencies, locked)
	if err != nil {
		fail(err)
	}
	l := &chart.Lock{Generated: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Digest: digest, Dependencies: locked}
	data, err := l.Marshal()
	if err != nil {
		fail(err)
	}
	f["Chart.lock"] = string(data)
}

// subchart vendors a dependency into charts/NAME.
func subchart(f files, name, version, template string) {
	f["charts/"+name+"/Chart.yaml"] = fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\n", name, version)
	f["charts/"+name+"/templates/"+name+".yaml"] = template
}

func dropSubchart(f files, name string) {
	for k := range f {
		if strings.HasPrefix(k, "charts/"+name+"/") {
			delete(f, k)
		}
	}
}
