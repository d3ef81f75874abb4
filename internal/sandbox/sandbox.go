// Package sandbox renders charts from publishers in child processes with limits: the
// registry's Renderer (registry.Options.Render) whose renders run in long-lived children of
// this program (Renderer.Command, which calls Child), each with a memory limit it sets itself
// when it starts, before it reads any job. A child renders one job at a time and serves many
// in turn (so a render costs no process start); when a render's context ends before its
// answer, the parent kills that child, process group and all, and discards it. A template
// that loops or allocates without end (repeat with a huge count, nested range until, deep
// include recursion) then costs one child's bounded memory and time, instead of a goroutine
// Helm's engine never stops and the server's memory.
//
// The protocol, parent to child: on stdin one line with the memory limit in bytes, then
// frames, each a job as JSON; the child answers each with one frame, the result as JSON, on
// stdout, and exits 0 at the end of stdin, or dies. A frame is a 4-byte big-endian length,
// then that many bytes.
package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/release"
	"github.com/chartroom/chartroom/internal/render"
)

// DefaultMemory is the memory limit of one render child when Renderer.Memory is zero.
const DefaultMemory = 512 << 20

// DefaultMaxJobs is how many renders a child serves, when Renderer.MaxJobs is zero.
const DefaultMaxJobs = 200

// DefaultIdleTimeout is how long a child is kept without a render, when
// Renderer.IdleTimeout is zero.
const DefaultIdleTimeout = time.Minute

// MinMemory is the least memory limit a child can run with: Go's runtime reserves its heap
// in arenas of 64 MiB, and the job's archives must fit.
const MinMemory = 128 << 20

// ChildCommand is the hidden chartroom subcommand that runs Child.
const ChildCommand = "__render"

// Bounds on what the parent reads of a child.
const (
	maxResult = 64 << 20 // the JSON result (images, a release report)
	maxStderr = 8 << 10  // the start of what the child wrote on stderr (the runtime's fatal error)
)

// Renderer is a registry.Renderer that runs each render in a child process, keeping idle
// children for the next renders. Its zero value is not usable: set Command. Close kills its
// children.
type Renderer struct {
	// Command is the child's command line: a program that runs Child with its standard
	// streams, such as this executable with ChildCommand.
	Command []string
	// Env is the child's whole environment (the server's is not passed on: a render needs
	// none of it, and a template is not to read it).
	Env []string
	// Memory bounds the address space a child may add to what it has at start, in bytes; 0
	// means DefaultMemory.
	Memory int64
	// Idle is how many children are kept, between renders, for the next ones; 0 means
	// GOMAXPROCS, the registry's validation slots (as many renders as run at once).
	Idle int
	// MaxJobs is how many renders a child serves before it is retired; 0 means
	// DefaultMaxJobs.
	MaxJobs int
	// IdleTimeout is how long a child is kept without a render; 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration

	mu     sync.Mutex
	idle   []*worker            // most recently used last
	all    map[*worker]struct{} // idle and busy, for Close
	closed bool
}

var _ registry.Renderer = (*Renderer)(nil)

// job is what a child is asked to do.
type job struct {
	Kind string `json:"kind"` // kindImages or kindCheck
	// Deadline is when the parent kills the child; the child exits itself a little after,
	// should the parent be gone.
	Deadline time.Time    `json:"deadline"`
	Archive  []byte       `json:"archive,omitempty"`
	Limits   chart.Limits `json:"limits"`
	Base     []byte       `json:"base,omitempty"`
	Cur      []byte       `json:"cur,omitempty"`
	Check    checkOptions `json:"check"`
}

// checkOptions is release.Options, as JSON.
type checkOptions struct {
	Source               string         `json:"source,omitempty"`
	Strict               bool           `json:"strict,omitempty"`
	ImageTagKeys         []string       `json:"imageTagKeys,omitempty"`
	KubeVersion          string         `json:"kubeVersion,omitempty"`
	Values               map[string]any `json:"values,omitempty"`
	SkipSchemaValidation bool           `json:"skipSchemaValidation,omitempty"`
}

// Job kinds.
const (
	kindImages = "images"
	kindCheck  = "check"
)

// result is what a child answers.
type result struct {
	Images []render.ContainerImage `json:"images,omitempty"`
	Report *release.Report         `json:"report,omitempty"`
	// Error is why the render failed, as the in-process renderer says it.
	Error string `json:"error,omitempty"`
}

// Images implements registry.Renderer in a child process.
func (r *Renderer) Images(ctx context.Context, archive []byte, lim chart.Limits) ([]render.ContainerImage, error) {
	res, err := r.run(ctx, job{Kind: kindImages, Archive: archive, Limits: lim})
	if err != nil {
		return nil, err
	}
	if res.Images == nil {
		res.Images = []render.ContainerImage{}
	}
	return res.Images, nil
}

// Check implements registry.Renderer in a child process.
func (r *Renderer) Check(ctx context.Context, base, cur []byte, opts release.Options) (*release.Report, error) {
	res, err := r.run(ctx, job{Kind: kindCheck, Base: base, Cur: cur, Check: checkOptions(opts)})
	if err != nil {
		return nil, err
	}
	if res.Report == nil {
		return nil, errors.New("the render child answered no report")
	}
	return res.Report, nil
}

// TimeoutError is a render stopped at its context's deadline.
type TimeoutError struct {
	// After is how long the render was given.
	After time.Duration
	// Cause is the context's cause.
	Cause error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("rendering the chart took longer than %s and was stopped", e.After)
}

// Unwrap returns registry.ErrTooLarge and the context's cause.
func (e *TimeoutError) Unwrap() []error { return []error{registry.ErrTooLarge, e.Cause} }

// MemoryError is a render stopped at its memory limit.
type MemoryError struct {
	// Limit is the limit, in bytes.
	Limit int64
}

func (e *MemoryError) Error() string {
	return fmt.Sprintf("rendering the chart used more than %s of memory and was stopped", formatMiB(e.Limit))
}

// Unwrap returns registry.ErrTooLarge.
func (e *MemoryError) Unwrap() error { return registry.ErrTooLarge }

// run runs j in an idle child, or a new one, and returns its result, or why there is none.
func (r *Renderer) run(ctx context.Context, j job) (result, error) {
	if len(r.Command) == 0 {
		return result{}, errors.New("sandbox: no child command")
	}
	if err := ctx.Err(); err != nil {
		return result{}, context.Cause(ctx)
	}
	memory := r.memory()
	start := time.Now()
	if dl, ok := ctx.Deadline(); ok {
		j.Deadline = dl
	} else {
		j.Deadline = start.Add(time.Hour)
	}
	in, err := json.Marshal(j)
	if err != nil {
		return result{}, fmt.Errorf("sandbox: encode the job: %w", err)
	}
	if int64(len(in)) > maxJob(memory) {
		return result{}, fmt.Errorf("%w: the render job of %s is more than a render child's memory limit allows (%s); raise --render-memory",
			registry.ErrTooLarge, formatMiB(int64(len(in))), formatMiB(maxJob(memory)))
	}
	w, err := r.get()
	if err != nil {
		return result{}, err
	}
	out, err := w.do(ctx, in)
	var res result
	if err == nil {
		if uerr := json.Unmarshal(out, &res); uerr != nil {
			err = &garbageError{fmt.Sprintf("the render child answered no result (%v)", uerr)}
		}
	}
	if err != nil {
		r.discard(w)
		switch {
		case ctx.Err() != nil:
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return result{}, &TimeoutError{After: roundDuration(j.Deadline.Sub(start)), Cause: context.Cause(ctx)}
			}
			return result{}, context.Cause(ctx)
		case r.isClosed():
			return result{}, errors.New("sandbox: the renderer was closed during the render")
		}
		return result{}, r.childError(err, w, memory)
	}
	r.put(w)
	if res.Error != "" {
		return result{}, errors.New(res.Error)
	}
	return res, nil
}

// childError says why w, which was discarded, gave no result: it died (see exitError), or it
// answered something else than a frame.
func (r *Renderer) childError(err error, w *worker, memory int64) error {
	var g *garbageError
	if errors.As(err, &g) {
		if line := firstLine(w.stderr.String()); line != "" {
			return fmt.Errorf("%w: %s", err, line)
		}
		return err
	}
	return exitError(w.werr, w.stderr.String(), memory)
}

// exitError says why a child ended without a result: its memory limit (Go's runtime fails
// an allocation beyond RLIMIT_AS with "fatal error: out of memory"; the kernel's OOM killer
// sends SIGKILL), or a crash.
func exitError(werr error, stderr string, memory int64) error {
	if werr == nil {
		if line := firstLine(stderr); line != "" {
			return fmt.Errorf("the render child exited without a result: %s", line)
		}
		return errors.New("the render child exited without a result")
	}
	if outOfMemory(stderr) {
		return &MemoryError{Limit: memory}
	}
	var ee *exec.ExitError
	if errors.As(werr, &ee) && killedBy(ee) == "killed" {
		return fmt.Errorf("%w (the render child was killed, by the system's out-of-memory killer or an administrator)", &MemoryError{Limit: memory})
	}
	if line := firstLine(stderr); line != "" {
		return fmt.Errorf("the render child failed (%v): %s", werr, line)
	}
	return fmt.Errorf("the render child failed: %w", werr)
}

// outOfMemory reports whether a child's stderr tells that it ran out of memory: an
// allocation, a goroutine's stack or a new thread refused.
func outOfMemory(stderr string) bool {
	for _, s := range []string{"fatal error: out of memory", "runtime: out of memory", "cannot allocate memory", "fatal error: newosproc", "failed to create new OS thread"} {
		if strings.Contains(stderr, s) {
			return true
		}
	}
	return false
}

// capped is a buffer, safe for concurrent use, that keeps the first max bytes written to it
// since it was last reset.
type capped struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.buf.Len(); len(p) > room {
		if room > 0 {
			c.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return c.buf.Write(p)
}

// reset forgets what was written.
func (c *capped) reset() {
	c.mu.Lock()
	c.buf.Reset()
	c.mu.Unlock()
}

// String is what was written since the last reset, up to max bytes.
func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// firstLine is the first non-empty line of s, trimmed.
func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// roundDuration rounds d for people: to the second from a second up.
func roundDuration(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}

// formatMiB writes n bytes in MiB.
func formatMiB(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
