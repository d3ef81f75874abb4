package repo

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server/httpx"
)

// Reading and deleting over the API, with ChartMuseum's JSON: a chart version is its index
// entry (Chart.yaml metadata, urls, created, digest); a chart is a list of versions, newest
// first; the list of a namespace maps chart names to charts.

// listCharts serves GET /api/<ns>/charts[?offset=N&limit=M] (offset and limit page over chart
// names in lexical order, as ChartMuseum's).
func (h *handler) listCharts(w http.ResponseWriter, r *http.Request, t target) error {
	offset, limit, err := page(r)
	if err != nil {
		return err
	}
	idx, err := h.regFor(r).Index(r.Context(), t.ns, registry.IndexJSON, nil)
	if err != nil {
		return err
	}
	entries := idx.Entries
	var b bytes.Buffer
	b.WriteByte('{')
	n, first := -1, true
	for i := range entries {
		e := &entries[i]
		newChart := i == 0 || entries[i-1].Name != e.Name
		if newChart {
			n++
		}
		if n < offset || limit >= 0 && n >= offset+limit {
			continue
		}
		if newChart {
			if !first {
				b.WriteString("],")
			}
			first = false
			writeJSONString(&b, e.Name)
			b.WriteString(":[")
		} else {
			b.WriteByte(',')
		}
		writeVersion(&b, e.JSON, h.chartURL(t.ns, archiveName(e.Name, e.Version)))
	}
	if !first {
		b.WriteByte(']')
	}
	b.WriteString("}\n")
	httpx.WriteBody(w, http.StatusOK, httpx.ContentTypeJSON, b.Bytes())
	return nil
}

// page reads ChartMuseum's offset and limit parameters; limit -1 means all.
func page(r *http.Request) (offset, limit int, err error) {
	q := r.URL.Query()
	limit = -1
	if s := q.Get("offset"); q.Has("offset") {
		if offset, err = strconv.Atoi(s); err != nil || offset < 0 {
			return 0, 0, badRequest("offset is not a valid non-negative integer")
		}
	}
	if s := q.Get("limit"); q.Has("limit") {
		if limit, err = strconv.Atoi(s); err != nil || limit <= 0 {
			return 0, 0, badRequest("limit is not a valid positive integer")
		}
	}
	return offset, limit, nil
}

// getChart serves GET|HEAD /api/<ns>/charts/<name>: the chart's versions, newest first.
func (h *handler) getChart(w http.ResponseWriter, r *http.Request, t target) error {
	versions, err := h.regFor(r).ChartVersions(r.Context(), t.ns, t.name)
	if err != nil {
		return err
	}
	if len(versions) == 0 {
		return notFound("chart not found: %s has no chart %s", nsLabel(t.ns), t.name)
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i := range versions {
		if i > 0 {
			b.WriteByte(',')
		}
		h.writeChartVersion(&b, &versions[i])
	}
	b.WriteString("]\n")
	httpx.WriteBody(w, http.StatusOK, httpx.ContentTypeJSON, b.Bytes())
	return nil
}

// getVersion serves GET|HEAD /api/<ns>/charts/<name>/<version> ("latest": the highest
// version, stable ones first, as helm picks).
func (h *handler) getVersion(w http.ResponseWriter, r *http.Request, t target) error {
	var c *registry.ChartVersion
	var err error
	if t.version == latest {
		c, err = h.regFor(r).LatestChartVersion(r.Context(), t.ns, t.name)
	} else {
		c, err = h.regFor(r).ChartVersion(r.Context(), t.ns, t.name, t.version)
	}
	if err != nil {
		return err
	}
	var b bytes.Buffer
	h.writeChartVersion(&b, c)
	b.WriteByte('\n')
	httpx.WriteBody(w, http.StatusOK, httpx.ContentTypeJSON, b.Bytes())
	return nil
}

// deleteVersion serves DELETE /api/<ns>/charts/<name>/<version>. The version leaves a
// tombstone: it can be published again only with the same bytes.
func (h *handler) deleteVersion(w http.ResponseWriter, r *http.Request, t target) error {
	if t.version == latest {
		return badRequest("delete names a version: DELETE /api/…/charts/%s/<version>", t.name)
	}
	httpx.SetAudit(r, httpx.AuditFacts{Version: t.version})
	if err := h.reg.DeleteChartVersion(r.Context(), t.ns, t.name, t.version, httpx.Principal(r).Name); err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.ContentTypeJSON, map[string]bool{"deleted": true})
	return nil
}

// writeChartVersion writes one version as ChartMuseum's API does, its index entry, followed
// by what chartroom knows of it: the status of its signatures ("signatures": "prov" and
// "cosign", each {"status": unsigned|valid|invalid|unverified, "signer", "error"}), whether
// its signed-only namespace quarantines it ("quarantined", only to callers who may publish),
// and what a warn semver discipline found ("releaseFinding"); for one version, the
// container images it deploys ("images": [{"image", "name", "source", "whitelisted",
// "platforms"}], and "imagesError" when rendered ones are missing);
// in a proxy namespace, the digest its upstream later listed under this pinned version
// ("upstreamChanged").
func (h *handler) writeChartVersion(b *bytes.Buffer, c *registry.ChartVersion) {
	b.Write(c.Entry)
	b.WriteString(`,"urls":[`)
	writeJSONString(b, h.chartURL(c.Namespace, archiveName(c.Name, c.Version)))
	b.WriteString("],")
	st := versionStatus{
		Signatures:      signatures{Prov: c.Prov, Cosign: c.Cosign},
		Quarantined:     c.Quarantined,
		ReleaseFinding:  c.ReleaseFinding,
		ImagesError:     c.ImagesError,
		UpstreamChanged: c.UpstreamChanged.String(),
	}
	if c.Images != nil {
		st.Images = &c.Images
	}
	status, _ := json.Marshal(st)
	b.Write(status[1:]) // its fields, and the entry's closing brace
}

// versionStatus is what the API adds to a version's index entry.
type versionStatus struct {
	Signatures     signatures `json:"signatures"`
	Quarantined    bool       `json:"quarantined,omitempty"`
	ReleaseFinding string     `json:"releaseFinding,omitempty"`
	// Images: only in the answer about one version (nil in lists).
	Images      *[]registry.Image `json:"images,omitempty"`
	ImagesError string            `json:"imagesError,omitempty"`
	// UpstreamChanged: the upstream's digest, when it changed the bytes of this pinned version.
	UpstreamChanged string `json:"upstreamChanged,omitempty"`
}

type signatures struct {
	Prov   registry.SignatureStatus `json:"prov"`
	Cosign registry.SignatureStatus `json:"cosign"`
}

// writeVersion completes a rendered JSON entry (which lacks its urls and closing brace).
func writeVersion(b *bytes.Buffer, entry []byte, url string) {
	b.Write(entry)
	b.WriteString(`,"urls":[`)
	writeJSONString(b, url)
	b.WriteString("]}")
}

func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s)
	b.Write(q)
}
