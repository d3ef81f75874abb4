package oci

import (
	"context"
	"net/http"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server/auth"
	"github.com/chartroom/chartroom/internal/server/httpx"
)

// catalog serves GET /v2/_catalog: repository names in lexical order, paginated like tags;
// only those the caller may read, as if the others did not exist.
func (h *handler) catalog(w http.ResponseWriter, r *http.Request) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	p := httpx.Principal(r)
	var repos []string
	if h.authz.ReadsEverything(p) {
		repos, err = h.reg.Catalog(r.Context(), pg.fetch(), pg.last)
	} else {
		repos, err = h.readableCatalog(r.Context(), p, pg.fetch(), pg.last)
	}
	if err != nil {
		return err
	}
	repos = pg.cut(w, "/v2/_catalog", repos)
	httpx.WriteJSON(w, http.StatusOK, httpx.ContentTypeJSON, struct {
		Repositories []string `json:"repositories"`
	}{repos})
	return nil
}

// catalogBatch is how many names the filtered catalog reads at a time.
const catalogBatch = 1000

// readableCatalog lists, as Registry.Catalog does, the repositories principal p may read: at
// most n (n ≤ 0: all) after last.
func (h *handler) readableCatalog(ctx context.Context, p auth.Principal, n int, last string) ([]string, error) {
	var out []string
	for {
		names, err := h.reg.Catalog(ctx, catalogBatch, last)
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			ns, _ := registry.SplitRepository(name)
			if h.authz.CanRead(p, ns) {
				out = append(out, name)
				if n > 0 && len(out) == n {
					return out, nil
				}
			}
		}
		if len(names) < catalogBatch {
			return out, nil
		}
		last = names[len(names)-1]
	}
}
