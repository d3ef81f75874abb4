package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chartroom/chartroom/bench/internal/benchserver"
)

// config is what one run does.
type config struct {
	Name             string        `json:"name"`
	URL              string        `json:"url"`
	User             string        `json:"user,omitempty"`
	Password         string        `json:"-"`
	PID              int           `json:"pid"`
	Rep              int           `json:"rep"`
	Repo             string        `json:"repo"`
	Blobs            int           `json:"blobs"`
	BlobSize         int64         `json:"blob_size"`
	ChunkSize        int64         `json:"chunk_size"`
	BigSize          int64         `json:"big_size"`
	SingleBlobs      int           `json:"single_blobs"`
	SingleSize       int64         `json:"single_size"`
	Scratch          string        `json:"-"`
	Concurrency      int           `json:"concurrency"`
	PullPasses       int           `json:"pull_passes"`
	ManifestDuration time.Duration `json:"manifest_duration"`
	Verify           bool          `json:"verify"`
}

// result is what one run measured. Figures are keyed as in the report's figure table.
type result struct {
	Config   config             `json:"config"`
	Started  time.Time          `json:"started"`
	Seconds  float64            `json:"seconds"`
	Load     [2]float64         `json:"load"` // 1-minute load average at the start and the end
	Figures  map[string]float64 `json:"figures"`
	Notes    []string           `json:"notes,omitempty"`
	Verified int                `json:"verified"` // blobs pulled again and checked against their digests
}

func (r *result) write(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "" {
		_, err = os.Stdout.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

const mib = 1 << 20

// run measures one server; the phases run one after the other, each timed on its own.
func run(ctx context.Context, cfg config) (*result, error) {
	c, err := newClient(cfg.URL, cfg.User, cfg.Password, cfg.Concurrency)
	if err != nil {
		return nil, err
	}
	res := &result{Config: cfg, Started: time.Now(), Figures: map[string]float64{}}
	res.Load[0] = loadAverage()
	fig := func(k string, v float64) { res.Figures[k] = v }
	progress := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "ocibench: %s run %d: %6.1fs  %s\n", cfg.Name, cfg.Rep, time.Since(res.Started).Seconds(), fmt.Sprintf(format, args...))
	}
	pid, repo := cfg.PID, cfg.Repo

	rss, _, err := benchserver.Memory(pid)
	if err != nil {
		return nil, err
	}
	fig("rss_idle", float64(rss)/mib)
	// The version check every OCI client starts with; it also lets a server that checks
	// credentials verify them once before the clock starts.
	if _, err := c.request(ctx, "GET", "/v2/", nil, 0, nil, 200, false); err != nil {
		return nil, err
	}

	// Blob contents and digests, before any clock starts.
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", cfg.Name, cfg.Rep)
	seed := h.Sum64()
	base := randomBytes(seed, int(cfg.BlobSize))
	mono, chunked := make([]*blobSpec, cfg.Blobs), make([]*blobSpec, cfg.Blobs)
	_, _, err = timed(ctx, pid, 2, cfg.Blobs, func(_ context.Context, i int) error {
		mono[i] = newBlobSpec(base, seed, "mono", i)
		chunked[i] = newBlobSpec(base, seed, "chunk", i)
		return nil
	})
	if err != nil {
		return nil, err
	}
	all := append(append([]*blobSpec{}, mono...), chunked...)
	progress("%d blobs of %d bytes ready", len(all), cfg.BlobSize)

	throughput := func(key string, bytes int64, d, cpu time.Duration) {
		fig(key, float64(bytes)/d.Seconds()/1e6)
		fig("cpu_"+key, cpu.Seconds()/(float64(bytes)/1e9))
		progress("%-13s %8.1f MB/s in %.2fs", key, res.Figures[key], d.Seconds())
	}
	setBytes := int64(cfg.Blobs) * cfg.BlobSize

	d, cpu, err := timed(ctx, pid, cfg.Concurrency, cfg.Blobs, func(ctx context.Context, i int) error {
		return c.pushMonolithic(ctx, repo, mono[i].digest, mono[i].section(0, cfg.BlobSize), cfg.BlobSize)
	})
	if err != nil {
		return nil, fmt.Errorf("monolithic push: %w", err)
	}
	throughput("push_mono", setBytes, d, cpu)

	d, cpu, err = timed(ctx, pid, cfg.Concurrency, cfg.Blobs, func(ctx context.Context, i int) error {
		return c.pushChunked(ctx, repo, chunked[i], cfg.ChunkSize)
	})
	if err != nil {
		return nil, fmt.Errorf("chunked push: %w", err)
	}
	throughput("push_chunked", setBytes, d, cpu)

	var singles []*blobSpec
	if cfg.SingleBlobs > 0 {
		if singles, d, cpu, err = singleStream(ctx, c, cfg, seed, fig, progress); err != nil {
			return nil, err
		}
		throughput("push_single", int64(cfg.SingleBlobs)*cfg.SingleSize, d, cpu)
		if lim := min(res.Figures["limit_sha256"], res.Figures["limit_fsync"]); lim > 0 {
			fig("single_of_limit", res.Figures["push_single"]/lim)
		}
	}

	bufs := newBuffers()
	d, cpu, err = timed(ctx, pid, cfg.Concurrency, cfg.PullPasses*len(all), func(ctx context.Context, i int) error {
		buf := bufs.get()
		defer bufs.put(buf)
		b := all[i%len(all)]
		_, err := c.pull(ctx, repo, b.digest, b.size(), discard{}, *buf)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	throughput("pull", int64(cfg.PullPasses)*2*setBytes, d, cpu)

	if err := manifests(ctx, c, cfg, mono, fig); err != nil {
		return nil, err
	}
	progress("manifests     %8.0f PUT/s, %.0f GET/s", res.Figures["manifest_put"], res.Figures["manifest_get"])
	_, hwm, err := benchserver.Memory(pid)
	if err != nil {
		return nil, err
	}
	fig("rss_peak_small", float64(hwm)/mib)

	var big *bigBlob
	var bigDigest string
	if cfg.BigSize > 0 {
		big = newBigBlob(seed, cfg.BigSize)
		bigDigest = big.digest()
		progress("big blob digest ready")
		if err := benchserver.ResetPeak(pid); err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("could not reset VmHWM (%v): big-blob VmHWM is the process's lifetime peak", err))
		}
		s := startSampler(pid, 50*time.Millisecond)
		d, cpu, err := timed(ctx, pid, 1, 1, func(ctx context.Context, _ int) error {
			return c.pushMonolithic(ctx, repo, bigDigest, big.reader(), cfg.BigSize)
		})
		peak, n, serr := s.finish()
		if err == nil {
			err = serr
		}
		if err != nil {
			return nil, fmt.Errorf("big blob push: %w", err)
		}
		throughput("big_push", cfg.BigSize, d, cpu)
		fig("big_push_rss", float64(peak)/mib)
		res.Notes = append(res.Notes, fmt.Sprintf("big push: %d RSS samples", n))

		s = startSampler(pid, 50*time.Millisecond)
		d, cpu, err = timed(ctx, pid, 1, 1, func(ctx context.Context, _ int) error {
			_, err := c.pull(ctx, repo, bigDigest, cfg.BigSize, discard{}, *bufs.get())
			return err
		})
		peak, n, serr = s.finish()
		if err == nil {
			err = serr
		}
		if err != nil {
			return nil, fmt.Errorf("big blob pull: %w", err)
		}
		throughput("big_pull", cfg.BigSize, d, cpu)
		fig("big_pull_rss", float64(peak)/mib)
		res.Notes = append(res.Notes, fmt.Sprintf("big pull: %d RSS samples", n))
		if _, hwm, err = benchserver.Memory(pid); err != nil {
			return nil, err
		}
		fig("big_hwm", float64(hwm)/mib)
	}

	if cfg.Verify {
		check := append(append([]*blobSpec{}, all...), singles...)
		_, _, err := timed(ctx, pid, cfg.Concurrency, len(check), func(ctx context.Context, i int) error {
			buf := bufs.get()
			defer bufs.put(buf)
			return c.verify(ctx, repo, check[i].digest, check[i].size(), *buf)
		})
		if err == nil && big != nil {
			err = c.verify(ctx, repo, bigDigest, cfg.BigSize, *bufs.get())
		}
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		res.Verified = len(check)
		if big != nil {
			res.Verified++
		}
		progress("verified %d blobs", res.Verified)
	}

	if rss, _, err = benchserver.Memory(pid); err != nil {
		return nil, err
	}
	fig("rss_after", float64(rss)/mib)
	res.Load[1] = loadAverage()
	res.Seconds = time.Since(res.Started).Seconds()
	return res, nil
}

// manifests measures manifest PUT/s then GET/s: small OCI image manifests, each a config blob
// and one layer pushed earlier, made unique by an annotation, PUT under tags m<k>; then GETs
// of those tags by tag, round robin.
func manifests(ctx context.Context, c *client, cfg config, layers []*blobSpec, fig func(string, float64)) error {
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	cfgDigest := digestOf(config)
	if err := c.pushMonolithic(ctx, cfg.Repo, cfgDigest, &byteReader{b: config}, int64(len(config))); err != nil {
		return fmt.Errorf("manifest config blob: %w", err)
	}
	body := func(k int) []byte {
		l := layers[k%len(layers)]
		return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,`+
			`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
			`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}],`+
			`"annotations":{"org.opencontainers.image.version":"%d"}}`,
			manifestType, cfgDigest, len(config), l.digest, l.size(), k)
	}
	n, d, cpu, err := timedFor(ctx, cfg.PID, cfg.Concurrency, cfg.ManifestDuration, func(ctx context.Context, k int) error {
		return c.putManifest(ctx, cfg.Repo, "m"+strconv.Itoa(k), body(k))
	})
	if err != nil {
		return fmt.Errorf("manifest PUT: %w", err)
	}
	fig("manifest_put", float64(n)/d.Seconds())
	fig("cpu_manifest_put", cpu.Seconds()*1e6/float64(n))
	tags := n
	n, d, cpu, err = timedFor(ctx, cfg.PID, cfg.Concurrency, cfg.ManifestDuration, func(ctx context.Context, k int) error {
		_, err := c.getManifest(ctx, cfg.Repo, "m"+strconv.Itoa(k%tags))
		return err
	})
	if err != nil {
		return fmt.Errorf("manifest GET: %w", err)
	}
	fig("manifest_get", float64(n)/d.Seconds())
	fig("cpu_manifest_get", cpu.Seconds()*1e6/float64(n))
	return nil
}

// timed runs task(0..n-1) on conc workers and returns the wall time and the server's CPU
// time (pid) they took. The first error stops the phase.
func timed(ctx context.Context, pid, conc, n int, task func(context.Context, int) error) (time.Duration, time.Duration, error) {
	var next atomic.Int64
	_, d, cpu, err := workers(ctx, pid, conc, func(ctx context.Context) (bool, error) {
		i := int(next.Add(1) - 1)
		if i >= n {
			return false, nil
		}
		return true, task(ctx, i)
	})
	return d, cpu, err
}

// timedFor runs task(0, 1, 2, …) on conc workers for about d and returns how many finished,
// the wall time and the server's CPU time.
func timedFor(ctx context.Context, pid, conc int, d time.Duration, task func(context.Context, int) error) (int, time.Duration, time.Duration, error) {
	var next atomic.Int64
	deadline := time.Now().Add(d)
	n, wall, cpu, err := workers(ctx, pid, conc, func(ctx context.Context) (bool, error) {
		if time.Now().After(deadline) {
			return false, nil
		}
		return true, task(ctx, int(next.Add(1)-1))
	})
	if err == nil && n == 0 {
		err = fmt.Errorf("no request finished in %s", d)
	}
	return n, wall, cpu, err
}

// workers runs step on conc goroutines until each says stop, counting the steps done.
func workers(ctx context.Context, pid, conc int, step func(context.Context) (bool, error)) (int, time.Duration, time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	cpu0, err := cpuTime(pid)
	if err != nil {
		return 0, 0, 0, err
	}
	var done atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for ctx.Err() == nil {
				more, err := step(ctx)
				if err != nil {
					cancel(err)
					return
				}
				if !more {
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return 0, 0, 0, err
	}
	cpu1, err := cpuTime(pid)
	if err != nil {
		return 0, 0, 0, err
	}
	return int(done.Load()), wall, cpu1 - cpu0, nil
}

// buffers hands out 1 MiB copy buffers.
type buffers struct{ p sync.Pool }

func newBuffers() *buffers {
	return &buffers{p: sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}}
}
func (b *buffers) get() *[]byte  { return b.p.Get().(*[]byte) }
func (b *buffers) put(p *[]byte) { b.p.Put(p) }

func digestOf(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// loadAverage is the 1-minute load average (0 if unknown).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
