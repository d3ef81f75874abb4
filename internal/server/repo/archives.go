package repo

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/registry"
)

// Content types of the files under charts/.
const (
	contentTypeArchive = "application/gzip"
	contentTypeProv    = "application/pgp-signature"
)

// getArchive serves GET|HEAD /<ns>/charts/<name>-<version>.tgz and .tgz.prov: the bytes the
// registry stores, the same an OCI pull of the chart returns. A file name that reads several
// ways (see splitArchiveName) is looked up in each reading, first the leftmost.
func (h *handler) getArchive(w http.ResponseWriter, r *http.Request, t target) error {
	readings, prov := archiveFile(t.file)
	var err error = notFound("%s is not a chart archive name: expected <name>-<version>.tgz with a SemVer version", t.file)
	for _, nv := range readings {
		var rc io.ReadCloser
		var size int64
		var d digest.Digest
		rc, size, d, err = h.regFor(r).OpenChart(r.Context(), t.ns, nv.name, nv.version, prov)
		if errors.Is(err, registry.ErrChartUnknown) {
			continue
		}
		if err != nil {
			return err
		}
		defer rc.Close()
		serveFile(w, r, rc, size, d, prov)
		return nil
	}
	if errors.Is(err, registry.ErrChartUnknown) {
		return notFound("%s not found in %s: %w", t.file, nsLabel(t.ns), err)
	}
	return err
}

// serveFile answers a stored file: immutable content named by its digest, so its ETag is the
// digest and clients may cache it for long. The body is copied from rc unwrapped, so a file
// on disk reaches the socket by sendfile.
func serveFile(w http.ResponseWriter, r *http.Request, rc io.Reader, size int64, d digest.Digest, prov bool) {
	hdr := w.Header()
	etag := `"` + d.String() + `"`
	hdr.Set("ETag", etag)
	hdr.Set("Cache-Control", "max-age=31536000, immutable")
	if notModified(r, etag, time.Time{}) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if prov {
		hdr.Set("Content-Type", contentTypeProv)
	} else {
		hdr.Set("Content-Type", contentTypeArchive)
	}
	hdr.Set("Content-Length", strconv.FormatInt(size, 10))
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.Copy(w, rc)
}

// putArchive serves PUT /<ns>/charts/<name>-<version>.tgz: an upload whose URL names the
// chart, which must be the one inside.
func (h *handler) putArchive(w http.ResponseWriter, r *http.Request, t target) error {
	if readings, _ := archiveFile(t.file); len(readings) == 0 {
		base := strings.TrimSuffix(t.file, ".tgz")
		return badRequest("%s is not <name>-<version>.tgz with a SemVer 2 version (e.g. myapp-1.4.2.tgz); %q has none", t.file, base)
	}
	up, err := h.reg.ReceiveChart(r.Context(), h.limitBody(w, r))
	if err != nil {
		return err
	}
	defer up.Close()
	return h.publish(w, r, t.ns, publishInput{archive: up, fileName: t.file})
}

// nsLabel names a namespace in messages.
func nsLabel(ns string) string {
	if ns == "" {
		return "the root namespace"
	}
	return "namespace " + ns
}
