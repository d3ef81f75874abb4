package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The single-stream push and the machine's limit for it.
//
// One client pushes -single blobs of -single-size, one at a time (POST, then PUT with the
// whole body), as a CI job pushing one big layer does. Nothing else runs in the server, so
// the figure is what one request's path costs: reading the body, hashing it, writing it,
// fsyncing it. Just before, on the same bytes, the run measures what the machine can do at
// most on that path:
//
//   - limit_sha256: the blobs hashed with crypto/sha256 on one goroutine (one core), which
//     is how their digests are computed anyway;
//   - limit_fsync: the first blob written -single times with `dd bs=1M conv=fsync` into the
//     scratch directory (on the servers' filesystem), from a file already in the page cache.
//
// A server must do both for every byte, so the smaller of the two bounds its push;
// single_of_limit is the push over that bound.

// singleStream measures the limits, then pushes the single-stream blobs and returns them
// (for verification), the push's wall time and the server's CPU time.
func singleStream(ctx context.Context, c *client, cfg config, seed uint64, fig func(string, float64), progress func(string, ...any)) ([]*blobSpec, time.Duration, time.Duration, error) {
	base := randomBytes(seed^0x51, int(cfg.SingleSize))
	blobs := make([]*blobSpec, cfg.SingleBlobs)
	start := time.Now()
	for i := range blobs {
		blobs[i] = newBlobSpec(base, seed, "single", i) // hashes the blob
	}
	total := int64(cfg.SingleBlobs) * cfg.SingleSize
	sha := float64(total) / time.Since(start).Seconds() / 1e6
	fig("limit_sha256", sha)
	if cfg.Scratch != "" {
		// The copies stay until the push is done: removing them frees (and, on a disk
		// mounted with discard, trims) their blocks, which would overlap the push.
		work, err := os.MkdirTemp(cfg.Scratch, "ddlimit-")
		if err != nil {
			return nil, 0, 0, err
		}
		defer os.RemoveAll(work)
		mbs, err := ddLimit(ctx, work, blobs[0], cfg.SingleBlobs)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("machine limit (dd conv=fsync): %w", err)
		}
		fig("limit_fsync", mbs)
		progress("limits        SHA-256 one core %.0f MB/s, dd conv=fsync %.0f MB/s", sha, mbs)
	}

	d, cpu, err := timed(ctx, cfg.PID, 1, len(blobs), func(ctx context.Context, i int) error {
		return c.pushMonolithic(ctx, cfg.Repo, blobs[i].digest, blobs[i].section(0, cfg.SingleSize), cfg.SingleSize)
	})
	if err != nil {
		return nil, 0, 0, fmt.Errorf("single-stream push: %w", err)
	}
	return blobs, d, cpu, nil
}

// ddLimit writes b's bytes to a file in dir (synced, so that it is clean in the page cache
// and no writeback of it overlaps the timing), then copies that file n times with
// `dd bs=1M conv=fsync` to new files in dir (left there), and returns the MB/s of the n
// copies together, timed around each dd.
func ddLimit(ctx context.Context, dir string, b *blobSpec, n int) (float64, error) {
	in := filepath.Join(dir, "in")
	f, err := os.Create(in)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(f, b.section(0, b.size()))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for i := range n {
		out := filepath.Join(dir, fmt.Sprintf("out-%d", i))
		cmd := exec.CommandContext(ctx, "dd", "if="+in, "of="+out, "bs=1M", "conv=fsync")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		start := time.Now()
		err := cmd.Run()
		total += time.Since(start)
		if err != nil {
			return 0, fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(stderr.String()))
		}
	}
	if total <= 0 {
		return 0, errors.New("dd took no time")
	}
	return float64(int64(n)*b.size()) / total.Seconds() / 1e6, nil
}
