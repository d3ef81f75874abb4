package fs

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing the dirty pages of f's bytes [off, off+n)
// to disk, without waiting for them (sync_file_range(2) with SYNC_FILE_RANGE_WRITE). It is a
// hint: it neither makes the data durable nor reports an error (the fsync that follows does).
func startWriteback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}
