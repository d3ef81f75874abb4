// Command check measures `chartroom check` on a large chart: 200 templates and a
// 5,000-line values.yaml (with a values.schema.json), compared with a changed copy that
// removes, adds and changes values keys and disables one component (a resource removed).
// The peer figure is `helm template` of the changed chart, which renders it once where
// check renders both charts and compares them.
//
//	go run ./bench/check -chartroom bin/chartroom -helm "$CHARTROOM_HELM3"
//	go run ./bench/check -gen DIR      only write DIR/base and DIR/changed
//
// bench/check/run.sh builds both binaries and runs this (and hyperfine, when installed).
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

func main() {
	var (
		chartroom = flag.String("chartroom", "", "chartroom binary to measure")
		helm      = flag.String("helm", "", "helm v3 binary for the peer figure (optional)")
		runs      = flag.Int("runs", 10, "timed runs of each command (after one warm-up run)")
		templates = flag.Int("templates", 200, "templates in the chart")
		lines     = flag.Int("values-lines", 5000, "lines of values.yaml (at least 25 per template)")
		gen       = flag.String("gen", "", "write the charts into this directory and exit")
		limit     = flag.Duration("limit", 2*time.Second, "the budget the median must stay under")
	)
	flag.Parse()
	dir := *gen
	if dir == "" {
		tmp, err := os.MkdirTemp("", "chartroom-bench-check-")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	base, changed := filepath.Join(dir, "base"), filepath.Join(dir, "changed")
	if err := writeCharts(base, changed, *templates, *lines); err != nil {
		fail(err)
	}
	if *gen != "" {
		fmt.Printf("wrote %s and %s\n", base, changed)
		return
	}
	if *chartroom == "" {
		fail(errors.New("-chartroom is required (or -gen DIR)"))
	}

	// check exits 1 here: the changes need a major bump the version lacks.
	checkCmd := []string{*chartroom, "check", changed, "--against", base}
	out, code := runOnce(checkCmd)
	if code != 1 || !strings.Contains(out, "resources: Service/release-name-c007 removed") {
		fail(fmt.Errorf("chartroom check did not report the expected changes (exit %d):\n%s", code, out))
	}
	fmt.Printf("chart: %d templates, %d-line values.yaml; %s\n", *templates, countLines(filepath.Join(changed, "values.yaml")), summary(out))

	check := measure(checkCmd, *runs)
	fmt.Printf("%-34s median %7.0f ms   min %7.0f ms   (%d runs)\n", "chartroom check", ms(check[len(check)/2]), ms(check[0]), *runs)
	if *helm != "" {
		tpl := measure([]string{*helm, "template", changed}, *runs)
		fmt.Printf("%-34s median %7.0f ms   min %7.0f ms   (%d runs)\n", "helm template (peer, one chart)", ms(tpl[len(tpl)/2]), ms(tpl[0]), *runs)
		fmt.Printf("ratio check / helm template: %.2f (check renders two charts and compares them)\n", float64(check[len(check)/2])/float64(tpl[len(tpl)/2]))
	}
	verdict := "within"
	if check[len(check)/2] > *limit {
		verdict = "OVER"
	}
	fmt.Printf("budget: median %.0f ms is %s the %s budget\n", ms(check[len(check)/2]), verdict, *limit)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// runOnce runs a command and returns its combined output and exit code.
func runOnce(argv []string) (string, int) {
	cmd := exec.Command(argv[0], argv[1:]...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return b.String(), 0
	case errors.As(err, &ee):
		return b.String(), ee.ExitCode()
	}
	fail(err)
	return "", -1
}

// measure returns the sorted wall times of runs runs after one warm-up.
func measure(argv []string, runs int) []time.Duration {
	runOnce(argv)
	var d []time.Duration
	for range runs {
		start := time.Now()
		runOnce(argv)
		d = append(d, time.Since(start))
	}
	slices.Sort(d)
	return d
}

func summary(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "required bump:") {
			return l
		}
	}
	return ""
}

func countLines(name string) int {
	b, _ := os.ReadFile(name)
	return bytes.Count(b, []byte("\n"))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench/check:", err)
	os.Exit(2)
}
