package sandbox

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// limitMemory caps this process's address space (RLIMIT_AS) at what it maps now plus memory,
// and sets the garbage collector's soft limit below that.
//
// Go's runtime maps about 1 GiB of address space at start (measured: 1.2 GiB for chartroom,
// almost none of it resident), differently per version and machine, so the cap is relative
// to it: memory is then close to the most heap a render may hold. A cgroup would count
// resident memory instead, but needs privileges or a delegated hierarchy a server may not
// have; RLIMIT_AS needs neither, and an allocation beyond it fails at once ("fatal error:
// out of memory") instead of swapping.
func limitMemory(memory int64) error {
	now, err := mappedBytes()
	if err != nil {
		return err
	}
	lim := uint64(now + memory)
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: lim, Max: lim}); err != nil {
		return fmt.Errorf("RLIMIT_AS: %w", err)
	}
	softLimit(memory)
	return nil
}

// mappedBytes is the size of this process's address space (/proc/self/statm's first field).
func mappedBytes() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("/proc/self/statm: empty")
	}
	pages, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/self/statm: %w", err)
	}
	return pages * int64(os.Getpagesize()), nil
}
