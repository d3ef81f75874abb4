package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/release"
)

// exitLate is the child's exit status when it outlived a job's deadline by lateGrace (the
// parent, which should have killed it, is gone).
const (
	exitLate  = 3
	lateGrace = 5 * time.Second
)

// Child is the render child: it reads the memory limit from stdin and applies it before
// anything else, then reads jobs, one frame each, runs each in this process
// (registry.InProcess) and writes its result, one frame, to stdout, until the end of stdin.
// A render's failure is in its result; the returned error is for a child that cannot do its
// job (a broken protocol, a limit that cannot be set).
func Child(stdin io.Reader, stdout io.Writer) error {
	br := bufio.NewReader(io.LimitReader(stdin, 32))
	line, err := br.ReadString('\n')
	if err != nil {
		return fmt.Errorf("%s: read the memory limit from stdin: %w", ChildCommand, err)
	}
	memory, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	if err != nil || memory < MinMemory {
		return fmt.Errorf("%s: the memory limit %q is not a number of bytes ≥ %d", ChildCommand, strings.TrimSpace(line), MinMemory)
	}
	if err := limitMemory(memory); err != nil {
		return fmt.Errorf("%s: set the memory limit: %w", ChildCommand, err)
	}
	// What br read past the line is still in its buffer: read the jobs through it.
	jobs := bufio.NewReader(io.MultiReader(br, stdin))
	for {
		in, err := readFrame(jobs, maxJob(memory))
		if errors.Is(err, io.EOF) {
			return nil // the parent is done with this child, or gone
		}
		if err != nil {
			return fmt.Errorf("%s: read a job from stdin: %w", ChildCommand, err)
		}
		var j job
		if err := json.Unmarshal(in, &j); err != nil {
			return fmt.Errorf("%s: decode a job: %w", ChildCommand, err)
		}
		out, err := json.Marshal(serve(j))
		if err != nil {
			return fmt.Errorf("%s: encode a result: %w", ChildCommand, err)
		}
		if err := writeFrame(stdout, out); err != nil {
			return fmt.Errorf("%s: write a result: %w", ChildCommand, err)
		}
		// The job's archives and the render's garbage are not kept while this child waits.
		debug.FreeOSMemory()
	}
}

// serve runs j. Should it outlive its deadline by lateGrace (the parent, which kills a
// render at its deadline, is gone), this process exits.
func serve(j job) result {
	if !j.Deadline.IsZero() {
		late := time.AfterFunc(time.Until(j.Deadline)+lateGrace, func() { os.Exit(exitLate) })
		defer late.Stop()
	}
	ctx := context.Background()
	var res result
	var err error
	switch j.Kind {
	case kindImages:
		res.Images, err = registry.InProcess{}.Images(ctx, j.Archive, j.Limits)
	case kindCheck:
		res.Report, err = registry.InProcess{}.Check(ctx, j.Base, j.Cur, release.Options(j.Check))
	default:
		err = errors.New("unknown job " + strconv.Quote(j.Kind))
	}
	if err != nil {
		return result{Error: err.Error()}
	}
	return res
}

// softLimit sets the garbage collector's goal below the hard limit, so that a render that
// makes much garbage collects it before the hard limit refuses an allocation.
func softLimit(memory int64) {
	debug.SetMemoryLimit(memory * 3 / 4)
}
