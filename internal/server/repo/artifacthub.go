package repo

import (
	"net/http"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/server/httpx"
)

// getArtifactHubRepo serves GET|HEAD /<ns>/artifacthub-repo.yml: the namespace's Artifact Hub
// repository metadata as chartroom namespace set stored it, read at every request (a change
// applies at once), 404 when the namespace has none.
func (h *handler) getArtifactHubRepo(w http.ResponseWriter, r *http.Request, t target) error {
	file, updated, err := h.regFor(r).ArtifactHubRepo(r.Context(), t.ns)
	if err != nil {
		return err
	}
	etag := `"` + digest.FromBytes(file).String() + `"`
	hdr := w.Header()
	hdr.Set("ETag", etag)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("Last-Modified", updated.UTC().Format(http.TimeFormat))
	if notModified(r, etag, updated) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	httpx.WriteBody(w, http.StatusOK, contentTypeYAML, file)
	return nil
}
