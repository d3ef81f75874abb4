package oci

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server/auth"
	"github.com/chartroom/chartroom/internal/server/httpx"
)

// Blob uploads (OCI Distribution Spec v1.1, "Pushing blobs"). An upload id is signed by the
// registry and bound to its repository, so any replica can continue an upload another started.

// startUpload serves POST /v2/<name>/blobs/uploads/:
//   - ?mount=<digest>[&from=<repo>]: link a blob the caller can read elsewhere (201), or, when
//     there is nothing to mount, start an upload instead (202), as the spec asks;
//   - ?digest=<digest>: the whole blob in this one request (201);
//   - otherwise: open an upload session (202) for PATCH and PUT.
func (h *handler) startUpload(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	q := r.URL.Query()
	if mount := q.Get("mount"); mount != "" {
		d, err := registry.ParseDigest(mount)
		if err != nil {
			return err
		}
		mounted, err := h.mount(r, name, q.Get("from"), d)
		if err != nil {
			return err
		}
		if mounted {
			blobCreated(w, name, d)
			return nil
		}
	} else if dg := q.Get("digest"); dg != "" {
		d, err := registry.ParseDigest(dg)
		if err != nil {
			return err
		}
		if _, err := h.reg.PutBlob(r.Context(), name, d, r.ContentLength, requestBody{r.Body}); err != nil {
			return err
		}
		blobCreated(w, name, d)
		return nil
	}
	id, err := h.reg.StartUpload(r.Context(), name, httpx.Principal(r).Name)
	if err != nil {
		return err
	}
	uploadHeaders(w, name, id, 0)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// mount links blob d into name from repository from ("" for a repository holding it that the
// caller may read). It reports false, so that the caller starts an ordinary upload, when the
// blob is not there or the caller may not read from: the answer must not tell which, and a
// blob the caller cannot read is never linked.
func (h *handler) mount(r *http.Request, name, from string, d digest.Digest) (bool, error) {
	p := httpx.Principal(r)
	switch {
	case from != "":
		if registry.ValidateName(from) != nil {
			return false, nil
		}
		if err := h.authz.Check(p, auth.RepositoryTarget(from), auth.Pull); err != nil {
			return false, mountScope(from, err)
		}
	case !h.authz.ReadsEverything(p):
		holders, err := h.reg.BlobRepositories(r.Context(), d, maxMountSources)
		if err != nil {
			return false, err
		}
		var scopeErr error
		for _, repo := range holders {
			err := h.authz.Check(p, auth.RepositoryTarget(repo), auth.Pull)
			if err == nil {
				from = repo
				break
			}
			if scopeErr == nil {
				scopeErr = mountScope(repo, err)
			}
		}
		if from == "" {
			return false, scopeErr
		}
	}
	_, err := h.reg.MountBlob(r.Context(), name, from, d)
	if errors.Is(err, registry.ErrBlobUnknown) {
		return false, nil
	}
	return err == nil, err
}

// mountScope is what a mount from repository from answers when the caller may not read from
// (err from auth.Check): nothing (an ordinary upload starts, the spec's 202) — unless the
// caller's registry token lacks only the scope of from, which its subject may read: then a
// 401 whose challenge names both repositories' scopes, so the client asks the token service
// for a token covering the mount's source too and tries again, as docker's token flow does.
func mountScope(from string, err error) error {
	if errors.Is(err, auth.ErrInsufficientScope) {
		return &mountScopeError{from: from, err: err}
	}
	return nil
}

// mountScopeError is a mount refused for want of the source repository's scope in the
// registry token.
type mountScopeError struct {
	from string
	err  error
}

func (e *mountScopeError) Error() string {
	return fmt.Sprintf("mounting a blob from %s: %v", e.from, e.err)
}

func (e *mountScopeError) Unwrap() error { return e.err }

// maxMountSources bounds the repositories looked at for a mount without a source: past them
// the client uploads the blob (which it has) instead.
const maxMountSources = 1000

// uploadStatus serves GET /v2/<name>/blobs/uploads/<id>: 204 with how much the upload holds.
func (h *handler) uploadStatus(w http.ResponseWriter, r *http.Request) error {
	name, id := r.PathValue("name"), r.PathValue("reference")
	size, err := h.reg.UploadOffset(r.Context(), name, id)
	if err != nil {
		return err
	}
	uploadHeaders(w, name, id, size)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// patchUpload serves PATCH /v2/<name>/blobs/uploads/<id>: a chunk with Content-Range (it must
// start where the upload ends, else 416), or a stream without one, appended as it arrives.
func (h *handler) patchUpload(w http.ResponseWriter, r *http.Request) error {
	name, id := r.PathValue("name"), r.PathValue("reference")
	offset, body, err := chunk(r)
	if err != nil {
		return err
	}
	size, err := h.reg.AppendUpload(r.Context(), name, id, offset, body)
	if err != nil {
		return h.uploadError(w, r, err)
	}
	uploadHeaders(w, name, id, size)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// finishUpload serves PUT /v2/<name>/blobs/uploads/<id>?digest=<digest>: the optional last
// chunk, then the upload becomes blob <digest> if its bytes hash to it (nothing is stored
// otherwise).
func (h *handler) finishUpload(w http.ResponseWriter, r *http.Request) error {
	name, id := r.PathValue("name"), r.PathValue("reference")
	dg := r.URL.Query().Get("digest")
	if dg == "" {
		return fmt.Errorf("%w: the digest query parameter is required to finish an upload (PUT …?digest=sha256:…)", registry.ErrDigestInvalid)
	}
	d, err := registry.ParseDigest(dg)
	if err != nil {
		return err
	}
	offset, body, err := chunk(r)
	if err != nil {
		return err
	}
	if r.ContentLength == 0 {
		body = nil
	}
	if _, err := h.reg.FinishUpload(r.Context(), name, id, d, offset, body); err != nil {
		return h.uploadError(w, r, err)
	}
	blobCreated(w, name, d)
	return nil
}

// cancelUpload serves DELETE /v2/<name>/blobs/uploads/<id>.
func (h *handler) cancelUpload(w http.ResponseWriter, r *http.Request) error {
	if err := h.reg.CancelUpload(r.Context(), r.PathValue("name"), r.PathValue("reference")); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// uploadError adds, to an out-of-order chunk's 416, where the upload stands, so the client
// can resume from there.
func (h *handler) uploadError(w http.ResponseWriter, r *http.Request, err error) error {
	if errors.Is(err, registry.ErrRangeInvalid) {
		name, id := r.PathValue("name"), r.PathValue("reference")
		if size, serr := h.reg.UploadOffset(r.Context(), name, id); serr == nil {
			uploadHeaders(w, name, id, size)
		}
	}
	return err
}

// chunk reads a chunk's Content-Range ("<start>-<end>", inclusive): where the chunk starts
// (-1 without the header: wherever the upload ends) and its body, held to the announced length.
func chunk(r *http.Request) (int64, io.Reader, error) {
	body := io.Reader(requestBody{r.Body})
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		return -1, body, nil
	}
	start, end, ok := parseContentRange(cr)
	if !ok {
		return 0, nil, newError(codeRangeInvalid, "Content-Range %q is not <start>-<end>", cr)
	}
	n := end - start + 1
	if r.ContentLength >= 0 && r.ContentLength != n {
		return 0, nil, fmt.Errorf("%w: Content-Range %q announces %d bytes but Content-Length is %d", registry.ErrSizeInvalid, cr, n, r.ContentLength)
	}
	if r.ContentLength < 0 {
		body = &exactReader{r: body, left: n}
	}
	return start, body, nil
}

func parseContentRange(cr string) (start, end int64, ok bool) {
	cr = strings.TrimSpace(cr)
	cr = strings.TrimPrefix(cr, "bytes")
	cr = strings.TrimLeft(cr, " =")
	if i := strings.IndexByte(cr, '/'); i >= 0 {
		cr = cr[:i]
	}
	a, b, found := strings.Cut(cr, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	return start, end, true
}

// uploadHeaders describe an upload in progress: where to send the next request and how many
// bytes it holds (Range 0-<last byte>, "0-0" when empty, as the CNCF distribution registry does).
func uploadHeaders(w http.ResponseWriter, name, id string, size int64) {
	hdr := w.Header()
	hdr.Set("Location", "/v2/"+name+"/blobs/uploads/"+id)
	hdr.Set("Range", fmt.Sprintf("0-%d", max(size-1, 0)))
	hdr.Set("Docker-Upload-UUID", id)
	hdr.Set("Content-Length", "0")
}

// blobCreated answers a finished blob push: 201 and where the blob is.
func blobCreated(w http.ResponseWriter, name string, d digest.Digest) {
	hdr := w.Header()
	hdr.Set("Location", "/v2/"+name+"/blobs/"+d.String())
	hdr.Set("Docker-Content-Digest", d.String())
	hdr.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// requestBody marks a failed read of the request body as the client's fault (400), not the
// registry's.
type requestBody struct{ r io.Reader }

func (b requestBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %w", errRequestBody, err)
	}
	return n, err
}

// exactReader holds a body without Content-Length to the length its Content-Range announced.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left <= 0 {
		var one [1]byte
		if n, _ := e.r.Read(one[:]); n > 0 {
			return 0, fmt.Errorf("%w: the chunk is longer than its Content-Range", registry.ErrSizeInvalid)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		return n, fmt.Errorf("%w: the chunk is %d bytes shorter than its Content-Range", registry.ErrSizeInvalid, e.left)
	}
	return n, err
}
