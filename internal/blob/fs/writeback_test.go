package fs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestWritebackFile: the bytes land where a plain write puts them, and writeback is asked for
// every writebackChunk bytes, from where the file's writes started.
func TestWritebackFile(t *testing.T) {
	for _, start := range []int64{0, 5, writebackChunk + 3} {
		path := filepath.Join(t.TempDir(), "data")
		head := randomData(int(start))
		if err := os.WriteFile(path, head, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		w := newWritebackFile(f, start)
		data := randomData(3*writebackChunk + 12345)
		var marks []int64
		for off := 0; off < len(data); {
			n := min(len(data)-off, 777_777) // not a divisor of writebackChunk
			if _, err := w.Write(data[off : off+n]); err != nil {
				t.Fatal(err)
			}
			off += n
			if len(marks) == 0 || marks[len(marks)-1] != w.started {
				marks = append(marks, w.started)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, append(head, data...)) {
			t.Fatalf("start %d: the file holds other bytes than were written", start)
		}
		if w.off != start+int64(len(data)) {
			t.Fatalf("start %d: offset %d, want %d", start, w.off, start+int64(len(data)))
		}
		// Writeback was started twice (each time for at least writebackChunk bytes, less than
		// one more write's worth) and the last bytes wait for the fsync.
		if len(marks) != 3 || marks[0] != start {
			t.Fatalf("start %d: writeback started up to %v, want 2 steps from %d", start, marks, start)
		}
		for i := 1; i < len(marks); i++ {
			if step := marks[i] - marks[i-1]; step < writebackChunk || step >= writebackChunk+777_777 {
				t.Fatalf("start %d: writeback step %d of %d bytes", start, i, step)
			}
		}
	}
}

// TestStartWritebackOnAnyFile: the hint never fails a write, whatever the file.
func TestStartWritebackOnAnyFile(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	startWriteback(f, 0, 1<<20) // nothing written yet
	if _, err := f.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	startWriteback(f, 0, 3)
	startWriteback(f, 1<<40, 1<<20) // past the end
	f.Close()
	startWriteback(f, 0, 3) // closed
	ro, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	startWriteback(ro, 0, 1) // a directory
	if b, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || string(b) != "abc" {
		t.Fatalf("file after the hints: %q, %v", b, err)
	}
}
