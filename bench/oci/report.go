package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// figure is one row of the report.
type figure struct {
	key    string
	label  string // {big} and {single} are replaced by the big and single-stream blobs' sizes
	unit   string
	higher bool // higher is better: a ratio below 1.0 is flagged
}

type section struct {
	title string
	rows  []figure
}

var sections = []section{
	{"throughput (higher is better; ratio = chartroom/peer, > 1 means chartroom is faster)", []figure{
		{"push_mono", "blob push, monolithic POST+PUT", "MB/s", true},
		{"push_chunked", "blob push, chunked POST+PATCH…+PUT", "MB/s", true},
		{"push_single", "blob push, single stream ({single} blobs)", "MB/s", true},
		{"pull", "blob pull", "MB/s", true},
		{"manifest_put", "manifest PUT (by tag)", "req/s", true},
		{"manifest_get", "manifest GET (by tag)", "req/s", true},
		{"big_push", "{big} blob push, streamed", "MB/s", true},
		{"big_pull", "{big} blob pull, streamed", "MB/s", true},
	}},
	{"the machine's limit for the single-stream push, measured in each run just before it on the same bytes\n(a server must hash and write every byte; ratio = during chartroom's runs / during the peer's)", []figure{
		{"limit_sha256", "SHA-256 on one core (Go crypto/sha256)", "MB/s", false},
		{"limit_fsync", "written with fsync (dd bs=1M conv=fsync)", "MB/s", false},
		{"single_of_limit", "single-stream push / the smaller of the two", "×", true},
	}},
	{"server memory (lower is better; ratio = chartroom/peer, < 1 means chartroom uses less)", []figure{
		{"rss_idle", "RSS idle, after start", "MiB", false},
		{"rss_peak_small", "peak RSS (VmHWM) up to the big blob", "MiB", false},
		{"big_push_rss", "peak RSS during {big} push (VmRSS/50ms)", "MiB", false},
		{"big_pull_rss", "peak RSS during {big} pull (VmRSS/50ms)", "MiB", false},
		{"big_hwm", "VmHWM over {big} push+pull (reset before)", "MiB", false},
		{"rss_after", "RSS after the run", "MiB", false},
	}},
	{"server CPU time per unit of work (lower is better; context for the figures above)", []figure{
		{"cpu_push_mono", "CPU, monolithic push", "s/GB", false},
		{"cpu_push_chunked", "CPU, chunked push", "s/GB", false},
		{"cpu_push_single", "CPU, single-stream push", "s/GB", false},
		{"cpu_pull", "CPU, pull", "s/GB", false},
		{"cpu_manifest_put", "CPU per manifest PUT", "µs", false},
		{"cpu_manifest_get", "CPU per manifest GET", "µs", false},
		{"cpu_big_push", "CPU, {big} push", "s/GB", false},
		{"cpu_big_pull", "CPU, {big} pull", "s/GB", false},
	}},
}

func reportCmd(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	a := fs.String("a", "chartroom", "server whose figures are the numerators of the ratios")
	b := fs.String("b", "distribution", "the peer: the denominators")
	raw := fs.Bool("raw", false, "also print every repetition's value")
	limit := fs.Float64("rss-limit", 150, "MiB the first server's peak RSS over the big blob push+pull must stay under (0: no check)")
	var notes multiFlag
	fs.Var(&notes, "note", "a line to print under the header (repeatable)")
	_ = fs.Parse(args)
	if fs.NArg() == 0 {
		return errors.New("report: no result files")
	}
	var results []*result
	for _, p := range fs.Args() {
		buf, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var r result
		if err := json.Unmarshal(buf, &r); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		results = append(results, &r)
	}
	return report(os.Stdout, results, *a, *b, notes, *raw, *limit)
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, "; ") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func report(w io.Writer, results []*result, a, b string, notes []string, raw bool, limit float64) error {
	by := map[string][]*result{}
	for _, r := range results {
		by[r.Config.Name] = append(by[r.Config.Name], r)
	}
	if len(by[a]) == 0 || len(by[b]) == 0 {
		return fmt.Errorf("report: need results of both %s and %s", a, b)
	}
	for _, rs := range by {
		slices.SortFunc(rs, func(x, y *result) int { return x.Config.Rep - y.Config.Rep })
	}
	cfg := by[a][0].Config
	first, last := results[0].Started, results[0].Started
	loadMin, loadMax := results[0].Load[0], results[0].Load[0]
	for _, r := range results {
		first, last = minTime(first, r.Started), maxTime(last, r.Started.Add(time.Duration(r.Seconds*float64(time.Second))))
		for _, l := range r.Load {
			loadMin, loadMax = min(loadMin, l), max(loadMax, l)
		}
	}
	fmt.Fprintf(w, "chartroom vs %s: OCI blob and manifest traffic, same machine, same run\n", b)
	fmt.Fprintf(w, "date        %s (%s)\n", first.UTC().Format("2006-01-02 15:04 MST"), last.Sub(first).Round(time.Second))
	fmt.Fprintf(w, "machine     %d cores (%s), %s, %s/%s; 1-min load average %.1f–%.1f during the runs\n",
		runtime.NumCPU(), cpuModel(), memTotal(), runtime.GOOS, runtime.GOARCH, loadMin, loadMax)
	fmt.Fprintf(w, "workload    %d blobs × %s per push mode, PATCH chunks of %s, each blob pulled %d times, concurrency %d; %d blobs × %s pushed one at a time; manifest phases %s each; big blob %s\n",
		cfg.Blobs, human(cfg.BlobSize), human(cfg.ChunkSize), cfg.PullPasses, cfg.Concurrency, cfg.SingleBlobs, human(cfg.SingleSize), cfg.ManifestDuration, human(cfg.BigSize))
	fmt.Fprintf(w, "runs        %d per server, interleaved, each on a fresh server and data directory; medians shown, ± is half the min–max spread over the median\n",
		min(len(by[a]), len(by[b])))
	for _, n := range notes {
		fmt.Fprintf(w, "            %s\n", n)
	}
	bigLabel := human(cfg.BigSize)
	for _, sec := range sections {
		fmt.Fprintf(w, "\n%s\n", sec.title)
		fmt.Fprintf(w, "  %-46s %-6s %12s %12s %8s   %s\n", "figure", "unit", a, b, "ratio", "spread "+a+" / "+b)
		for _, f := range sec.rows {
			if strings.Contains(f.label, "{big}") && cfg.BigSize == 0 {
				continue
			}
			label := strings.NewReplacer("{big}", bigLabel, "{single}", human(cfg.SingleSize)).Replace(f.label)
			va, vb := values(by[a], f.key), values(by[b], f.key)
			if len(va) == 0 || len(vb) == 0 {
				continue
			}
			ma, mb := median(va), median(vb)
			ratio := "–"
			if mb != 0 {
				ratio = fmt.Sprintf("%.2f×", ma/mb)
			}
			mark := ""
			if f.higher && mb != 0 && ma/mb < 1 {
				mark = "  ◀ below 1.0× (every run)"
				if slices.Max(va) >= slices.Min(vb) {
					mark = "  ◀ below 1.0× (runs overlap)"
				}
			}
			fmt.Fprintf(w, "  %-46s %-6s %12s %12s %8s   ±%.0f%% / ±%.0f%%%s\n",
				label, f.unit, num(ma), num(mb), ratio, spread(va), spread(vb), mark)
			if raw {
				fmt.Fprintf(w, "      runs: %s | %s\n", join(va), join(vb))
			}
		}
	}
	var verified []string
	for _, name := range []string{a, b} {
		n := 0
		for _, r := range by[name] {
			n += r.Verified
		}
		verified = append(verified, fmt.Sprintf("%s %d", name, n))
	}
	fmt.Fprintf(w, "\nblobs pulled again and checked against their digests: %s\n", strings.Join(verified, ", "))
	if v := values(by[a], "big_hwm"); limit > 0 && len(v) > 0 {
		verdict := "under"
		if slices.Max(v) >= limit {
			verdict = "NOT under"
		}
		fmt.Fprintf(w, "%s peak RSS over the %s push+pull, highest of %d runs: %.1f MiB, %s the %.0f MiB limit\n",
			a, bigLabel, len(v), slices.Max(v), verdict, limit)
	}
	for _, r := range results {
		for _, n := range r.Notes {
			if strings.HasPrefix(n, "could not") {
				fmt.Fprintf(w, "note (%s, run %d): %s\n", r.Config.Name, r.Config.Rep, n)
			}
		}
	}
	return nil
}

func values(rs []*result, key string) []float64 {
	var v []float64
	for _, r := range rs {
		if x, ok := r.Figures[key]; ok {
			v = append(v, x)
		}
	}
	return v
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread is half the min–max range as a percentage of the median.
func spread(v []float64) float64 {
	m := median(v)
	if m == 0 {
		return 0
	}
	return (slices.Max(v) - slices.Min(v)) / 2 / m * 100
}

func num(x float64) string {
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}

func join(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = num(x)
	}
	return strings.Join(s, " ")
}

func human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func memTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
				return fmt.Sprintf("%.0f GiB RAM", float64(kb)/(1<<20))
			}
		}
	}
	return "unknown RAM"
}
