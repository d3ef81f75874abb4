package release

import (
	"fmt"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/render"
)

// diffResources compares what the two charts render with default values
// (and their CRDs): a resource gone, or whose kind, name or namespace
// changed, is major; a new one minor. cur locates templates for annotations.
func diffResources(base, changed *render.Result, cur *chart.Chart) []Change {
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
