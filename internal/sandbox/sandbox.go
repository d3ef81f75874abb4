// Package sandbox renders charts from publishers in a child process with limits: the
// registry's Renderer (registry.Options.Render) whose every render runs in a new process of
// this program (Renderer.Command, which calls Child), with a memory limit it sets itself
// before it reads its job, and which the parent kills, process group and all, when the
// render's context ends. A template that loops or allocates without end (repeat with a huge
// count, nested range until, deep include recursion) then costs one child's bounded memory
// and time, instead of a goroutine Helm's engine never stops and the server's memory.
//
// The protocol, parent to child: on stdin one line with the memory limit in bytes, then the
// job as JSON; the child answers one JSON result on stdout and exits 0, or dies.
package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/release"
	"github.com/chartroom/chartroom/internal/render"
)

// DefaultMemory is the memory limit of one render child when Renderer.Memory is zero.
const DefaultMemory = 512 << 20

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

// Renderer is a registry.Renderer that runs each render in a child process. Its zero value
// is not usable: set Command.
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

// run runs j in a new child and returns its result, or why there is none.
func (r *Renderer) run(ctx context.Context, j job) (result, error) {
	if len(r.Command) == 0 {
		return result{}, errors.New("sandbox: no child command")
	}
	if err := ctx.Err(); err != nil {
		return result{}, context.Cause(ctx)
	}
	memory := r.Memory
	if memory == 0 {
		memory = DefaultMemory
	}
	start := time.Now()
	if dl, ok := ctx.Deadline(); ok {
		j.Deadline = dl
	} else {
		j.Deadline = start.Add(time.Hour)
	}
	var in bytes.Buffer
	in.WriteString(strconv.FormatInt(memory, 10) + "\n")
	if err := json.NewEncoder(&in).Encode(j); err != nil {
		return result{}, fmt.Errorf("sandbox: encode the job: %w", err)
	}

	cmd := exec.Command(r.Command[0], r.Command[1:]...)
	cmd.Env = r.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = &in
	stdout := &capped{max: maxResult}
	stderr := &capped{max: maxStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = time.Second // a grandchild holding the pipes does not hold the parent
	ownGroup(cmd)
	if err := cmd.Start(); err != nil {
		return result{}, fmt.Errorf("start the render child: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-exited:
	case <-ctx.Done():
		killGroup(cmd)
		<-exited
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return result{}, &TimeoutError{After: roundDuration(j.Deadline.Sub(start)), Cause: context.Cause(ctx)}
		}
		return result{}, context.Cause(ctx)
	}
	if werr != nil {
		return result{}, r.exitError(werr, stderr.String(), memory)
	}
	if stdout.over {
		return result{}, fmt.Errorf("the render child answered more than %s", formatMiB(maxResult))
	}
	var res result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return result{}, fmt.Errorf("the render child answered no result (%v): %s", err, firstLine(stderr.String()))
	}
	if res.Error != "" {
		return result{}, errors.New(res.Error)
	}
	return res, nil
}

// exitError says why a child ended without a result: its memory limit (Go's runtime fails
// an allocation beyond RLIMIT_AS with "fatal error: out of memory"; the kernel's OOM killer
// sends SIGKILL), or a crash.
func (r *Renderer) exitError(werr error, stderr string, memory int64) error {
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

// capped is a buffer that keeps the first max bytes written to it and notes whether more
// came.
type capped struct {
	bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); len(p) > room {
		c.over = true
		if room > 0 {
			c.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return c.Buffer.Write(p)
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
