//go:build !linux

package sandbox

// limitMemory sets the garbage collector's soft limit only: without /proc, the address
// space the runtime maps at start is not known, and a cap on it would refuse the runtime
// itself. A render is still stopped at its deadline.
func limitMemory(memory int64) error {
	softLimit(memory)
	return nil
}
