package oci

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/registry"
)

func TestBlobGetHeadDelete(t *testing.T) {
	e := newEnv(t, registry.Options{})
	data := []byte("chart bytes")
	d := e.pushBlob("team/app", data)
	missing := digest.FromString("missing")
	tests := []struct {
		name, method, path string
		status             int
		code               string
		body               []byte
	}{
		{"get", "GET", "/v2/team/app/blobs/" + d.String(), http.StatusOK, "", data},
		{"head", "HEAD", "/v2/team/app/blobs/" + d.String(), http.StatusOK, "", nil},
		{"get unknown", "GET", "/v2/team/app/blobs/" + missing.String(), http.StatusNotFound, "BLOB_UNKNOWN", nil},
		{"get from another repository", "GET", "/v2/team/other/blobs/" + d.String(), http.StatusNotFound, "BLOB_UNKNOWN", nil},
		{"malformed digest", "GET", "/v2/team/app/blobs/sha256:abc", http.StatusBadRequest, "DIGEST_INVALID", nil},
		{"unknown algorithm", "GET", "/v2/team/app/blobs/md5:" + strings.Repeat("a", 32), http.StatusBadRequest, "DIGEST_INVALID", nil},
		{"upper-case hex", "GET", "/v2/team/app/blobs/sha256:" + strings.ToUpper(d.Encoded()), http.StatusBadRequest, "DIGEST_INVALID", nil},
		{"delete unknown", "DELETE", "/v2/team/app/blobs/" + missing.String(), http.StatusNotFound, "BLOB_UNKNOWN", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(tt.method, tt.path, nil)
			if tt.method == "HEAD" {
				if res.status != tt.status {
					t.Fatalf("status %d", res.status)
				}
			} else {
				res.expect(t, tt.status, tt.code)
			}
			if tt.status != http.StatusOK {
				return
			}
			if !bytes.Equal(res.body, tt.body) {
				t.Errorf("body = %q, want %q", res.body, tt.body)
			}
			for k, want := range map[string]string{
				"Docker-Content-Digest": d.String(),
				"Content-Length":        strconv.Itoa(len(data)),
				"Content-Type":          "application/octet-stream",
			} {
				if got := res.header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
	t.Run("delete", func(t *testing.T) {
		e.do("DELETE", "/v2/team/app/blobs/"+d.String(), nil).expect(t, http.StatusAccepted, "")
		e.do("HEAD", "/v2/team/app/blobs/"+d.String(), nil).expect(t, http.StatusNotFound, "")
	})
}

func TestBlobRange(t *testing.T) {
	e := newEnv(t, registry.Options{})
	data := make([]byte, 2048)
	for i := range data {
		data[i] = byte(i * 7)
	}
	d := e.pushBlob("app", data)
	tests := []struct {
		name, rangeHeader string
		status            int
		contentRange      string
		body              []byte
	}{
		{"middle", "bytes=500-1499", http.StatusPartialContent, "bytes 500-1499/2048", data[500:1500]},
		{"open end", "bytes=500-", http.StatusPartialContent, "bytes 500-2047/2048", data[500:]},
		{"suffix", "bytes=-500", http.StatusPartialContent, "bytes 1548-2047/2048", data[1548:]},
		{"suffix longer than the blob", "bytes=-5000", http.StatusPartialContent, "bytes 0-2047/2048", data},
		{"end past the blob", "bytes=2000-5000", http.StatusPartialContent, "bytes 2000-2047/2048", data[2000:]},
		{"first byte", "bytes=0-0", http.StatusPartialContent, "bytes 0-0/2048", data[:1]},
		{"end before start", "bytes=500-0", http.StatusRequestedRangeNotSatisfiable, "bytes */2048", nil},
		{"start past the blob", "bytes=5000-10000", http.StatusRequestedRangeNotSatisfiable, "bytes */2048", nil},
		{"start at the size", "bytes=2048-", http.StatusRequestedRangeNotSatisfiable, "bytes */2048", nil},
		{"empty suffix", "bytes=-0", http.StatusRequestedRangeNotSatisfiable, "bytes */2048", nil},
		{"several ranges: whole blob", "bytes=0-1,5-6", http.StatusOK, "", data},
		{"other unit: whole blob", "items=0-1", http.StatusOK, "", data},
		{"malformed: whole blob", "bytes=abc", http.StatusOK, "", data},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do("GET", "/v2/app/blobs/"+d.String(), nil, "Range", tt.rangeHeader)
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.body)
			}
			if got := res.header.Get("Content-Range"); got != tt.contentRange {
				t.Errorf("Content-Range = %q, want %q", got, tt.contentRange)
			}
			if tt.status == http.StatusRequestedRangeNotSatisfiable {
				if res.code() != "RANGE_INVALID" {
					t.Errorf("code = %q", res.code())
				}
				return
			}
			if !bytes.Equal(res.body, tt.body) {
				t.Errorf("body: %d bytes, want %d", len(res.body), len(tt.body))
			}
			if got := res.header.Get("Content-Length"); got != strconv.Itoa(len(tt.body)) {
				t.Errorf("Content-Length = %q, want %d", got, len(tt.body))
			}
		})
	}
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		header        string
		size          int64
		start, length int64
		partial, bad  bool
	}{
		{"", 10, 0, 10, false, false},
		{"bytes=2-4", 10, 2, 3, true, false},
		{"bytes=-3", 10, 7, 3, true, false},
		{"bytes=0-", 0, 0, 0, false, true},
		{"bytes=-1", 0, 0, 0, false, true},
		{"bytes=-1-2", 10, 0, 10, false, false},
		{"bytes=1-x", 10, 0, 10, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			start, length, partial, err := parseRange(tt.header, tt.size)
			if (err != nil) != tt.bad {
				t.Fatalf("err = %v", err)
			}
			if tt.bad {
				return
			}
			if start != tt.start || length != tt.length || partial != tt.partial {
				t.Errorf("got %d+%d partial=%v", start, length, partial)
			}
		})
	}
}

// storedNowhere checks that no blob store holds d.
func (e *env) storedNowhere(d digest.Digest) {
	e.t.Helper()
	if e.reg.HasBlob(e.t, d) {
		e.t.Errorf("the blob store holds %s", d)
	}
}
