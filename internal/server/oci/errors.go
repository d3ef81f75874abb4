package oci

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server/auth"
	"github.com/chartroom/chartroom/internal/server/httpx"
)

// errorCode is one row of the error table: the code a client reads (OCI Distribution Spec v1.1,
// "Error Codes"), the HTTP status that code answers with, and its default message. A row is
// identified by its pointer, so one OCI code can have two rows when the spec asks for two
// statuses (MANIFEST_INVALID is 400, or 413 for a manifest over the size limit).
type errorCode struct {
	Code    string
	Status  int
	Message string
}

// The error table. Every error answer of this package uses one of these rows.
var (
	codeBlobUnknown         = &errorCode{"BLOB_UNKNOWN", http.StatusNotFound, "blob unknown to registry"}
	codeBlobUploadInvalid   = &errorCode{"BLOB_UPLOAD_INVALID", http.StatusBadRequest, "blob upload invalid"}
	codeBlobUploadUnknown   = &errorCode{"BLOB_UPLOAD_UNKNOWN", http.StatusNotFound, "blob upload unknown to registry"}
	codeDigestInvalid       = &errorCode{"DIGEST_INVALID", http.StatusBadRequest, "provided digest did not match uploaded content"}
	codeManifestBlobUnknown = &errorCode{"MANIFEST_BLOB_UNKNOWN", http.StatusBadRequest, "manifest references a manifest or blob unknown to registry"}
	codeManifestInvalid     = &errorCode{"MANIFEST_INVALID", http.StatusBadRequest, "manifest invalid"}
	codeManifestTooLarge    = &errorCode{"MANIFEST_INVALID", http.StatusRequestEntityTooLarge, "manifest exceeds the size limit"}
	codeManifestUnknown     = &errorCode{"MANIFEST_UNKNOWN", http.StatusNotFound, "manifest unknown to registry"}
	codeNameInvalid         = &errorCode{"NAME_INVALID", http.StatusBadRequest, "invalid repository name"}
	codeNameUnknown         = &errorCode{"NAME_UNKNOWN", http.StatusNotFound, "repository name not known to registry"}
	codeSizeInvalid         = &errorCode{"SIZE_INVALID", http.StatusBadRequest, "provided length did not match content length"}
	codeTooLarge            = &errorCode{"SIZE_INVALID", http.StatusRequestEntityTooLarge, "content exceeds the size limit"}
	codeTagInvalid          = &errorCode{"TAG_INVALID", http.StatusBadRequest, "invalid tag"}
	codeUnauthorized        = &errorCode{"UNAUTHORIZED", http.StatusUnauthorized, "authentication required"}
	codeDenied              = &errorCode{"DENIED", http.StatusForbidden, "requested access to the resource is denied"}
	codeImmutable           = &errorCode{"DENIED", http.StatusConflict, "published content is immutable; publish a new version"}
	codeBumpTooSmall        = &errorCode{"DENIED", http.StatusConflict, "the version's bump is smaller than its changes require"}
	codeUnsupported         = &errorCode{"UNSUPPORTED", http.StatusMethodNotAllowed, "the operation is unsupported"} // also: a method an endpoint does not serve
	codeNotFound            = &errorCode{"UNSUPPORTED", http.StatusNotFound, "no such endpoint"}
	codeTooManyRequests     = &errorCode{"TOOMANYREQUESTS", http.StatusTooManyRequests, "too many requests"} // for rate limits
	codeRangeInvalid        = &errorCode{"RANGE_INVALID", http.StatusRequestedRangeNotSatisfiable, "requested range not satisfiable"}
	codePaginationInvalid   = &errorCode{"PAGINATION_NUMBER_INVALID", http.StatusBadRequest, "invalid number of results requested"}
	codeProxyNamespace      = &errorCode{"DENIED", http.StatusForbidden, "the namespace is a read-only proxy of an upstream"}
	codeUpstream            = &errorCode{"UNKNOWN", http.StatusBadGateway, "the upstream of the proxy namespace failed"}
	codeUnknown             = &errorCode{"UNKNOWN", http.StatusInternalServerError, "internal server error: the registry could not complete the request; its log has the details"}
)

// sentinels maps the registry's and auth's errors to rows, first match wins. Errors wrapping
// several sentinels are decided by order (a too-large manifest is ErrManifestInvalid and
// ErrTooLarge, answered 413).
var sentinels = []struct {
	err  error
	code *errorCode
}{
	{auth.ErrUnauthenticated, codeUnauthorized},
	{auth.ErrForbidden, codeDenied},
	{auth.ErrThrottled, codeTooManyRequests},
	{auth.ErrHidden, codeNameUnknown}, // (the dispatch answers hidden reads from an empty registry)
	{registry.ErrProxyNamespace, codeProxyNamespace},
	{registry.ErrUpstream, codeUpstream},
	{registry.ErrImmutable, codeImmutable},
	{registry.ErrBumpTooSmall, codeBumpTooSmall},
	{registry.ErrVersionExists, codeImmutable},
	{errManifestTooLarge, codeManifestTooLarge},
	{registry.ErrTooLarge, codeTooLarge},
	{registry.ErrNameInvalid, codeNameInvalid},
	{registry.ErrNameUnknown, codeNameUnknown},
	{registry.ErrBlobUnknown, codeBlobUnknown},
	{registry.ErrUploadUnknown, codeBlobUploadUnknown},
	{registry.ErrTooManyUploads, codeTooManyRequests},
	{registry.ErrRangeInvalid, codeRangeInvalid},
	{registry.ErrDigestInvalid, codeDigestInvalid},
	{registry.ErrSizeInvalid, codeSizeInvalid},
	{registry.ErrManifestBlobUnknown, codeManifestBlobUnknown},
	{registry.ErrManifestInvalid, codeManifestInvalid},
	{registry.ErrChartInvalid, codeManifestInvalid},
	{registry.ErrManifestUnknown, codeManifestUnknown},
	{registry.ErrChartUnknown, codeManifestUnknown},
	{registry.ErrMetadataUnknown, codeManifestUnknown},
	{registry.ErrTagInvalid, codeTagInvalid},
	{errRequestBody, codeBlobUploadInvalid},
}

// errRequestBody marks a failure to read the request body: the client's fault, not the registry's.
var errRequestBody = errors.New("reading the request body failed")

// errManifestTooLarge marks a manifest body over the registry's MaxManifestSize.
var errManifestTooLarge = errors.New("manifest too large")

// ociError is an error this package raises itself, with its row.
type ociError struct {
	code *errorCode
	err  error
}

func (e *ociError) Error() string { return e.err.Error() }
func (e *ociError) Unwrap() error { return e.err }

// newError builds an error answered with code; the message says what was wrong.
func newError(code *errorCode, format string, args ...any) error {
	return &ociError{code: code, err: fmt.Errorf(format, args...)}
}

// classify maps an error to its row of the error table: the one place where domain errors
// become OCI codes and statuses. nil means the error was not expected (a 500).
func classify(err error) *errorCode {
	var oe *ociError
	if errors.As(err, &oe) {
		return oe.code
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.code
		}
	}
	return nil
}

// rowReasons are the reasons of rows whose code does not say it (reason).
var rowReasons = map[*errorCode]string{
	codeNotFound:    "not_found",
	codeUnsupported: "method_not_allowed",
	codeUnknown:     "internal",
}

// reason is the short phrase the request log gives err, answered with code: the row's when
// this package raised the error, else the domain error's (the same over both protocols),
// else the code's.
func reason(err error, code *errorCode) string {
	var oe *ociError
	switch {
	case errors.As(err, &oe):
	case errors.Is(err, errManifestTooLarge):
		return "too_large"
	case httpx.Reason(err) != "":
		return httpx.Reason(err)
	case registry.Reason(err) != "":
		return registry.Reason(err)
	case errors.Is(err, errRequestBody):
		return "body_unreadable"
	}
	if s, ok := rowReasons[code]; ok {
		return s
	}
	return strings.ToLower(code.Code)
}

// errorBody is the error answer of OCI Distribution Spec v1.1.
type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// writeError is the single exit point of every error answer. The message is the error's own
// text, which says what was wrong and what to do (clients such as helm print it as is); an
// unexpected error is logged and answered with a generic message, never its detail.
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := classify(err)
	msg := err.Error()
	if code == nil {
		code, msg = codeUnknown, codeUnknown.Message
		level := h.log.Error
		if r.Context().Err() != nil {
			level = h.log.Debug // the client went away, or shutdown cut the request: the request line says which
		}
		level("oci: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if msg == "" {
		msg = code.Message
	}
	httpx.SetReason(r, reason(err, code))
	if code == codeUnauthorized {
		h.challenge(w, r, err)
	}
	auth.SetRetryAfter(w, err)
	httpx.WriteJSON(w, code.Status, "application/json; charset=utf-8", errorBody{Errors: []errorEntry{{Code: code.Code, Message: msg}}})
}
