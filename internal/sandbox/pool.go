package sandbox

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"time"
)

// errClosed is a render asked of a closed Renderer.
var errClosed = errors.New("sandbox: the renderer is closed (the server is shutting down)")

// exitGrace is how long a child that closed its stdout is given to exit before it is killed.
const exitGrace = 2 * time.Second

// worker is one child process, serving one job at a time.
type worker struct {
	cmd     *exec.Cmd
	stdin   *os.File      // the parent's end of the child's stdin
	stdout  *os.File      // the parent's end of the child's stdout
	out     *bufio.Reader // reads stdout
	pending []byte        // what to write before the next job: the memory limit
	stderr  *capped       // what the child wrote on stderr during its current job
	exited  chan struct{} // closed once the child exited and was waited for
	werr    error         // how it exited (cmd.Wait), once exited is closed
	jobs    int           // renders served
	timer   *time.Timer   // retires it while idle
}

// garbageError is a child that answered something else than a frame.
type garbageError struct{ msg string }

func (e *garbageError) Error() string { return e.msg }

// memory is the memory limit of a child.
func (r *Renderer) memory() int64 {
	if r.Memory == 0 {
		return DefaultMemory
	}
	return r.Memory
}

// maxJob is the largest job a child with the memory limit accepts: the job, its archives
// decoded and their render must fit.
func maxJob(memory int64) int64 { return memory / 4 }

// start starts a child. It applies its memory limit before its first job.
func (r *Renderer) start() (*worker, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start the render child: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("start the render child: %w", err)
	}
	w := &worker{
		stdin:   inW,
		stdout:  outR,
		out:     bufio.NewReader(outR),
		pending: []byte(strconv.FormatInt(r.memory(), 10) + "\n"),
		stderr:  &capped{max: maxStderr},
		exited:  make(chan struct{}),
	}
	cmd := exec.Command(r.Command[0], r.Command[1:]...)
	cmd.Env = r.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, w.stderr
	cmd.WaitDelay = time.Second // a grandchild holding stderr does not hold the parent
	ownGroup(cmd)
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("start the render child: %w", err)
	}
	w.cmd = cmd
	go func() {
		w.werr = cmd.Wait()
		close(w.exited)
	}()
	return w, nil
}

// do has w render the job in and returns its answer. On an error, w is dead, or (a
// garbageError) alive but not to be trusted: discard it. When ctx ends first, w is killed.
func (w *worker) do(ctx context.Context, in []byte) ([]byte, error) {
	w.stderr.reset()
	type answer struct {
		out []byte
		err error
	}
	done := make(chan answer, 1)
	go func() {
		out, err := w.exchange(in)
		done <- answer{out, err}
	}()
	select {
	case a := <-done:
		if a.err != nil {
			var g *garbageError
			if !errors.As(a.err, &g) {
				w.awaitExit() // its stdout or stdin closed: it is exiting, or gone
			}
		}
		return a.out, a.err
	case <-ctx.Done():
		w.kill()
		<-done
		return nil, context.Cause(ctx)
	}
}

// exchange writes the job in to w and reads its answer.
func (w *worker) exchange(in []byte) ([]byte, error) {
	if w.pending != nil {
		if _, err := w.stdin.Write(w.pending); err != nil {
			return nil, err
		}
		w.pending = nil
	}
	if err := writeFrame(w.stdin, in); err != nil {
		return nil, err
	}
	out, err := readFrame(w.out, maxResult)
	var big *frameTooLarge
	if errors.As(err, &big) {
		return nil, &garbageError{fmt.Sprintf("the render child answered more than %s", formatMiB(maxResult))}
	}
	return out, err
}

// awaitExit waits for w to exit, killing it if it does not within exitGrace.
func (w *worker) awaitExit() {
	t := time.NewTimer(exitGrace)
	defer t.Stop()
	select {
	case <-w.exited:
	case <-t.C:
	}
	w.kill()
}

// kill kills w's process group, unless it exited already, waits for it, and closes the
// parent's ends of its pipes. It may be called more than once.
func (w *worker) kill() {
	select {
	case <-w.exited:
	default:
		killGroup(w.cmd)
		<-w.exited
	}
	w.stdin.Close()
	w.stdout.Close()
}

// get returns an idle child, or a new one.
func (r *Renderer) get() (*worker, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, errClosed
	}
	for len(r.idle) > 0 {
		w := r.idle[len(r.idle)-1]
		r.idle = r.idle[:len(r.idle)-1]
		w.timer.Stop()
		select {
		case <-w.exited: // died while idle (killed from outside)
			delete(r.all, w)
			w.kill()
			continue
		default:
		}
		r.mu.Unlock()
		return w, nil
	}
	r.mu.Unlock()

	w, err := r.start()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		w.kill()
		return nil, errClosed
	}
	if r.all == nil {
		r.all = make(map[*worker]struct{})
	}
	r.all[w] = struct{}{}
	return w, nil
}

// put keeps w, which answered a job, for the next one, or retires it: after MaxJobs jobs,
// or when Idle children are kept already.
func (r *Renderer) put(w *worker) {
	w.jobs++
	maxJobs, idle, timeout := r.MaxJobs, r.Idle, r.IdleTimeout
	if maxJobs <= 0 {
		maxJobs = DefaultMaxJobs
	}
	if idle <= 0 {
		idle = runtime.GOMAXPROCS(0)
	}
	if timeout <= 0 {
		timeout = DefaultIdleTimeout
	}
	r.mu.Lock()
	if r.closed || w.jobs >= maxJobs || len(r.idle) >= idle {
		r.mu.Unlock()
		r.discard(w)
		return
	}
	r.idle = append(r.idle, w)
	w.timer = time.AfterFunc(timeout, func() { r.expire(w) })
	r.mu.Unlock()
}

// expire retires w if it is still idle.
func (r *Renderer) expire(w *worker) {
	r.mu.Lock()
	for i, x := range r.idle {
		if x == w {
			r.idle = append(r.idle[:i], r.idle[i+1:]...)
			r.mu.Unlock()
			r.discard(w)
			return
		}
	}
	r.mu.Unlock()
}

// discard kills w and forgets it.
func (r *Renderer) discard(w *worker) {
	w.kill()
	r.mu.Lock()
	delete(r.all, w)
	r.mu.Unlock()
}

// isClosed reports whether Close was called.
func (r *Renderer) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// Close kills every child, idle or rendering (whose render then fails), and waits for them
// to be gone. Renders asked after Close fail.
func (r *Renderer) Close() {
	r.mu.Lock()
	r.closed = true
	for _, w := range r.idle {
		w.timer.Stop()
	}
	r.idle = nil
	all := make([]*worker, 0, len(r.all))
	for w := range r.all {
		all = append(all, w)
	}
	r.mu.Unlock()
	for _, w := range all {
		r.discard(w)
	}
}

// frameTooLarge is a frame longer than its reader accepts.
type frameTooLarge struct{ n, max int64 }

func (e *frameTooLarge) Error() string {
	return fmt.Sprintf("a frame of %d bytes, more than %d", e.n, e.max)
}

// writeFrame writes b as a frame: its length in 4 bytes, big-endian, then b.
func writeFrame(w io.Writer, b []byte) error {
	if int64(len(b)) > 1<<32-1 {
		return &frameTooLarge{int64(len(b)), 1<<32 - 1}
	}
	var h [4]byte
	binary.BigEndian.PutUint32(h[:], uint32(len(b)))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

// readFrame reads a frame of at most max bytes. At the end of r before a frame, it returns
// io.EOF.
func readFrame(r io.Reader, max int64) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := int64(binary.BigEndian.Uint32(h[:]))
	if n > max {
		return nil, &frameTooLarge{n, max}
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}
