package oci

import (
	"net/http"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server/httpx"
)

// referrers serves GET /v2/<name>/referrers/<digest> (OCI Distribution Spec v1.1, "Listing
// Referrers"): an image index of the manifests whose subject is <digest>, optionally only those
// of ?artifactType= (said in OCI-Filters-Applied). No referrers is an empty index, not a 404.
func (h *handler) referrers(w http.ResponseWriter, r *http.Request) error {
	d, err := registry.ParseDigest(r.PathValue("reference"))
	if err != nil {
		return err
	}
	artifactType := r.URL.Query().Get("artifactType")
	descs, err := h.regFor(r).Referrers(r.Context(), r.PathValue("name"), d, artifactType)
	if err != nil {
		return err
	}
	if descs == nil {
		descs = []ocispec.Descriptor{}
	}
	if artifactType != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	httpx.WriteJSON(w, http.StatusOK, ocispec.MediaTypeImageIndex, ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: descs,
	})
	return nil
}
