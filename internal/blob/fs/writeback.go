package fs

import "os"

// writebackChunk is how much is written to a file before the kernel is asked to start writing
// it to disk (see writebackFile).
const writebackChunk = 8 << 20

// writebackFile is a file being written front to back whose data the kernel starts writing to
// disk every writebackChunk bytes, while the rest is still arriving, rather than all at once
// when it is fsynced (by default Linux leaves fresh data in memory for up to 30 s): the fsync
// that makes the file durable then waits only for what the disk has not caught up with. It
// changes nothing about durability (only a successful fsync vouches for the data) nor about
// what a reader sees; where the kernel offers no such hint it is a plain writer.
type writebackFile struct {
	f       *os.File
	off     int64 // the file offset the next write goes to
	started int64 // writeback is started for the bytes before this offset
}

// newWritebackFile wraps f, whose next write goes to offset off.
func newWritebackFile(f *os.File, off int64) *writebackFile {
	return &writebackFile{f: f, off: off, started: off}
}

func (w *writebackFile) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if w.off-w.started >= writebackChunk {
		startWriteback(w.f, w.started, w.off-w.started)
		w.started = w.off
	}
	return n, err
}
