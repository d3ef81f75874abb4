// Command ocibench drives one OCI Distribution registry with blob and manifest traffic and
// measures it, and prints the results of several runs side by side. bench/oci/run.sh uses it
// to compare chartroom with the CNCF distribution registry in the same run on the same
// machine; see bench/README.md.
//
//	ocibench run -name chartroom -url http://127.0.0.1:8080 -pid 1234 -out r1.json
//	ocibench report r1.json r2.json …   # medians per server, ratios chartroom/distribution
//	ocibench wait -url http://127.0.0.1:8080/readyz
//	ocibench port                       # a free TCP port on 127.0.0.1
//
// run measures, against one server: blob push throughput (monolithic POST+PUT and chunked
// POST+PATCH…+PUT, several at a time; and 128 MiB blobs one at a time, beside the machine's
// limit for that measured on the same bytes: SHA-256 on one core, dd conv=fsync), blob pull
// throughput, manifest PUT and GET per second, a blob of -big bytes pushed and pulled
// streamed from a generator while the server's RSS is sampled, the server's idle RSS and its
// RSS after the run, and the server's CPU time per phase. Every pulled byte is checked
// against its digest after the timed phases, so a fast but wrong server cannot pass for a
// fast one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chartroom/chartroom/bench/internal/benchserver"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "run":
		err = runCmd(ctx, os.Args[2:])
	case "report":
		err = reportCmd(os.Args[2:])
	case "wait":
		err = waitCmd(ctx, os.Args[2:])
	case "port":
		err = portCmd()
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ocibench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ocibench run|report|wait|port [flags]; ocibench <command> -h for flags")
	os.Exit(2)
}

func runCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	var cfg config
	fs.StringVar(&cfg.Name, "name", "", "server label in the results, e.g. chartroom or distribution (required)")
	fs.StringVar(&cfg.URL, "url", "", "registry base URL, e.g. http://127.0.0.1:8080 (required)")
	fs.StringVar(&cfg.User, "user", "", "Basic auth user; the password is read from $OCIBENCH_PASSWORD (empty: no credentials)")
	fs.IntVar(&cfg.PID, "pid", 0, "server process id, for RSS and CPU time from /proc (required)")
	fs.IntVar(&cfg.Rep, "rep", 1, "repetition number, recorded in the results")
	fs.StringVar(&cfg.Repo, "repo", "bench/app", "repository to push to")
	size := fs.String("size", "16MiB", "size of each blob of the throughput phases")
	chunk := fs.String("chunk", "4MiB", "PATCH chunk size of the chunked push")
	big := fs.String("big", "2GiB", "size of the streamed big blob (0: skip that phase)")
	single := fs.String("single-size", "128MiB", "size of each blob of the single-stream push")
	fs.IntVar(&cfg.SingleBlobs, "single", 8, "blobs pushed one at a time in the single-stream phase (0: skip it)")
	fs.StringVar(&cfg.Scratch, "scratch", os.TempDir(), "directory, on the server's filesystem, where the single-stream phase measures writing with fsync (dd conv=fsync); empty: skip that measurement")
	fs.IntVar(&cfg.Blobs, "blobs", 32, "blobs pushed per push mode (monolithic, chunked); the pull phase pulls both sets")
	fs.IntVar(&cfg.PullPasses, "pulls", 4, "how many times the pull phase pulls every pushed blob (pulls are fast: more passes, steadier figure)")
	fs.IntVar(&cfg.Concurrency, "c", 4, "concurrent requests in the blob and manifest phases")
	fs.DurationVar(&cfg.ManifestDuration, "manifest-duration", 5*time.Second, "duration of each manifest phase (PUT, then GET)")
	fs.BoolVar(&cfg.Verify, "verify", true, "after the timed phases, pull every blob again and check its digest")
	out := fs.String("out", "", "write the results as JSON to this file (default: stdout)")
	_ = fs.Parse(args)

	var err error
	if cfg.BlobSize, err = parseSize(*size); err != nil {
		return fmt.Errorf("-size: %w", err)
	}
	if cfg.ChunkSize, err = parseSize(*chunk); err != nil {
		return fmt.Errorf("-chunk: %w", err)
	}
	if cfg.BigSize, err = parseSize(*big); err != nil {
		return fmt.Errorf("-big: %w", err)
	}
	if cfg.SingleSize, err = parseSize(*single); err != nil {
		return fmt.Errorf("-single-size: %w", err)
	}
	cfg.Password = os.Getenv("OCIBENCH_PASSWORD")
	switch {
	case cfg.Name == "" || cfg.URL == "" || cfg.PID <= 0:
		return errors.New("run: -name, -url and -pid are required")
	case cfg.BlobSize < headerSize || cfg.ChunkSize <= 0 || cfg.Blobs <= 0 || cfg.Concurrency <= 0 || cfg.PullPasses <= 0:
		return fmt.Errorf("run: -size must be at least %d bytes; -chunk, -blobs, -pulls and -c positive", headerSize)
	case cfg.BigSize != 0 && cfg.BigSize < headerSize:
		return fmt.Errorf("run: -big must be 0 or at least %d bytes", headerSize)
	case cfg.SingleBlobs < 0 || cfg.SingleBlobs > 0 && cfg.SingleSize < headerSize:
		return fmt.Errorf("run: -single must not be negative, -single-size at least %d bytes", headerSize)
	}
	res, err := run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Name, err)
	}
	return res.write(*out)
}

// waitCmd polls a URL until it answers 200 (any status with -any), or gives up.
func waitCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	url := fs.String("url", "", "URL to poll (required)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	anyStatus := fs.Bool("any", false, "accept any HTTP status, not only 200")
	_ = fs.Parse(args)
	if *url == "" {
		return errors.New("wait: -url is required")
	}
	return benchserver.WaitReady(ctx, *url, *timeout, *anyStatus)
}

// portCmd prints a TCP port on 127.0.0.1 that was free a moment ago.
func portCmd() error {
	port, err := benchserver.FreePort()
	if err != nil {
		return err
	}
	fmt.Println(port)
	return nil
}

// parseSize reads a byte count: a number with an optional B, KiB, MiB, GiB, KB, MB or GB unit.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size such as 16MiB", s)
	}
	return n * mult, nil
}
