package repo

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server/auth"
	"github.com/chartroom/chartroom/internal/server/httpx"
)

// statusError is an error the handlers raise themselves, with its status.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// badRequest is a 400 answer saying what is wrong with the request.
func badRequest(format string, args ...any) error {
	return &statusError{status: http.StatusBadRequest, err: fmt.Errorf(format, args...)}
}

// notFound is a 404 answer.
func notFound(format string, args ...any) error {
	return &statusError{status: http.StatusNotFound, err: fmt.Errorf(format, args...)}
}

// statuses maps the domain's sentinel errors to HTTP statuses: the one place where they meet.
var statuses = []struct {
	err    error
	status int
}{
	{auth.ErrUnauthenticated, http.StatusUnauthorized},
	{auth.ErrForbidden, http.StatusForbidden},
	{auth.ErrThrottled, http.StatusTooManyRequests},
	{auth.ErrHidden, http.StatusNotFound}, // (the dispatch answers hidden reads from an empty registry)
	{httpx.ErrBodyStalled, http.StatusRequestTimeout},
	{registry.ErrProxyNamespace, http.StatusForbidden},
	{registry.ErrUpstream, http.StatusBadGateway},
	{registry.ErrChartInvalid, http.StatusBadRequest},
	{registry.ErrNameInvalid, http.StatusBadRequest},
	{registry.ErrManifestInvalid, http.StatusBadRequest},
	{registry.ErrTagInvalid, http.StatusBadRequest},
	{registry.ErrDigestInvalid, http.StatusBadRequest},
	{registry.ErrSizeInvalid, http.StatusBadRequest},
	{registry.ErrManifestBlobUnknown, http.StatusBadRequest},
	{registry.ErrImmutable, http.StatusConflict},
	{registry.ErrBumpTooSmall, http.StatusConflict},
	{registry.ErrVersionExists, http.StatusConflict},
	{registry.ErrTooLarge, http.StatusRequestEntityTooLarge},
	{registry.ErrChartUnknown, http.StatusNotFound},
	{registry.ErrMetadataUnknown, http.StatusNotFound},
	{registry.ErrNameUnknown, http.StatusNotFound},
	{registry.ErrManifestUnknown, http.StatusNotFound},
	{registry.ErrBlobUnknown, http.StatusNotFound},
	{registry.ErrUploadUnknown, http.StatusNotFound},
	{registry.ErrRangeInvalid, http.StatusRequestedRangeNotSatisfiable},
	{registry.ErrTooManyUploads, http.StatusTooManyRequests},
}

// statusOf returns the status an error is answered with; 0 when it was not expected (a 500).
func statusOf(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return se.status
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	for _, s := range statuses {
		if errors.Is(err, s.err) {
			return s.status
		}
	}
	return 0
}

// reason is the short phrase the request log gives err, answered with status: the domain
// error's (the same over both protocols), else the status's.
func reason(err error, status int) string {
	var mbe *http.MaxBytesError
	switch {
	case httpx.Reason(err) != "":
		return httpx.Reason(err)
	case registry.Reason(err) != "":
		return registry.Reason(err)
	case errors.As(err, &mbe):
		return "too_large"
	case status == http.StatusInternalServerError:
		return "internal"
	}
	return httpx.StatusReason(status)
}

// writeError is the single exit point of every error answer: {"error": "<message>"}, the
// message being the error's own text, which says what was wrong and what to do. An unexpected
// error is logged and answered with a generic message, never its detail. HEAD answers carry
// the status only.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	msg := err.Error()
	if status == 0 {
		status = http.StatusInternalServerError
		msg = "internal server error: the chart repository could not complete the request; its log has the details"
		level := h.log.Error
		if r.Context().Err() != nil {
			level = h.log.Debug // the client went away, or shutdown cut the request: the request line says which
		}
		level("repo: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	httpx.SetReason(r, reason(err, status))
	if status == http.StatusUnauthorized {
		h.authz.Challenge(w)
	}
	auth.SetRetryAfter(w, err)
	// Headers a successful answer may have set before failing do not belong to the error.
	for _, k := range []string{"Content-Encoding", "Content-Length", "ETag", "Last-Modified", "Cache-Control", "Content-Disposition"} {
		w.Header().Del(k)
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	httpx.WriteError(w, status, msg)
}
