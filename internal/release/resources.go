package release

import (
	"fmt"
	"strings"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/render"
)

// diffResources compares what the two charts render with default values
// (and their CRDs): a resource gone, or whose kind, name or namespace
// changed, is major; a new one minor; one rendered differently (apart from
// the chart's version and appVersion, which labels such as helm.sh/chart
// carry) a patch. cur locates templates for annotations.
func diffResources(base, changed *render.Result, baseChart, cur *chart.Chart) []Change {
	all := func(r *render.Result) []render.Resource {
		return append(append([]render.Resource{}, r.Resources...), r.CRDs...)
	}
	bres, cres := all(base), all(changed)
	bkeys := make(map[string]render.Resource, len(bres))
	for _, r := range bres {
		if _, dup := bkeys[r.Key()]; !dup {
			bkeys[r.Key()] = r
		}
	}
	ckeys := make(map[string]render.Resource, len(cres))
	for _, r := range cres {
		if _, dup := ckeys[r.Key()]; !dup {
			ckeys[r.Key()] = r
		}
	}

	var out []Change
	add := func(s Severity, r render.Resource, tpl, msg string) {
		c := Change{Severity: s, Area: AreaResources, Path: r.String(), Message: msg}
		if cur.File(tpl) != nil {
			c.File = tpl
		}
		out = append(out, c)
	}

	var added []render.Resource
	for _, r := range cres {
		if _, ok := bkeys[r.Key()]; !ok {
			added = append(added, r)
		}
	}
	used := make([]bool, len(added))
	seen := map[string]bool{}
	for _, r := range bres {
		if seen[r.Key()] {
			continue
		}
		seen[r.Key()] = true
		c, ok := ckeys[r.Key()]
		if ok {
			switch {
			case c.APIVersion != r.APIVersion:
				add(Patch, c, c.Template, fmt.Sprintf("apiVersion changed from %s to %s", r.APIVersion, c.APIVersion))
			case !r.Hook && c.Hook:
				add(Major, c, c.Template, "became a hook: an upgrade deletes the released object")
			case r.Hook && !c.Hook:
				add(Patch, c, c.Template, "is no longer a hook")
			case withoutVersions(r.Doc, baseChart) != withoutVersions(c.Doc, cur):
				removed, added := lineDelta(withoutVersions(r.Doc, baseChart), withoutVersions(c.Doc, cur))
				add(Patch, c, c.Template, fmt.Sprintf("rendered differently with default values (%d line(s) removed, %d added)", removed, added))
			}
			continue
		}
		// Same template, new identity: the kind, name or namespace changed.
		renamed := -1
		for i, a := range added {
			if !used[i] && a.Template == r.Template && a.Hook == r.Hook {
				renamed = i
				break
			}
		}
		if renamed >= 0 {
			used[renamed] = true
			a := added[renamed]
			what := "renamed"
			if a.Kind != r.Kind {
				what = "kind changed"
			}
			add(Major, r, a.Template, fmt.Sprintf("%s: now %s (%s)", what, a.String(), a.Template))
			continue
		}
		add(Major, r, r.Template, fmt.Sprintf("removed (rendered by %s with default values)", r.Template))
	}
	for i, a := range added {
		if !used[i] {
			add(Minor, a, a.Template, fmt.Sprintf("added (rendered by %s)", a.Template))
		}
	}
	return out
}

// lineDelta counts the lines of a that b lacks and those of b that a lacks, each line as
// often as it occurs (a summary of how much a rendered object changed, not a diff).
func lineDelta(a, b string) (removed, added int) {
	count := map[string]int{}
	for _, l := range strings.Split(a, "\n") {
		count[l]++
	}
	for _, l := range strings.Split(b, "\n") {
		count[l]--
	}
	for _, n := range count {
		if n > 0 {
			removed += n
		} else {
			added -= n
		}
	}
	return removed, added
}

// withoutVersions replaces ch's version and appVersion in a rendered document by
// placeholders, so that two releases' objects compare equal when only those moved (a
// version bump changes every object carrying helm create's helm.sh/chart label).
func withoutVersions(doc string, ch *chart.Chart) string {
	if ch == nil || ch.Metadata == nil {
		return doc
	}
	vs := []struct{ v, placeholder string }{{ch.Metadata.Version, "\x00version"}, {ch.Metadata.AppVersion, "\x00appVersion"}}
	if len(vs[1].v) > len(vs[0].v) {
		vs[0], vs[1] = vs[1], vs[0]
	}
	for _, v := range vs {
		if v.v != "" {
			doc = strings.ReplaceAll(doc, v.v, v.placeholder)
		}
	}
	return doc
}
