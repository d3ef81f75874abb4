package server

import (
	"io"
	"net/http"
	"sync/atomic"
)

// responseWriter records the status and byte count of a response for logs and metrics.
//
// It stays transparent for performance: ReadFrom delegates to the wrapped writer, so an
// io.Copy from an *os.File still reaches net/http's sendfile path; Flush and Unwrap let
// handlers stream and use http.ResponseController.
type responseWriter struct {
	w      http.ResponseWriter
	status int // the final status sent; 0 until then
	n      atomic.Int64
}

var (
	_ io.ReaderFrom = (*responseWriter)(nil)
	_ http.Flusher  = (*responseWriter)(nil)
)

func (rw *responseWriter) Header() http.Header { return rw.w.Header() }

func (rw *responseWriter) WriteHeader(code int) {
	// 1xx other than 101 are informational: the final status follows.
	if rw.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		rw.status = code
	}
	rw.w.WriteHeader(code)
}

// implicit200 notes the status net/http sends when a handler writes a body first.
func (rw *responseWriter) implicit200() {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
}

func (rw *responseWriter) Write(p []byte) (int, error) {
	rw.implicit200()
	n, err := rw.w.Write(p)
	rw.n.Add(int64(n))
	return n, err
}

// ReadFrom hands src to the wrapped writer's ReadFrom (net/http's uses sendfile for files).
func (rw *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	rw.implicit200()
	var n int64
	var err error
	if rf, ok := rw.w.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{rw.w}, src)
	}
	rw.n.Add(n)
	return n, err
}

// Flush sends buffered data to the client.
func (rw *responseWriter) Flush() {
	if f, ok := rw.w.(http.Flusher); ok {
		rw.implicit200()
		f.Flush()
	}
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (rw *responseWriter) Unwrap() http.ResponseWriter { return rw.w }

// statusOrOK is the status the client got: 200 when the handler wrote nothing.
func (rw *responseWriter) statusOrOK() int {
	if rw.status == 0 {
		return http.StatusOK
	}
	return rw.status
}

// writerOnly hides every method but Write, so io.Copy cannot loop back into ReadFrom.
type writerOnly struct{ io.Writer }

// countingBody counts the request bytes a handler reads.
type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *countingBody) count() int64 {
	if b == nil {
		return 0
	}
	return b.n.Load()
}
