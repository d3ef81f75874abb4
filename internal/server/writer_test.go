package server

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// readerFromRecorder is a ResponseWriter that implements io.ReaderFrom like net/http's and
// records what it was handed.
type readerFromRecorder struct {
	*httptest.ResponseRecorder
	src io.Reader
}

func (r *readerFromRecorder) ReadFrom(src io.Reader) (int64, error) {
	r.src = src
	return io.Copy(r.ResponseRecorder, src)
}

// TestReadFromReachesSendfile checks the property net/http's sendfile path depends on: an
// io.Copy from an *os.File through the wrapper hands the wrapped writer's ReadFrom a source
// that is still a file descriptor (syscall.Conn), not a copy loop over Write.
func TestReadFromReachesSendfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blob")
	want := make([]byte, 3<<20)
	rand.Read(want)
	if err := os.WriteFile(path, want, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	under := &readerFromRecorder{ResponseRecorder: httptest.NewRecorder()}
	rw := &responseWriter{w: under}
	n, err := io.Copy(rw, f)
	if err != nil || n != int64(len(want)) {
		t.Fatalf("io.Copy = %d, %v; want %d, nil", n, err, len(want))
	}
	if under.src == nil {
		t.Fatal("the wrapped writer's ReadFrom was not called: io.Copy fell back to Write")
	}
	if _, ok := under.src.(syscall.Conn); !ok {
		t.Fatalf("ReadFrom got a %T, which net's sendfile cannot use (it needs a syscall.Conn)", under.src)
	}
	if rw.n.Load() != int64(len(want)) || rw.statusOrOK() != http.StatusOK {
		t.Errorf("recorded %d bytes, status %d; want %d, 200", rw.n.Load(), rw.statusOrOK(), len(want))
	}
	if !bytes.Equal(under.Body.Bytes(), want) {
		t.Error("body differs from the file")
	}
}

// TestWriterOverHTTP serves a file through the wrapper on a real connection (where net/http
// may use sendfile) and checks bytes, status and the recorded count.
func TestWriterOverHTTP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blob")
	want := make([]byte, 5<<20+123)
	rand.Read(want)
	if err := os.WriteFile(path, want, 0o600); err != nil {
		t.Fatal(err)
	}
	var rw *responseWriter
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw = &responseWriter{w: w}
		f, err := os.Open(path)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		rw.Header().Set("Content-Length", "5243003")
		rw.WriteHeader(http.StatusPartialContent)
		if _, err := io.Copy(rw, f); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, want) {
		t.Fatalf("status %d, %d bytes; want 206 and the file's %d bytes", resp.StatusCode, len(got), len(want))
	}
	if rw.status != http.StatusPartialContent || rw.n.Load() != int64(len(want)) {
		t.Errorf("recorded status %d, %d bytes", rw.status, rw.n.Load())
	}
}

func TestWriterStatus(t *testing.T) {
	tests := []struct {
		name  string
		write func(w http.ResponseWriter)
		want  int
		bytes int64
	}{
		{"nothing written", func(w http.ResponseWriter) {}, 200, 0},
		{"body only", func(w http.ResponseWriter) { w.Write([]byte("abc")) }, 200, 3},
		{"explicit status", func(w http.ResponseWriter) { w.WriteHeader(404); w.Write([]byte("x")) }, 404, 1},
		{"second WriteHeader ignored", func(w http.ResponseWriter) { w.WriteHeader(201); w.WriteHeader(500) }, 201, 0},
		{"informational first", func(w http.ResponseWriter) { w.WriteHeader(103); w.WriteHeader(202) }, 202, 0},
		{"flush", func(w http.ResponseWriter) { w.(http.Flusher).Flush() }, 200, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rw := &responseWriter{w: httptest.NewRecorder()}
			tt.write(rw)
			if rw.statusOrOK() != tt.want || rw.n.Load() != tt.bytes {
				t.Errorf("status %d, %d bytes; want %d, %d", rw.statusOrOK(), rw.n.Load(), tt.want, tt.bytes)
			}
		})
	}
}

func TestWriterUnwrap(t *testing.T) {
	under := httptest.NewRecorder()
	rw := &responseWriter{w: under}
	if rw.Unwrap() != under {
		t.Fatal("Unwrap does not return the wrapped writer")
	}
	// http.ResponseController finds Flush through the wrapper.
	if err := http.NewResponseController(rw).Flush(); err != nil {
		t.Fatalf("ResponseController.Flush: %v", err)
	}
	if !under.Flushed {
		t.Error("the wrapped writer was not flushed")
	}
}
