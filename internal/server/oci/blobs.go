package oci

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server/httpx"
)

// getBlob serves GET and HEAD /v2/<name>/blobs/<digest>, with single byte ranges (RFC 9110
// §14): 206 and Content-Range for a satisfiable range, 416 RANGE_INVALID past the blob. With
// blob redirects on (registry.Options.RedirectBlobs), a GET is answered 307 to a short-lived
// URL of the object store instead (OCI Distribution v1.1: "the registry may redirect").
// The body is copied from the registry's *os.File untouched, so net/http sends it with
// sendfile(2).
func (h *handler) getBlob(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	d, err := registry.ParseDigest(r.PathValue("reference"))
	if err != nil {
		return err
	}
	hdr := w.Header()
	if r.Method == http.MethodHead && r.Header.Get("Range") == "" {
		size, err := h.regFor(r).StatBlob(r.Context(), name, d)
		if err != nil {
			return err
		}
		setBlobHeaders(hdr, d.String(), size)
		w.WriteHeader(http.StatusOK)
		return nil
	}
	if r.Method == http.MethodGet {
		// --storage-redirect: the client reads the bytes from the object store itself.
		u, err := h.regFor(r).BlobURL(r.Context(), name, d)
		if err != nil {
			return err
		}
		if u != "" {
			hdr.Set("Location", u)
			hdr.Set("Docker-Content-Digest", d.String())
			hdr.Set("Cache-Control", "no-store") // the URL expires; the digest does not
			w.WriteHeader(http.StatusTemporaryRedirect)
			return nil
		}
	}
	rc, size, err := h.regFor(r).OpenBlob(r.Context(), name, d, 0)
	if err != nil {
		return err
	}
	defer rc.Close()
	start, length, partial, err := parseRange(r.Header.Get("Range"), size)
	if err != nil {
		hdr.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		return err
	}
	setBlobHeaders(hdr, d.String(), length)
	status := http.StatusOK
	if partial {
		hdr.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, size))
		status = http.StatusPartialContent
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return nil
	}
	var body io.Reader = rc
	if partial {
		if start > 0 {
			if err := seek(rc, start); err != nil {
				return err
			}
		}
		body = io.LimitReader(rc, length) // *io.LimitedReader over *os.File: still sendfile
	}
	w.WriteHeader(status)
	if n, err := io.Copy(w, body); err != nil {
		// The status is sent; all that is left is to say why the body stopped.
		h.log.Debug("oci: blob body interrupted", "repository", name, "digest", d, "sent", n, "of", length, "err", err)
	}
	return nil
}

// seek moves a blob reader to offset; the filesystem store hands out *os.File, which seeks.
func seek(rc io.Reader, offset int64) error {
	s, ok := rc.(io.Seeker)
	if !ok {
		_, err := io.CopyN(io.Discard, rc, offset)
		return err
	}
	_, err := s.Seek(offset, io.SeekStart)
	return err
}

func setBlobHeaders(hdr http.Header, d string, length int64) {
	hdr.Set("Content-Type", "application/octet-stream")
	hdr.Set("Content-Length", strconv.FormatInt(length, 10))
	hdr.Set("Docker-Content-Digest", d)
	hdr.Set("Accept-Ranges", "bytes")
	hdr.Set("ETag", `"`+d+`"`)
	// Content addressed: the bytes behind a digest never change.
	hdr.Set("Cache-Control", "max-age=31536000")
}

// parseRange reads a Range header against a blob of size bytes. It answers the whole blob
// (partial false) without a header, for a unit other than bytes, for several ranges and for a
// malformed header, all of which RFC 9110 lets a server ignore; and RANGE_INVALID for a range
// that starts past the blob or ends before it starts.
func parseRange(header string, size int64) (start, length int64, partial bool, err error) {
	spec, ok := strings.CutPrefix(header, "bytes=")
	if header == "" || !ok || strings.Contains(spec, ",") {
		return 0, size, false, nil
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, size, false, nil
	}
	unsatisfiable := func() (int64, int64, bool, error) {
		return 0, 0, false, newError(codeRangeInvalid, "range %q is not satisfiable: the blob has %d bytes", header, size)
	}
	if first == "" { // suffix: the last N bytes
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return 0, size, false, nil
		}
		if n == 0 || size == 0 {
			return unsatisfiable()
		}
		n = min(n, size)
		return size - n, n, true, nil
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 {
		return 0, size, false, nil
	}
	b := size - 1
	if last != "" {
		if b, err = strconv.ParseInt(last, 10, 64); err != nil || b < 0 {
			return 0, size, false, nil
		}
	}
	if a >= size || b < a {
		return unsatisfiable()
	}
	b = min(b, size-1)
	return a, b - a + 1, true, nil
}

// deleteBlob serves DELETE /v2/<name>/blobs/<digest>: the blob stops being readable in the
// repository at once.
func (h *handler) deleteBlob(w http.ResponseWriter, r *http.Request) error {
	httpx.SetAudit(r, httpx.AuditFacts{Digest: r.PathValue("reference")})
	d, err := registry.ParseDigest(r.PathValue("reference"))
	if err != nil {
		return err
	}
	if err := h.reg.DeleteBlob(r.Context(), r.PathValue("name"), d); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}
