package release

import (
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/chartroom/chartroom/internal/safeyaml"
)

// valueKind is a values node's type as templates see it.
func valueKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "map"
	case []any:
		return "list"
	case string:
		return "string"
	case bool:
		return "bool"
	case float64, int64, int, json.Number:
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// parseValues decodes values.yaml exactly as Helm's loader does
// (sigs.k8s.io/yaml: YAML 1.1 scalars, so `yes` is a bool and 1.0 a number).
func parseValues(data []byte) (map[string]any, error) {
	v := map[string]any{}
	if err := safeyaml.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	if v == nil {
		v = map[string]any{}
	}
	return v, nil
}

// valueEntry is a removed or added values subtree.
type valueEntry struct {
	segs  []string
	value any
	hash  string
	used  bool
}

type valuesDiff struct {
	baseLines, lines lineIndex
	changes          []Change
	removed, added   []*valueEntry
}

// diffValues compares two values trees (decoded with [parseValues]); line
// numbers come from the changed values.yaml (data).
func diffValues(base, changed map[string]any, baseData, data []byte) []Change {
	d := &valuesDiff{baseLines: indexLines(baseData), lines: indexLines(data)}
	d.walk(base, changed, nil)
	d.pairRenames()
	return d.changes
}

func (d *valuesDiff) change(s Severity, segs []string, msg string, line int) {
	d.changes = append(d.changes, Change{Severity: s, Area: AreaValues, Path: valuesPath(segs), Message: msg, File: "values.yaml", Line: line})
}

// orderedKeys lists the keys of both maps in the changed file's order,
// then the baseline's, then by name.
func (d *valuesDiff) orderedKeys(b, c map[string]any, segs []string) []string {
	keys := make([]string, 0, len(c)+len(b))
	for k := range c {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := c[k]; !ok {
			keys = append(keys, k)
		}
	}
	pos := func(k string) (int, int) {
		p := appendSeg(segs, k)
		if l := d.lines.exact(p); l > 0 {
			return 0, l
		}
		return 1, d.baseLines.exact(p)
	}
	slices.SortFunc(keys, func(x, y string) int {
		fx, lx := pos(x)
		fy, ly := pos(y)
		return cmp.Or(cmp.Compare(fx, fy), cmp.Compare(lx, ly), strings.Compare(x, y))
	})
	return keys
}

func (d *valuesDiff) walk(b, c map[string]any, segs []string) {
	for _, k := range d.orderedKeys(b, c, segs) {
		p := appendSeg(segs, k)
		bv, inB := b[k]
		cv, inC := c[k]
		switch {
		case !inC:
			d.removed = append(d.removed, &valueEntry{segs: p, value: bv, hash: hashValue(bv)})
		case !inB:
			d.added = append(d.added, &valueEntry{segs: p, value: cv, hash: hashValue(cv)})
		default:
			d.compare(bv, cv, p)
		}
	}
}

func (d *valuesDiff) compare(bv, cv any, p []string) {
	bk, ck := valueKind(bv), valueKind(cv)
	bm, bIsMap := bv.(map[string]any)
	cm, cIsMap := cv.(map[string]any)
	switch {
	case bIsMap && cIsMap:
		d.walk(bm, cm, p)
	case bIsMap && ck == "null":
		// A null default unsets the key; the keys under it are gone.
		if len(bm) > 0 {
			d.walk(bm, map[string]any{}, p)
		} else {
			d.change(Patch, p, "default changed from {} to null", d.lines.line(p))
		}
	case bk == "null" && cIsMap:
		if len(cm) > 0 {
			d.walk(map[string]any{}, cm, p)
		} else {
			d.change(Patch, p, "default changed from null to {}", d.lines.line(p))
		}
	case bk != ck && bk != "null" && ck != "null":
		d.change(Major, p, fmt.Sprintf("type changed from %s to %s", bk, ck), d.lines.line(p))
	case !reflect.DeepEqual(bv, cv):
		d.change(Patch, p, fmt.Sprintf("default changed from %s to %s", short(bv), short(cv)), d.lines.line(p))
	}
}

// pairRenames reports each removed subtree whose value reappears under a
// new path as renamed (major), the rest as removed (major) and added (minor).
func (d *valuesDiff) pairRenames() {
	byHash := map[string][]*valueEntry{}
	for _, a := range d.added {
		byHash[a.hash] = append(byHash[a.hash], a)
	}
	for _, r := range d.removed {
		var match *valueEntry
		for _, a := range byHash[r.hash] {
			if a.used {
				continue
			}
			sameLeaf := a.segs[len(a.segs)-1] == r.segs[len(r.segs)-1]
			if sameLeaf {
				match = a
				break
			}
			if match == nil && distinctive(r.value) {
				match = a
			}
		}
		if match != nil {
			match.used = true
			d.change(Major, r.segs, "renamed to "+valuesPath(match.segs), d.lines.line(match.segs))
			continue
		}
		d.change(Major, r.segs, "removed", d.lines.line(r.segs[:len(r.segs)-1]))
	}
	for _, a := range d.added {
		if !a.used {
			d.change(Minor, a.segs, "added", d.lines.line(a.segs))
		}
	}
}

// distinctive reports whether a value is specific enough that finding it
// under another key means the key was renamed (not true, 0, "" or {}).
func distinctive(v any) bool {
	switch x := v.(type) {
	case string:
		return len(x) >= 3
	case map[string]any:
		return len(x) > 0
	case []any:
		return len(x) > 0
	case float64:
		return x != 0 && x != 1
	}
	return false
}

func hashValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

// short renders a value for a message, truncated.
func short(v any) string {
	var s string
	switch x := v.(type) {
	case string:
		s = fmt.Sprintf("%q", x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			s = fmt.Sprint(x)
		} else {
			s = string(b)
		}
	}
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}
