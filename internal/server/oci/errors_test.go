package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/registry/registrytest"
	"github.com/chartroom/chartroom/internal/server/auth"
)

// allCodes is the error table, for the checks below.
var allCodes = []*errorCode{
	codeBlobUnknown, codeBlobUploadInvalid, codeBlobUploadUnknown, codeDigestInvalid, codeManifestBlobUnknown,
	codeManifestInvalid, codeManifestTooLarge, codeManifestUnknown, codeNameInvalid, codeNameUnknown,
	codeSizeInvalid, codeTooLarge, codeTagInvalid, codeUnauthorized, codeDenied, codeImmutable, codeUnsupported,
	codeNotFound, codeTooManyRequests, codeRangeInvalid, codePaginationInvalid, codeUnknown,
}

func TestErrorTable(t *testing.T) {
	codeGrammar := regexp.MustCompile(`^[A-Z_]+$`)
	seen := map[errorCode]bool{}
	for _, c := range allCodes {
		if !codeGrammar.MatchString(c.Code) || c.Status < 400 || c.Status > 599 || c.Message == "" {
			t.Errorf("bad row %+v", *c)
		}
		if seen[*c] {
			t.Errorf("duplicate row %+v", *c)
		}
		seen[*c] = true
	}
}

func TestClassify(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("put manifest x@y: %w: the detail", err) }
	tests := []struct {
		name   string
		err    error
		code   string
		status int
	}{
		{"unauthenticated", wrap(auth.ErrUnauthenticated), "UNAUTHORIZED", 401},
		{"forbidden", wrap(auth.ErrForbidden), "DENIED", 403},
		{"immutable", wrap(registry.ErrImmutable), "DENIED", 409},
		{"name invalid", wrap(registry.ErrNameInvalid), "NAME_INVALID", 400},
		{"name unknown", wrap(registry.ErrNameUnknown), "NAME_UNKNOWN", 404},
		{"blob unknown", wrap(registry.ErrBlobUnknown), "BLOB_UNKNOWN", 404},
		{"upload unknown", wrap(registry.ErrUploadUnknown), "BLOB_UPLOAD_UNKNOWN", 404},
		{"range invalid", wrap(registry.ErrRangeInvalid), "RANGE_INVALID", 416},
		{"digest invalid", wrap(registry.ErrDigestInvalid), "DIGEST_INVALID", 400},
		{"size invalid", wrap(registry.ErrSizeInvalid), "SIZE_INVALID", 400},
		{"too large", wrap(registry.ErrTooLarge), "SIZE_INVALID", 413},
		{"manifest too large", fmt.Errorf("%w: %w", registry.ErrManifestInvalid, errManifestTooLarge), "MANIFEST_INVALID", 413},
		{"manifest blob unknown", wrap(registry.ErrManifestBlobUnknown), "MANIFEST_BLOB_UNKNOWN", 400},
		{"manifest invalid", wrap(registry.ErrManifestInvalid), "MANIFEST_INVALID", 400},
		{"chart invalid", wrap(registry.ErrChartInvalid), "MANIFEST_INVALID", 400},
		{"manifest unknown", wrap(registry.ErrManifestUnknown), "MANIFEST_UNKNOWN", 404},
		{"tag invalid", wrap(registry.ErrTagInvalid), "TAG_INVALID", 400},
		{"chart unknown", wrap(registry.ErrChartUnknown), "MANIFEST_UNKNOWN", 404},
		{"version exists", wrap(registry.ErrVersionExists), "DENIED", 409},
		{"request body", wrap(errRequestBody), "BLOB_UPLOAD_INVALID", 400},
		{"own code", newError(codeTooManyRequests, "slow down"), "TOOMANYREQUESTS", 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := classify(tt.err)
			if c == nil || c.Code != tt.code || c.Status != tt.status {
				t.Fatalf("classify = %+v, want %s %d", c, tt.code, tt.status)
			}
		})
	}
	if c := classify(errors.New("disk on fire")); c != nil {
		t.Errorf("an unexpected error classified as %+v", c)
	}
}

func TestWriteError(t *testing.T) {
	var logs bytes.Buffer
	h := &handler{log: slog.New(slog.NewTextHandler(&logs, nil)), authz: auth.New(nil, auth.Options{})}
	tests := []struct {
		name      string
		err       error
		status    int
		code      string
		message   string // the message says this
		hidden    string // the answer must not say this
		logged    bool
		challenge bool
	}{
		{"domain error keeps its message", fmt.Errorf("%w: myapp 1.0.0 is already published (manifest sha256:abc); publish a new version", registry.ErrImmutable),
			409, "DENIED", "manifest sha256:abc", "", false, false},
		{"unauthorized challenges", fmt.Errorf("%w: push needs credentials", auth.ErrUnauthenticated), 401, "UNAUTHORIZED", "push needs credentials", "", false, true},
		{"unexpected error is hidden and logged", errors.New("open /var/lib/secret/db: disk I/O error"), 500, "UNKNOWN", "internal server error", "/var/lib/secret", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			w := httptest.NewRecorder()
			r := httptest.NewRequestWithContext(context.Background(), "GET", "/v2/x/manifests/y", nil)
			h.writeError(w, r, tt.err)
			if w.Code != tt.status {
				t.Errorf("status %d, want %d", w.Code, tt.status)
			}
			var body errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 {
				t.Fatalf("body %q: %v", w.Body.String(), err)
			}
			got := body.Errors[0]
			if got.Code != tt.code || !strings.Contains(got.Message, tt.message) {
				t.Errorf("error %+v, want %s saying %q", got, tt.code, tt.message)
			}
			if tt.hidden != "" && strings.Contains(w.Body.String(), tt.hidden) {
				t.Errorf("the answer leaks %q: %s", tt.hidden, w.Body.String())
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			if logged := strings.Contains(logs.String(), "disk I/O error"); logged != tt.logged {
				t.Errorf("logged = %v: %q", logged, logs.String())
			}
			if challenged := w.Header().Get("WWW-Authenticate") != ""; challenged != tt.challenge {
				t.Errorf("WWW-Authenticate = %q", w.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

// Every domain error of the registry has its row: none is answered with a 500 (a proxy
// namespace's failing upstream is a 502 on purpose: the gateway's upstream failed).
func TestEveryRegistryErrorHasACode(t *testing.T) {
	for _, s := range registrytest.Sentinels(t) {
		if c := classify(fmt.Errorf("op: %w: the detail", s.Err)); c == nil || c.Status >= 500 && !(s.Err == registry.ErrUpstream && c.Status == http.StatusBadGateway) {
			t.Errorf("registry.%s is answered as an unexpected error (500): give it a row in the sentinels table", s.Name)
		}
	}
}
