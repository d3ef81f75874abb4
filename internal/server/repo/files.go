package repo

import (
	"net/http"

	"github.com/chartroom/chartroom/internal/server/httpx"
)

// A published version's default values and templates, read without downloading the chart, as
// ChartMuseum's API answers them:
//
//	GET /api/<ns>/charts/<name>/<version>/templates → {"templates":[{"name":…,"data":<base64>}],"values":{…}}
//	GET /api/<ns>/charts/<name>/<version>/values    → values.yaml as stored (Content-Type application/yaml)
//
// <version> may be "latest". templates lists the chart's own templates/ files (not its
// subcharts'); values is values.yaml as Helm parses it (null without one).

// templateJSON is one template as ChartMuseum answers it (Helm's chart.File).
type templateJSON struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
}

// templatesJSON is ChartMuseum's answer of the templates endpoint.
type templatesJSON struct {
	Templates []templateJSON `json:"templates"`
	Values    map[string]any `json:"values"`
}

// getTemplates serves GET|HEAD /api/<ns>/charts/<name>/<version>/templates.
func (h *handler) getTemplates(w http.ResponseWriter, r *http.Request, t target) error {
	version, err := h.resolveVersion(r, t)
	if err != nil {
		return err
	}
	files, err := h.regFor(r).ChartFiles(r.Context(), t.ns, t.name, version)
	if err != nil {
		return err
	}
	body := templatesJSON{Values: files.ValuesMap}
	for _, f := range files.Templates {
		body.Templates = append(body.Templates, templateJSON(f))
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.ContentTypeJSON, body)
	return nil
}

// getValues serves GET|HEAD /api/<ns>/charts/<name>/<version>/values.
func (h *handler) getValues(w http.ResponseWriter, r *http.Request, t target) error {
	version, err := h.resolveVersion(r, t)
	if err != nil {
		return err
	}
	files, err := h.regFor(r).ChartFiles(r.Context(), t.ns, t.name, version)
	if err != nil {
		return err
	}
	if files.Values == nil {
		return notFound("values.yaml not found: %s %s in %s has no values.yaml (it has no default values)", t.name, version, nsLabel(t.ns))
	}
	httpx.WriteBody(w, http.StatusOK, contentTypeYAML, files.Values)
	return nil
}

// resolveVersion returns the version a path names: "latest" is the highest, stable ones
// first (as GET /api/<ns>/charts/<name>/latest picks it).
func (h *handler) resolveVersion(r *http.Request, t target) (string, error) {
	if t.version != latest {
		return t.version, nil
	}
	c, err := h.regFor(r).LatestChartVersion(r.Context(), t.ns, t.name)
	if err != nil {
		return "", err
	}
	return c.Version, nil
}
