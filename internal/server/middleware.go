package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chartroom/chartroom/internal/server/httpx"
)

// routeOther is the route label of requests no handler named.
const routeOther = "other"

// observer is the outermost middleware: it gives handlers an httpx.Info to fill in, turns a
// panic into a 500 JSON error (the stack goes to the log, never to the client), logs one line
// per request and records the request's metrics.
type observer struct {
	next    http.Handler
	log     *slog.Logger
	metrics *metrics
	// inFlight lets shutdown wait for handlers whose connections it had to close.
	inFlight *sync.WaitGroup
	// bodyIdle cuts request bodies that deliver nothing for this long; 0 never does.
	bodyIdle time.Duration
	// draining, when set, marks every answer "Connection: close", so that clients open
	// their next connection to another replica while this one drains; nil: never.
	draining *atomic.Bool
}

func (o *observer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	o.inFlight.Add(1)
	defer o.inFlight.Done()
	o.metrics.inFlight.Inc()
	defer o.metrics.inFlight.Dec()

	r, info := httpx.WithInfo(r)
	var body *countingBody
	if r.Body != nil && r.Body != http.NoBody {
		body = newCountingBody(r, w, o.bodyIdle)
		r.Body = body
	}
	if o.draining != nil && o.draining.Load() {
		w.Header().Set("Connection", "close")
	}
	rw := &responseWriter{w: w, body: body}
	defer body.finish()

	defer func() {
		p := recover()
		if p != nil && p != http.ErrAbortHandler {
			o.log.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.String("panic", fmt.Sprint(p)), slog.String("stack", string(debug.Stack())))
			httpx.SetReason(r, "panic")
			if rw.status == 0 {
				// Headers the handler set for its own answer (Content-Length, digests) do
				// not describe this one.
				clear(rw.Header())
				httpx.WriteError(rw, http.StatusInternalServerError,
					"internal server error: the failure was logged; retry, and report it if it persists")
			} else {
				// Too late for an error status: break the connection so the client sees a
				// truncated response rather than a complete-looking one.
				rw.status = http.StatusInternalServerError
				p = http.ErrAbortHandler
			}
		}
		o.finish(r, info, rw, body, start)
		if p == http.ErrAbortHandler {
			panic(p)
		}
	}()
	o.next.ServeHTTP(rw, r)
}

func (o *observer) finish(r *http.Request, info *httpx.Info, rw *responseWriter, body *countingBody, start time.Time) {
	d := time.Since(start)
	route := info.Route
	if route == "" {
		route = routeOther
	}
	status := rw.statusOrOK()
	reason := info.Reason
	msg, level := "request", slog.LevelInfo
	cut := errors.Is(context.Cause(r.Context()), errShutdownTimeout)
	if cut {
		// The connection was closed under the request: the client got no answer, whatever
		// status the handler tried to send (a 400 for the body it could no longer read).
		status, reason = http.StatusServiceUnavailable, "shutdown_timeout"
		msg, level = "request cut by the shutdown timeout", slog.LevelWarn
	}
	if status >= 400 && reason == "" {
		reason = httpx.StatusReason(status)
	}
	in, out := body.count(), rw.n.Load()
	o.metrics.observe(route, r.Method, status, in, out, d)

	attempted, authFailed := failedSignIn(r, reason)
	switch {
	case cut:
	case status >= 500:
		level = slog.LevelError
	case authFailed:
		level = slog.LevelWarn
	case status < 400 && (route == routeHealthz || route == routeReadyz || route == routeMetrics):
		level = slog.LevelDebug // probes and scrapes answered, every few seconds
	}
	if !o.log.Enabled(r.Context(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path), // never the query: upload URLs carry signed state
		slog.String("route", route),
		slog.Int("status", status),
		slog.Int64("bytes_in", in),
		slog.Int64("bytes_out", out),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.String("user", info.User),
		slog.String("remote", r.RemoteAddr),
	}
	if status >= 400 {
		attrs = append(attrs, slog.String("reason", reason))
	}
	if authFailed {
		attrs = append(attrs, slog.String("attempted_user", attempted))
	}
	o.log.LogAttrs(r.Context(), level, msg, attrs...)
}

// maxLoggedUserName bounds the attempted user name a log line repeats: it is whatever the
// client sent.
const maxLoggedUserName = 128

// failedSignIn reports whether the request brought credentials that were refused (wrong, of
// an unknown user, or not even checked because of too many failures), and the user name it
// tried ("" for credentials other than HTTP Basic). Never the password.
func failedSignIn(r *http.Request, reason string) (string, bool) {
	if (reason != "unauthorized" && reason != "throttled") || r.Header.Get("Authorization") == "" {
		return "", false
	}
	user, _, _ := r.BasicAuth()
	if len(user) > maxLoggedUserName {
		user = user[:maxLoggedUserName] + "…"
	}
	return user, true
}
