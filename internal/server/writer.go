package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/chartroom/chartroom/internal/server/httpx"
)

// responseWriter records the status and byte count of a response for logs and metrics.
//
// It stays transparent for performance: ReadFrom delegates to the wrapped writer, so an
// io.Copy from an *os.File still reaches net/http's sendfile path; Flush and Unwrap let
// handlers stream and use http.ResponseController.
//
// An answer that starts before the handler read the whole request body carries
// "Connection: close": net/http would otherwise read the rest of the body (up to 256 KiB)
// before sending the answer, waiting for a client that may never send it.
type responseWriter struct {
	w      http.ResponseWriter
	body   *countingBody // nil when the request has no body
	status int           // the final status sent; 0 until then
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
		rw.closeIfBodyUnread()
	}
	rw.w.WriteHeader(code)
}

// implicit200 notes the status net/http sends when a handler writes a body first.
func (rw *responseWriter) implicit200() {
	if rw.status == 0 {
		rw.status = http.StatusOK
		rw.closeIfBodyUnread()
	}
}

// closeIfBodyUnread marks the answer "Connection: close" when the request body was not read
// to its end: the connection is closed after the answer instead of waiting for the rest.
func (rw *responseWriter) closeIfBodyUnread() {
	if rw.body != nil && !rw.body.consumed() {
		rw.w.Header().Set("Connection", "close")
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

// countingBody counts the request bytes a handler reads, and cuts a body that makes no
// progress: before each read it moves the connection's read deadline idle ahead, so a read
// that receives nothing for that long fails with httpx.ErrBodyStalled. Once the body is
// read to its end the deadline is cleared (net/http reads ahead on the idle connection then,
// and a deadline firing there would cancel the request's context).
type countingBody struct {
	io.ReadCloser
	rc     *http.ResponseController
	idle   time.Duration // 0: no deadline
	length int64         // Content-Length, -1 when unknown
	n      atomic.Int64
	eof    atomic.Bool
}

func newCountingBody(r *http.Request, w http.ResponseWriter, idle time.Duration) *countingBody {
	return &countingBody{ReadCloser: r.Body, rc: http.NewResponseController(w), idle: idle, length: r.ContentLength}
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.idle > 0 {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	}
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	switch {
	case err == io.EOF || (err == nil && b.length >= 0 && b.n.Load() >= b.length):
		b.eof.Store(true)
		if b.idle > 0 {
			_ = b.rc.SetReadDeadline(time.Time{})
		}
	case err != nil && isTimeout(err):
		err = fmt.Errorf("%w: no byte of the request body arrived for %s (--body-idle-timeout); the connection is closed: %w",
			httpx.ErrBodyStalled, b.idle, err)
	}
	return n, err
}

// consumed reports whether the handler read the body to its end.
func (b *countingBody) consumed() bool {
	return b.eof.Load() || (b.length >= 0 && b.n.Load() >= b.length)
}

// After an answer sent before the handler read the whole request body, the server still
// reads (and drops) what the client sends for up to bodyLinger and lingerBytes before it
// closes the connection. Closing with unread bytes makes the kernel answer with a reset,
// which can destroy the answer before the client reads it: a client that sent a small body
// in one go would see "connection reset" instead of its 401. A client that stopped sending
// holds the connection bodyLinger, no longer.
const (
	bodyLinger  = time.Second
	lingerBytes = 1 << 20
)

// finish runs when the handler returned. The answer goes out first (it says Connection:
// close, so net/http does not wait for the body before sending it), then an unread body is
// read as described at bodyLinger, and the connection closes.
func (b *countingBody) finish() {
	if b == nil || b.consumed() {
		return
	}
	_ = b.rc.Flush()
	linger := bodyLinger
	if b.idle > 0 {
		linger = min(linger, b.idle)
	}
	_ = b.rc.SetReadDeadline(time.Now().Add(linger))
	_, _ = io.CopyN(io.Discard, b.ReadCloser, lingerBytes)
	_ = b.rc.SetReadDeadline(time.Now())
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (b *countingBody) count() int64 {
	if b == nil {
		return 0
	}
	return b.n.Load()
}
