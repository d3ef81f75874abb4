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

// exitLate is the child's exit status when it outlived its job's deadline by lateGrace (the
// parent, which should have killed it, is gone).
const (
	exitLate  = 3
	lateGrace = 5 * time.Second
)

// Child is the render child: it reads the memory limit from stdin and applies it before
// anything else, then reads one job, runs it in this process (registry.InProcess) and
// writes the result to stdout. A render's failure is in the result; the returned error is
// for a child that cannot do its job (a broken protocol, a limit that cannot be set).
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
	// What br read past the line is still in its buffer: read the job through it.
	rest := io.MultiReader(br, stdin)
	var j job
	if err := json.NewDecoder(rest).Decode(&j); err != nil {
		return fmt.Errorf("%s: read the job from stdin: %w", ChildCommand, err)
	}
	if !j.Deadline.IsZero() {
		time.AfterFunc(time.Until(j.Deadline)+lateGrace, func() { os.Exit(exitLate) })
	}
	ctx := context.Background()
	var res result
	var rerr error
	switch j.Kind {
	case kindImages:
		res.Images, rerr = registry.InProcess{}.Images(ctx, j.Archive, j.Limits)
	case kindCheck:
		res.Report, rerr = registry.InProcess{}.Check(ctx, j.Base, j.Cur, release.Options(j.Check))
	default:
		rerr = errors.New("unknown job " + strconv.Quote(j.Kind))
	}
	if rerr != nil {
		res = result{Error: rerr.Error()}
	}
	return json.NewEncoder(stdout).Encode(res)
}

// softLimit sets the garbage collector's goal below the hard limit, so that a render that
// makes much garbage collects it before the hard limit refuses an allocation.
func softLimit(memory int64) {
	debug.SetMemoryLimit(memory * 3 / 4)
}
