package oci

import (
	"net/http"

	"github.com/chartroom/chartroom/internal/server/httpx"
)

// catalog serves GET /v2/_catalog: repository names in lexical order, paginated like tags.
func (h *handler) catalog(w http.ResponseWriter, r *http.Request) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	repos, err := h.reg.Catalog(r.Context(), pg.fetch(), pg.last)
	if err != nil {
		return err
	}
	repos = pg.cut(w, "/v2/_catalog", repos)
	httpx.WriteJSON(w, http.StatusOK, httpx.ContentTypeJSON, struct {
		Repositories []string `json:"repositories"`
	}{repos})
	return nil
}
