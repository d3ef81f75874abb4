package oci

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/chartroom/chartroom/internal/server/httpx"
)

// listTags serves GET /v2/<name>/tags/list: the repository's tags in lexical order, paginated
// with n and last, and a Link header to the next page when there is one.
func (h *handler) listTags(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	tags, err := h.regFor(r).Tags(r.Context(), name, pg.fetch(), pg.last)
	if err != nil {
		return err
	}
	tags = pg.cut(w, "/v2/"+name+"/tags/list", tags)
	httpx.WriteJSON(w, http.StatusOK, httpx.ContentTypeJSON, struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{name, tags})
	return nil
}

// page is a listing's pagination (OCI Distribution Spec v1.1, "Listing Tags"): at most n
// entries (n < 0: all) after last.
type page struct {
	n    int
	last string
}

func parsePage(r *http.Request) (page, error) {
	q := r.URL.Query()
	pg := page{n: -1, last: q.Get("last")}
	if s := q.Get("n"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return pg, newError(codePaginationInvalid, "n=%q: the number of results must be a whole number ≥ 0", s)
		}
		pg.n = n
	}
	return pg, nil
}

// fetch is how many entries to ask the registry for: one more than a page, to know whether a
// next page exists.
func (pg page) fetch() int {
	if pg.n < 0 {
		return 0 // all
	}
	return pg.n + 1
}

// cut trims a fetched listing to the page and, when more entries follow, links the next page.
func (pg page) cut(w http.ResponseWriter, path string, entries []string) []string {
	if pg.n >= 0 && len(entries) > pg.n {
		entries = entries[:pg.n]
		if pg.n > 0 {
			q := url.Values{"n": {strconv.Itoa(pg.n)}, "last": {entries[len(entries)-1]}}
			w.Header().Set("Link", "<"+path+"?"+q.Encode()+`>; rel="next"`)
		}
	}
	if entries == nil {
		entries = []string{}
	}
	return entries
}
