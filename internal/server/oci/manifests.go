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

// getManifest serves GET and HEAD /v2/<name>/manifests/<reference>: the manifest's bytes as
// pushed, under the media type it was pushed with.
func (h *handler) getManifest(w http.ResponseWriter, r *http.Request) error {
	head := r.Method == http.MethodHead
	m, err := h.regFor(r).GetManifest(r.Context(), r.PathValue("name"), r.PathValue("reference"), !head)
	if err != nil {
		return err
	}
	etag := `"` + m.Digest.String() + `"`
	hdr := w.Header()
	hdr.Set("Docker-Content-Digest", m.Digest.String())
	hdr.Set("ETag", etag)
	if match := r.Header.Get("If-None-Match"); match != "" && (match == etag || match == m.Digest.String()) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	hdr.Set("Content-Type", m.MediaType)
	hdr.Set("Content-Length", strconv.FormatInt(m.Size, 10))
	w.WriteHeader(http.StatusOK)
	if !head {
		_, _ = w.Write(m.Content)
	}
	return nil
}

// putManifest serves PUT /v2/<name>/manifests/<reference>. The body is read whole, up to the
// registry's MaxManifestSize (413 MANIFEST_INVALID past it, as the spec recommends); the
// registry validates and stores it. ?tag= parameters on a push by digest set those tags too,
// each echoed in an OCI-Tag header.
func (h *handler) putManifest(w http.ResponseWriter, r *http.Request) error {
	name, ref := r.PathValue("name"), r.PathValue("reference")
	body, err := readManifest(r, h.reg.Options().MaxManifestSize)
	if err != nil {
		return err
	}
	var tags []string
	if registry.IsDigest(ref) {
		tags = r.URL.Query()["tag"]
	}
	facts := httpx.AuditFacts{Version: ref}
	if registry.IsDigest(ref) {
		facts = httpx.AuditFacts{Version: strings.Join(tags, ","), Digest: ref}
	}
	httpx.SetAudit(r, facts)
	res, err := h.reg.PutManifest(r.Context(), registry.PutManifestRequest{
		Repository:  name,
		Reference:   ref,
		ContentType: r.Header.Get("Content-Type"),
		Body:        body,
		Tags:        tags,
		Actor:       httpx.Principal(r).Name,
	})
	if err != nil {
		return err
	}
	facts.Digest = res.Digest.String()
	httpx.SetAudit(r, facts)
	hdr := w.Header()
	hdr.Set("Location", "/v2/"+name+"/manifests/"+res.Digest.String())
	hdr.Set("Docker-Content-Digest", res.Digest.String())
	if res.Subject != "" {
		hdr.Set("OCI-Subject", res.Subject.String())
	}
	for _, t := range tags {
		hdr.Add("OCI-Tag", t)
	}
	hdr.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// readManifest reads a manifest body of at most limit bytes.
func readManifest(r *http.Request, limit int64) ([]byte, error) {
	tooLarge := func() error {
		return fmt.Errorf("%w: %w: a manifest may have at most %d bytes", registry.ErrManifestInvalid, errManifestTooLarge, limit)
	}
	if r.ContentLength > limit {
		return nil, tooLarge()
	}
	var body []byte
	var err error
	if r.ContentLength >= 0 {
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: reading the manifest: %v", registry.ErrManifestInvalid, err)
	}
	if int64(len(body)) > limit {
		return nil, tooLarge()
	}
	return body, nil
}

// deleteManifest serves DELETE /v2/<name>/manifests/<reference>: a digest deletes the manifest
// and its tags, a tag deletes only the tag. A chart version deleted so stays reserved: it can
// come back only with the same content.
func (h *handler) deleteManifest(w http.ResponseWriter, r *http.Request) error {
	ref := r.PathValue("reference")
	if registry.IsDigest(ref) {
		httpx.SetAudit(r, httpx.AuditFacts{Digest: ref})
	} else {
		httpx.SetAudit(r, httpx.AuditFacts{Version: ref})
	}
	if err := h.reg.DeleteManifest(r.Context(), r.PathValue("name"), ref, httpx.Principal(r).Name); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}
