package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/repoindex"
	"github.com/chartroom/chartroom/internal/server/httpx"
)

// Serving the index costs one database row per request while nothing changed: the
// namespace's generation, a counter raised in the same transaction as every publish and
// delete. The rendered index (and its gzip form) is cached per (namespace, format) at a
// generation; when the generation moved, the index is rebuilt from the entries rendered at
// publish (a sort and a concatenation, no YAML encoding). Replicas stay correct because the
// generation lives in the database, and a client that got 201 for an upload sees it in the
// next index it fetches, whichever replica answers.

// renderVersion changes when chartroom writes indexes differently, so ETags change with it.
const renderVersion = "2"

// Content types of the two index forms.
const (
	contentTypeYAML = "application/yaml"
	contentTypeJSON = "application/json"
)

// getIndex serves GET|HEAD /<ns>/index.yaml (index.json, or ?format=json, for the JSON form:
// helm ≥ 3.13 reads either, JSON several times faster; `helm repo add` keeps a repository
// URL's query, so http://host/team?format=json makes helm fetch JSON).
func (h *handler) getIndex(w http.ResponseWriter, r *http.Request, t target) error {
	asJSON := t.json || r.URL.Query().Get("format") == "json"
	var doc *indexDoc
	var err error
	if httpx.Hidden(r) {
		// The index of a namespace the caller may not read is the one a namespace without
		// charts has, made from the registry that holds nothing, and never cached.
		doc, err = h.buildIndex(r.Context(), h.missing, indexKey{ns: t.ns, json: asJSON}, nil)
	} else {
		doc, err = h.indexDoc(r.Context(), t.ns, asJSON)
	}
	if err != nil {
		return err
	}
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-cache")
	hdr.Add("Vary", "Accept-Encoding")
	body, etag := doc.plain, doc.etag
	gz := acceptsGzip(r.Header.Get("Accept-Encoding"))
	if gz {
		etag = doc.etagGz
	}
	hdr.Set("ETag", etag)
	if !doc.updated.IsZero() {
		hdr.Set("Last-Modified", doc.updated.UTC().Format(http.TimeFormat))
	}
	if notModified(r, etag, doc.updated) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if gz {
		body = doc.gzipped()
		hdr.Set("Content-Encoding", "gzip")
	}
	if asJSON {
		hdr.Set("Content-Type", contentTypeJSON)
	} else {
		hdr.Set("Content-Type", contentTypeYAML)
	}
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	return nil
}

// indexDoc returns the namespace's index at its current generation: from the cache when it
// is there (one row read), else brought up to date.
func (h *handler) indexDoc(ctx context.Context, ns string, asJSON bool) (*indexDoc, error) {
	state, err := h.reg.IndexState(ctx, ns)
	if err != nil {
		return nil, err
	}
	key := indexKey{ns: ns, json: asJSON}
	return h.index.get(ctx, key, state.Generation, func(ctx context.Context, prev *indexDoc) (*indexDoc, error) {
		if prev == nil {
			// A restarted server: the copy on disk, if it is of this generation.
			if doc := h.disk.load(key, state.Generation, h.urlTag); doc != nil {
				doc.cache = h.index
				return doc, nil
			}
		}
		doc, err := h.buildIndex(ctx, h.reg, key, prev)
		if err == nil {
			h.disk.store(doc, h.urlTag)
		}
		return doc, err
	})
}

// buildIndex renders a namespace's index from the registry's entries. Given the index of an
// earlier generation (prev, with the registry's index it was written from), the registry
// brings that one up to date, reading only what changed since.
func (h *handler) buildIndex(ctx context.Context, reg Charts, key indexKey, prev *indexDoc) (*indexDoc, error) {
	format := registry.IndexYAML
	if key.json {
		format = registry.IndexJSON
	}
	var since *registry.Index
	if prev != nil {
		since = prev.index
	}
	idx, err := reg.Index(ctx, key.ns, format, since)
	if err != nil {
		return nil, err
	}
	entries := make([]repoindex.Entry, len(idx.Entries))
	size := 64
	for i, e := range idx.Entries {
		e.URL = h.chartURL(key.ns, archiveName(e.Name, e.Version))
		entries[i] = e
		size += len(e.YAML) + len(e.JSON) + len(e.URL) + 16
	}
	generated := idx.Updated
	if generated.IsZero() {
		generated = time.Unix(0, 0)
	}
	var b bytes.Buffer
	b.Grow(size)
	if key.json {
		err = repoindex.WriteJSON(&b, entries, generated)
	} else {
		err = repoindex.WriteYAML(&b, entries, generated)
	}
	if err != nil {
		return nil, fmt.Errorf("render the index of %q: %w", key.ns, err)
	}
	doc := newIndexDoc(key, idx.Generation, idx.Updated, b.Bytes(), h.urlTag)
	doc.index = idx
	doc.count = len(entries)
	doc.cache = h.index
	return doc, nil
}

// newIndexDoc wraps rendered index bytes with their ETags. Strong ETags: the bytes are a
// function of the namespace's generation (and last change, should a restored database reuse
// a generation), the format, the URLs and the renderer.
func newIndexDoc(key indexKey, gen int64, updated time.Time, plain []byte, urlTag string) *indexDoc {
	format := "y"
	if key.json {
		format = "j"
	}
	generated := updated
	if generated.IsZero() {
		generated = time.Unix(0, 0)
	}
	base := fmt.Sprintf(`%x-%x-%s-%s`, gen, generated.UnixNano(), format, urlTag)
	return &indexDoc{
		key:     key,
		gen:     gen,
		updated: updated,
		plain:   plain,
		etag:    `"` + base + `"`,
		etagGz:  `"` + base + `-gz"`,
	}
}

// urlTag is a short hash of what, besides the entries, shapes an index's bytes: the
// renderer and the external URL (fixed for a handler's life, so computed once in New).
func urlTag(externalURL string) string {
	sum := sha256.Sum256([]byte(renderVersion + "\x00" + externalURL))
	return hex.EncodeToString(sum[:4])
}

// chartURL is the url an index lists for an archive of namespace ns: relative to the index
// (charts/<file>), or absolute under ExternalURL.
func (h *handler) chartURL(ns, file string) string {
	rel := "charts/" + url.PathEscape(file)
	if h.opts.ExternalURL == "" {
		return rel
	}
	if ns == "" {
		return h.opts.ExternalURL + "/" + rel
	}
	return h.opts.ExternalURL + "/" + ns + "/" + rel
}

// acceptsGzip reports whether an Accept-Encoding header admits gzip (RFC 9110 §12.5.3).
func acceptsGzip(header string) bool {
	star := false
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		q := 1.0
		if p := strings.TrimSpace(params); strings.HasPrefix(p, "q=") {
			if v, err := strconv.ParseFloat(strings.TrimPrefix(p, "q="), 64); err == nil {
				q = v
			}
		}
		switch coding {
		case "gzip", "x-gzip":
			return q > 0
		case "*":
			star = q > 0
		}
	}
	return star
}

// notModified evaluates a GET's preconditions (RFC 9110 §13.2.2): If-None-Match against the
// representation's ETag, else If-Modified-Since against its last change.
func notModified(r *http.Request, etag string, modified time.Time) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		for _, tag := range strings.Split(inm, ",") {
			tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/") // weak comparison, as the RFC asks here
			if tag == "*" || tag == etag {
				return true
			}
		}
		return false
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" && !modified.IsZero() {
		if t, err := http.ParseTime(ims); err == nil {
			return !modified.Truncate(time.Second).After(t)
		}
	}
	return false
}
