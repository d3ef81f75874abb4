// Command staticindex compares `chartroom index` with `helm repo index` on the same
// directory of chart archives, in one run, and prints each time and the ratio.
//
//	go run ./bench/staticindex                      # 5,000 archives, helm from CHARTROOM_HELM3
//	go run ./bench/staticindex -n 1000 -runs 5
//	go run ./bench/staticindex -helm /path/to/helm -chartroom /path/to/chartroom
//	go run ./bench/staticindex -large                # charts the size of typical published ones
//
// The archives are `helm create`'s chart under -charts names, each packaged at
// n/charts versions with `chartroom package`'s code (reproducible archives), with a few
// metadata fields filled in so that entries are not trivial. Both tools index the same
// directory with the same --url, each run writing index.yaml afresh; the best of -runs
// is reported. The script also checks that both indexes list the same versions with the
// same digests, so a fast but wrong index cannot pass for a win.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/chartroom/chartroom/bench/internal/benchserver"
	"github.com/chartroom/chartroom/internal/chart"
)

func main() {
	n := flag.Int("n", 5000, "number of archives")
	charts := flag.Int("charts", 50, "number of distinct chart names")
	runs := flag.Int("runs", 3, "runs per tool; the best is reported")
	helm := flag.String("helm", os.Getenv("CHARTROOM_HELM3"), "helm binary (default $CHARTROOM_HELM3)")
	bin := flag.String("chartroom", os.Getenv("CHARTROOM_BIN"), "chartroom binary (default $CHARTROOM_BIN, else built from this checkout)")
	dir := flag.String("dir", "", "directory for the archives (default a temporary one, removed afterwards)")
	large := flag.Bool("large", false, "make each chart the size of a typical published one: ~40 KB of values.yaml and a subchart in charts/")
	flag.Parse()
	if err := run(*n, *charts, *runs, *helm, *bin, *dir, *large); err != nil {
		fmt.Fprintln(os.Stderr, "staticindex:", err)
		os.Exit(1)
	}
}

func run(n, charts, runs int, helm, bin, dir string, large bool) error {
	if helm == "" {
		return fmt.Errorf("no helm: pass -helm or set CHARTROOM_HELM3 (scripts/tools.sh helm3 builds it)")
	}
	work, err := os.MkdirTemp("", "chartroom-bench-index-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if bin, err = benchserver.Binary(bin, work); err != nil {
		return err
	}
	if dir == "" {
		dir = filepath.Join(work, "repo")
	}
	start := time.Now()
	if err := generate(helm, filepath.Join(work, "src"), dir, n, charts, large); err != nil {
		return err
	}
	fmt.Printf("generated %d archives of %d charts in %s (%.1fs)\n", n, charts, dir, time.Since(start).Seconds())
	fmt.Printf("GOMAXPROCS=%d NumCPU=%d\n", runtime.GOMAXPROCS(0), runtime.NumCPU())

	const url = "https://charts.example.com/stable"
	tools := []struct {
		name string
		args []string
	}{
		{"helm repo index", []string{helm, "repo", "index", dir, "--url", url}},
		{"chartroom index", []string{bin, "index", dir, "--url", url}},
	}
	best := make([]time.Duration, len(tools))
	cpu := make([]time.Duration, len(tools)) // user+system CPU of the best run
	indexes := make([][]byte, len(tools))
	for r := 0; r < runs; r++ {
		for i, t := range tools { // interleaved, so both see the same machine load
			_ = os.Remove(filepath.Join(dir, "index.yaml"))
			cmd := exec.Command(t.args[0], t.args[1:]...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			t0 := time.Now()
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s: %w: %s", t.name, err, stderr.String())
			}
			d := time.Since(t0)
			if r == 0 || d < best[i] {
				best[i] = d
				cpu[i] = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			}
			if indexes[i], err = os.ReadFile(filepath.Join(dir, "index.yaml")); err != nil {
				return err
			}
		}
	}
	if err := sameEntries(indexes[0], indexes[1]); err != nil {
		return fmt.Errorf("the indexes differ: %w", err)
	}
	for i, t := range tools {
		fmt.Printf("%-16s %8.3fs wall %8.3fs CPU\n", t.name, best[i].Seconds(), cpu[i].Seconds())
	}
	fmt.Printf("ratio: chartroom index is %.1fx faster than helm repo index on %d archives (wall clock, best of %d runs; %.1fx less CPU)\n",
		best[0].Seconds()/best[1].Seconds(), n, runs, cpu[0].Seconds()/cpu[1].Seconds())
	return nil
}

// generate packages n archives from `helm create`'s chart into dir.
func generate(helm, src, dir string, n, charts int, large bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	base := filepath.Join(src, "base")
	if out, err := exec.Command(helm, "create", base).CombinedOutput(); err != nil {
		return fmt.Errorf("helm create: %w: %s", err, out)
	}
	if large {
		if err := enlarge(helm, base); err != nil {
			return err
		}
	}
	for c := 0; c < charts; c++ {
		name := fmt.Sprintf("app%03d", c)
		cdir := filepath.Join(src, name)
		if err := copyDir(base, cdir); err != nil {
			return err
		}
		raw, err := os.ReadFile(filepath.Join(cdir, "Chart.yaml"))
		if err != nil {
			return err
		}
		if raw, err = chart.SetChartYAMLValue(raw, "name", name); err != nil {
			return err
		}
		raw = append(raw, fmt.Sprintf(`home: https://example.com/%[1]s
sources:
  - https://github.com/example/%[1]s
keywords: [web, %[1]s]
maintainers:
  - name: Jane Doe
    email: jane@example.com
annotations:
  example.com/team: platform
`, name)...)
		if err := os.WriteFile(filepath.Join(cdir, "Chart.yaml"), raw, 0o644); err != nil {
			return err
		}
	}
	ctx := context.Background()
	for i := 0; i < n; i++ {
		c := i % charts
		v := i / charts
		opts := chart.PackageOptions{Version: fmt.Sprintf("%d.%d.%d", 1+v/100, (v/10)%10, v%10)}
		if v%7 == 6 {
			opts.Version += "-rc.1"
		}
		if _, _, err := chart.PackageToDir(ctx, filepath.Join(src, fmt.Sprintf("app%03d", c)), dir, opts); err != nil {
			return err
		}
	}
	return nil
}

// enlarge gives the chart ~40 KB of values (nested settings, as large published charts
// have) and a subchart made by helm create in charts/, declared as a dependency.
func enlarge(helm, base string) error {
	var values bytes.Buffer
	for i := 0; values.Len() < 40<<10; i++ {
		fmt.Fprintf(&values, `
component%[1]d:
  enabled: true
  image:
    registry: docker.io
    repository: example/component%[1]d
    tag: "1.%[1]d.0"
    pullPolicy: IfNotPresent
  resources:
    limits: {cpu: 500m, memory: 512Mi}
    requests: {cpu: 100m, memory: 128Mi}
  podAnnotations: {}
  nodeSelector: {}
  tolerations: []
  extraEnv:
    - name: LOG_LEVEL
      value: info
`, i)
	}
	f, err := os.OpenFile(filepath.Join(base, "values.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(values.Bytes()); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if out, err := exec.Command(helm, "create", filepath.Join(base, "charts", "common")).CombinedOutput(); err != nil {
		return fmt.Errorf("helm create: %w: %s", err, out)
	}
	f, err = os.OpenFile(filepath.Join(base, "Chart.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString("dependencies:\n  - name: common\n    version: 0.1.0\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func copyDir(from, to string) error {
	return filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
}

// sameEntries checks that two index.yaml files list the same name/version/digest/url sets.
func sameEntries(a, b []byte) error {
	type entry struct {
		Name    string   `json:"name"`
		Version string   `json:"version"`
		Digest  string   `json:"digest"`
		URLs    []string `json:"urls"`
	}
	keys := func(data []byte) ([]string, error) {
		var idx struct {
			Entries map[string][]entry `json:"entries"`
		}
		if err := yaml.Unmarshal(data, &idx); err != nil {
			return nil, err
		}
		var out []string
		for _, vs := range idx.Entries {
			for _, e := range vs {
				out = append(out, fmt.Sprint(e.Name, " ", e.Version, " ", e.Digest, " ", e.URLs))
			}
		}
		slices.Sort(out)
		return out, nil
	}
	ka, err := keys(a)
	if err != nil {
		return err
	}
	kb, err := keys(b)
	if err != nil {
		return err
	}
	if !slices.Equal(ka, kb) {
		return fmt.Errorf("helm lists %d entries, chartroom %d, or their digests/urls differ", len(ka), len(kb))
	}
	return nil
}
