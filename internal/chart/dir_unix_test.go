//go:build unix

package chart

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestLoadDirRefusesFIFO(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Chart.yaml": minimalChartYAML})
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	_, err := LoadDir(context.Background(), dir, Limits{})
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("err = %v", err)
	}
	// Listed in .helmignore, it is skipped as Helm skips it.
	writeTree(t, dir, map[string]string{".helmignore": "pipe\n"})
	if _, err := LoadDir(context.Background(), dir, Limits{}); err != nil {
		t.Errorf("ignored FIFO: %v", err)
	}
}
