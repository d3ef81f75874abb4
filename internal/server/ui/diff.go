package ui

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/chartroom/chartroom/internal/registry"
)

// The diff of two versions of a chart: /ui/diff/<namespace>/<chart>?from=V1&to=V2, a GET
// form with two version selectors (no script needed). It shows what `chartroom check`
// reports for to with from as its baseline (registry.DiffChartVersions: the semver
// discipline's analysis, in a validation slot, bounded by the release check timeout,
// cached per pair of archives): values and schema changes, rendered resources added,
// removed and changed, other changes, and the bump they require against the bump made.

// diffPage is the data of templates/diff.html.
type diffPage struct {
	Namespace, Name string
	Versions        []string // newest first, for the selectors
	From, To        string
	Diff            *registry.VersionDiff
	// Groups are the report's changes by area, in the order the page shows them.
	Groups []changeGroup
	Error  string // why the versions could not be compared
}

// changeGroup is the changes of one area.
type changeGroup struct {
	Area, Title string
	Changes     any // []release.Change
}

// diffAreas are the areas the page shows, in order, with their headings.
var diffAreas = []struct{ area, title string }{
	{"values", "Values (values.yaml)"},
	{"schema", "Schema (values.schema.json)"},
	{"resources", "Rendered resources (helm template with default values)"},
	{"templates", "Templates"},
	{"chart", "Chart.yaml"},
	{"kubeVersion", "Kubernetes versions"},
	{"dependencies", "Dependencies"},
	{"files", "Files"},
}

// maxDiffChoices bounds the versions the selectors list (the newest ones, and the two
// compared): older ones are compared by naming them in the URL.
const maxDiffChoices = 1000

// diffURL is the diff page of chart name in namespace ns.
func diffURL(ns, name string) string {
	if ns == "" {
		return Prefix + "diff/" + url.PathEscape(name)
	}
	return Prefix + "diff/" + escapePath(ns) + "/" + url.PathEscape(name)
}

func (u *UI) diffPage(q *Request) error {
	ns, name := registry.SplitRepository(q.R.PathValue("repo"))
	if name == "" || !q.canRead(u, ns) {
		return errNotFound
	}
	ctx := q.R.Context()
	versions, err := u.reg.ChartVersions(ctx, ns, name)
	if err != nil {
		return err
	}
	if len(versions) == 0 {
		return errNotFound
	}
	p := &diffPage{Namespace: ns, Name: name}
	v := q.R.URL.Query()
	p.From, p.To = v.Get("from"), v.Get("to")
	for i, cv := range versions { // newest first
		if i < maxDiffChoices || cv.Version == p.From || cv.Version == p.To {
			p.Versions = append(p.Versions, cv.Version)
		}
	}
	if p.To == "" {
		p.To = p.Versions[0]
	}
	if p.From == "" && len(p.Versions) > 1 {
		p.From = p.Versions[1]
		if p.From == p.To {
			p.From = p.Versions[0]
		}
	}
	title := "Compare versions of " + name
	if p.From == "" || p.From == p.To {
		if len(p.Versions) < 2 {
			p.Error = "This chart has one version: there is nothing to compare it with yet."
		} else if p.From != "" {
			p.Error = "Choose two different versions."
		}
		return u.render(q, "diff", title, p)
	}
	a, err := u.admin()
	if err != nil {
		return err
	}
	d, err := a.DiffChartVersions(ctx, ns, name, p.From, p.To)
	switch {
	case errors.Is(err, registry.ErrChartUnknown):
		p.Error = "There is no version " + p.From + " or " + p.To + " of " + name + " here: choose versions from the lists."
		return u.renderStatus(q, http.StatusNotFound, "diff", title, p)
	case errors.Is(err, registry.ErrTooLarge):
		p.Error = strings.TrimPrefix(err.Error(), registry.ErrTooLarge.Error()+": ") + ". Try again later, or compare the charts with chartroom check."
		return u.renderStatus(q, http.StatusServiceUnavailable, "diff", title, p)
	case errors.Is(err, registry.ErrChartInvalid):
		p.Error = strings.TrimPrefix(err.Error(), registry.ErrChartInvalid.Error()+": ")
		return u.renderStatus(q, http.StatusUnprocessableEntity, "diff", title, p)
	case err != nil:
		return err
	}
	p.Diff = d
	byArea := map[string][]int{}
	for i, c := range d.Report.Changes {
		byArea[c.Area] = append(byArea[c.Area], i)
	}
	for _, a := range diffAreas {
		idx := byArea[a.area]
		if len(idx) == 0 {
			continue
		}
		changes := d.Report.Changes[:0:0]
		for _, i := range idx {
			changes = append(changes, d.Report.Changes[i])
		}
		p.Groups = append(p.Groups, changeGroup{Area: a.area, Title: a.title, Changes: changes})
		delete(byArea, a.area)
	}
	for _, c := range d.Report.Changes { // areas the page does not know, in report order
		if idx, ok := byArea[c.Area]; ok {
			changes := d.Report.Changes[:0:0]
			for _, i := range idx {
				changes = append(changes, d.Report.Changes[i])
			}
			p.Groups = append(p.Groups, changeGroup{Area: c.Area, Title: c.Area, Changes: changes})
			delete(byArea, c.Area)
		}
	}
	return u.render(q, "diff", title+": "+p.From+" → "+p.To, p)
}
