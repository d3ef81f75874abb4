package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFile is the file in the data directory that one `chartroom serve` holds locked while it
// runs. Two servers on one local data directory would empty each other's spool and race on
// the blob store's temporary files; the second is refused instead.
const LockFile = "chartroom.lock"

// ErrDataDirLocked is returned by New when another process serves the data directory.
var ErrDataDirLocked = errors.New("the data directory is in use by another chartroom serve")

// lockDataDir takes an exclusive advisory lock (flock) on dir's lock file, writing this
// process's id into it. The lock ends with the process, however it ends, so a crash leaves
// nothing to clean up. fsck and backup read beside a running server and take no lock.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock the data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := "another process"
			if pid := strings.TrimSpace(string(holder)); pid != "" {
				who = "process " + pid
			}
			return nil, fmt.Errorf("%w (%s holds %s): stop it first, or give this server its own --data-dir; replicas share data only through PostgreSQL and S3, not a directory",
				ErrDataDirLocked, who, path)
		}
		return nil, fmt.Errorf("lock the data directory %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}
