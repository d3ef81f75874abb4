package release

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// schemaDiff compares two values.schema.json documents (JSON Schema as
// Helm validates it) and reports what a values file valid before may now
// be refused for (major), new optional properties (minor) and loosened
// rules (patch).
type schemaDiff struct {
	baseRoot, root map[string]any
	lines          lineIndex
	file           string // "values.schema.json", or "" when the chart has none
	changes        []Change
	seen           map[[2]string]bool // ($ref-resolved) pointer pairs compared
}

// diffSchema compares schema documents; nil data means no schema (which
// accepts any values). It reports a patch change when the bytes differ but
// no rule applies, and an error when a document is not JSON.
func diffSchema(baseData, data []byte) ([]Change, error) {
	base, err := parseSchema(baseData)
	if err != nil {
		return nil, fmt.Errorf("baseline values.schema.json: %w", err)
	}
	cur, err := parseSchema(data)
	if err != nil {
		return nil, fmt.Errorf("values.schema.json: %w", err)
	}
	d := &schemaDiff{baseRoot: base, root: cur, lines: indexLines(data), seen: map[[2]string]bool{}}
	if data != nil {
		d.file = "values.schema.json"
	}
	switch {
	case baseData == nil && data != nil:
		d.add(Patch, nil, nil, "values.schema.json added: values are now validated")
	case baseData != nil && data == nil:
		d.add(Patch, nil, nil, "values.schema.json removed: values are no longer validated")
	}
	d.walk(base, cur, nil, nil, nil)
	if len(d.changes) == 0 && !reflect.DeepEqual(base, cur) {
		d.add(Patch, nil, nil, "values.schema.json changed (descriptions, defaults or other annotations)")
	}
	return d.changes, nil
}

func parseSchema(data []byte) (map[string]any, error) {
	if data == nil {
		return map[string]any{}, nil
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return map[string]any{}, nil // true/false schemas: nothing to compare field by field
	}
	return m, nil
}

func (d *schemaDiff) add(s Severity, vpath, ptr []string, msg string) {
	path := ""
	if vpath != nil {
		path = valuesPath(vpath)
	}
	d.changes = append(d.changes, Change{Severity: s, Area: AreaSchema, Path: path, Message: msg, File: d.file, Line: d.lines.line(ptr)})
}

// resolve follows a local $ref ("#/definitions/x", "#/$defs/x").
func resolve(root, s map[string]any, ptr []string) (map[string]any, []string) {
	for range 32 {
		ref, ok := s["$ref"].(string)
		if !ok || !strings.HasPrefix(ref, "#") {
			return s, ptr
		}
		target, tptr := lookupPointer(root, strings.TrimPrefix(ref, "#"))
		if target == nil {
			return s, ptr
		}
		s, ptr = target, tptr
	}
	return s, ptr
}

func lookupPointer(root map[string]any, p string) (map[string]any, []string) {
	var cur any = root
	var segs []string
	for _, raw := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		if raw == "" {
			continue
		}
		seg := strings.ReplaceAll(strings.ReplaceAll(raw, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, nil
		}
		cur = m[seg]
		segs = append(segs, seg)
	}
	m, _ := cur.(map[string]any)
	return m, segs
}

// walk compares the schema b (at pointer bptr in the baseline) with c (at
// cptr), both describing the values at vpath.
func (d *schemaDiff) walk(b, c map[string]any, vpath, bptr, cptr []string) {
	b, bptr = resolve(d.baseRoot, b, bptr)
	c, cptr = resolve(d.root, c, cptr)
	key := [2]string{strings.Join(bptr, "\x00"), strings.Join(cptr, "\x00")}
	if d.seen[key] {
		return
	}
	d.seen[key] = true

	d.types(b, c, vpath, cptr)
	d.enums(b, c, vpath, cptr)
	d.bounds(b, c, vpath, cptr)
	d.objects(b, c, vpath, bptr, cptr)

	if bi, ok := b["items"].(map[string]any); ok {
		if ci, ok := c["items"].(map[string]any); ok {
			d.walk(bi, ci, appendSeg(vpath, "[]"), appendSeg(bptr, "items"), appendSeg(cptr, "items"))
		}
	}
	for _, comb := range []string{"allOf", "anyOf", "oneOf"} {
		d.combinator(comb, b, c, vpath, bptr, cptr)
	}
}

// allowed is the set of instance types a "type" keyword admits; nil = any.
func allowed(s map[string]any) map[string]bool {
	var names []string
	switch t := s["type"].(type) {
	case string:
		names = []string{t}
	case []any:
		for _, x := range t {
			if n, ok := x.(string); ok {
				names = append(names, n)
			}
		}
	default:
		return nil
	}
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
		if n == "number" {
			set["integer"] = true
		}
	}
	return set
}

func typeString(s map[string]any) string {
	switch t := s["type"].(type) {
	case nil:
		return "any"
	case string:
		return t
	default:
		b, _ := json.Marshal(t)
		return string(b)
	}
}

func (d *schemaDiff) types(b, c map[string]any, vpath, ptr []string) {
	tb, tc := allowed(b), allowed(c)
	if len(vpath) == 0 && tb == nil && tc["object"] {
		return // values are always a map
	}
	narrowed, widened := false, false
	if tc != nil {
		if tb == nil {
			narrowed = true
		} else {
			for t := range tb {
				if !tc[t] {
					narrowed = true
				}
			}
		}
	}
	if tb != nil {
		if tc == nil {
			widened = true
		} else {
			for t := range tc {
				if !tb[t] {
					widened = true
				}
			}
		}
	}
	switch {
	case narrowed:
		d.add(Major, vpath, appendSeg(ptr, "type"), fmt.Sprintf("type narrowed from %s to %s", typeString(b), typeString(c)))
	case widened:
		d.add(Patch, vpath, appendSeg(ptr, "type"), fmt.Sprintf("type widened from %s to %s", typeString(b), typeString(c)))
	}
}

func (d *schemaDiff) enums(b, c map[string]any, vpath, ptr []string) {
	eb, bok := b["enum"].([]any)
	ec, cok := c["enum"].([]any)
	has := func(list []any, x any) bool {
		return slices.ContainsFunc(list, func(y any) bool { return reflect.DeepEqual(x, y) })
	}
	switch {
	case cok && !bok:
		d.add(Major, vpath, appendSeg(ptr, "enum"), "enum added: "+short(ec))
	case bok && !cok:
		d.add(Patch, vpath, nil, "enum removed")
	case bok && cok:
		var gone []any
		for _, x := range eb {
			if !has(ec, x) {
				gone = append(gone, x)
			}
		}
		if len(gone) > 0 {
			d.add(Major, vpath, appendSeg(ptr, "enum"), "enum narrowed: "+short(gone)+" no longer allowed")
		} else if len(ec) > len(eb) {
			d.add(Patch, vpath, appendSeg(ptr, "enum"), "enum widened")
		}
	}
	bc, bok := b["const"]
	cc, cok := c["const"]
	if cok && (!bok || !reflect.DeepEqual(bc, cc)) {
		d.add(Major, vpath, appendSeg(ptr, "const"), "const set to "+short(cc))
	} else if bok && !cok {
		d.add(Patch, vpath, nil, "const removed")
	}
}

// bound keywords: +1 means a larger value is stricter (minimum), -1 a
// smaller one (maximum).
var bounds = []struct {
	kw  string
	dir int
}{
	{"minimum", 1}, {"exclusiveMinimum", 1}, {"minLength", 1}, {"minItems", 1}, {"minProperties", 1},
	{"maximum", -1}, {"exclusiveMaximum", -1}, {"maxLength", -1}, {"maxItems", -1}, {"maxProperties", -1},
}

func (d *schemaDiff) bounds(b, c map[string]any, vpath, ptr []string) {
	for _, bd := range bounds {
		bv, bok := b[bd.kw].(float64)
		cv, cok := c[bd.kw].(float64)
		switch {
		case cok && !bok:
			d.add(Major, vpath, appendSeg(ptr, bd.kw), fmt.Sprintf("%s %v added", bd.kw, cv))
		case cok && bok && (cv-bv)*float64(bd.dir) > 0:
			d.add(Major, vpath, appendSeg(ptr, bd.kw), fmt.Sprintf("%s tightened from %v to %v", bd.kw, bv, cv))
		case bok && !cok || bok && cok && bv != cv:
			d.add(Patch, vpath, appendSeg(ptr, bd.kw), fmt.Sprintf("%s loosened", bd.kw))
		}
	}
	bp, _ := b["pattern"].(string)
	cp, _ := c["pattern"].(string)
	switch {
	case cp != "" && bp != cp:
		d.add(Major, vpath, appendSeg(ptr, "pattern"), fmt.Sprintf("pattern %q added", cp))
	case bp != "" && cp == "":
		d.add(Patch, vpath, nil, "pattern removed")
	}
	if bu, _ := b["uniqueItems"].(bool); !bu {
		if cu, _ := c["uniqueItems"].(bool); cu {
			d.add(Major, vpath, appendSeg(ptr, "uniqueItems"), "uniqueItems added")
		}
	}
}

func stringSet(v any) map[string]bool {
	set := map[string]bool{}
	if list, ok := v.([]any); ok {
		for _, x := range list {
			if s, ok := x.(string); ok {
				set[s] = true
			}
		}
	}
	return set
}

func (d *schemaDiff) objects(b, c map[string]any, vpath, bptr, ptr []string) {
	rb, rc := stringSet(b["required"]), stringSet(c["required"])
	for _, k := range sortedKeys(rc) {
		if !rb[k] {
			d.add(Major, appendSeg(vpath, k), appendSeg(ptr, "required"), "is now required")
		}
	}
	for _, k := range sortedKeys(rb) {
		if !rc[k] {
			d.add(Patch, appendSeg(vpath, k), appendSeg(ptr, "required"), "is no longer required")
		}
	}

	pb, _ := b["properties"].(map[string]any)
	pc, _ := c["properties"].(map[string]any)
	for _, k := range sortedKeys(pb) {
		bs, _ := pb[k].(map[string]any)
		cs, ok := pc[k].(map[string]any)
		switch {
		case pc[k] == nil:
			d.add(Major, appendSeg(vpath, k), appendSeg(ptr, "properties"), "property removed")
		case ok && bs != nil:
			d.walk(bs, cs, appendSeg(vpath, k), append(appendSeg(bptr, "properties"), k), append(appendSeg(ptr, "properties"), k))
		}
	}
	for _, k := range sortedKeys(pc) {
		if _, ok := pb[k]; ok {
			continue
		}
		if !rc[k] {
			d.add(Minor, appendSeg(vpath, k), append(appendSeg(ptr, "properties"), k), "optional property added")
		} // a new required property is reported above
	}

	ab, bHas := b["additionalProperties"]
	ac, cHas := c["additionalProperties"]
	bFalse := bHas && ab == false
	cFalse := cHas && ac == false
	switch {
	case cFalse && !bFalse:
		d.add(Major, vpath, appendSeg(ptr, "additionalProperties"), "additionalProperties: false added")
	case bFalse && !cFalse:
		d.add(Patch, vpath, nil, "additionalProperties: false removed")
	}
	if bs, ok := ab.(map[string]any); ok {
		if cs, ok := ac.(map[string]any); ok {
			d.walk(bs, cs, appendSeg(vpath, "*"), appendSeg(bptr, "additionalProperties"), appendSeg(ptr, "additionalProperties"))
		}
	}
}

// combinator compares allOf/anyOf/oneOf lists position by position: an
// extra allOf entry or a dropped anyOf/oneOf alternative is stricter.
func (d *schemaDiff) combinator(kw string, b, c map[string]any, vpath, bptr, ptr []string) {
	lb, _ := b[kw].([]any)
	lc, _ := c[kw].([]any)
	if lb == nil && lc == nil {
		return
	}
	for i := range min(len(lb), len(lc)) {
		bs, _ := lb[i].(map[string]any)
		cs, _ := lc[i].(map[string]any)
		if bs != nil && cs != nil {
			d.walk(bs, cs, vpath, append(appendSeg(bptr, kw), fmt.Sprint(i)), append(appendSeg(ptr, kw), fmt.Sprint(i)))
		}
	}
	switch {
	case kw == "allOf" && len(lc) > len(lb):
		d.add(Major, vpath, appendSeg(ptr, kw), fmt.Sprintf("%d allOf rule(s) added", len(lc)-len(lb)))
	case kw != "allOf" && len(lc) < len(lb):
		d.add(Major, vpath, appendSeg(ptr, kw), fmt.Sprintf("%d %s alternative(s) removed", len(lb)-len(lc), kw))
	case len(lc) != len(lb):
		d.add(Patch, vpath, appendSeg(ptr, kw), kw+" loosened")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
