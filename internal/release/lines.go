package release

import (
	"regexp"
	"strconv"
	"strings"

	yaml3 "go.yaml.in/yaml/v3"
)

// lineIndex maps a path in a YAML (or JSON) document to the line of its
// key (mapping entries) or item (sequence entries), 1-based. Paths are
// segments joined with "\x00"; sequence items are their index.
type lineIndex map[string]int

// indexLines parses data with go.yaml.in/yaml/v3 for line numbers only; a
// document it cannot parse yields an empty index (values are decoded
// elsewhere with Helm's own YAML semantics).
func indexLines(data []byte) lineIndex {
	idx := lineIndex{}
	var doc yaml3.Node
	if err := yaml3.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return idx
	}
	var walk func(n *yaml3.Node, prefix string, depth int)
	walk = func(n *yaml3.Node, prefix string, depth int) {
		if depth > 200 {
			return
		}
		switch n.Kind {
		case yaml3.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := join(prefix, k.Value)
				if _, dup := idx[p]; !dup {
					idx[p] = k.Line
				}
				walk(v, p, depth+1)
			}
		case yaml3.SequenceNode:
			for i, v := range n.Content {
				p := join(prefix, strconv.Itoa(i))
				idx[p] = v.Line
				walk(v, p, depth+1)
			}
		}
	}
	walk(doc.Content[0], "", 0)
	return idx
}

func join(prefix, seg string) string {
	if prefix == "" {
		return seg
	}
	return prefix + "\x00" + seg
}

// line returns the line of path, or of its nearest ancestor that has one
// (0 if none).
func (idx lineIndex) line(segs []string) int {
	for n := len(segs); n > 0; n-- {
		if l, ok := idx[strings.Join(segs[:n], "\x00")]; ok {
			return l
		}
	}
	return 0
}

// exact returns the line of path itself, 0 if it has none.
func (idx lineIndex) exact(segs []string) int {
	return idx[strings.Join(segs, "\x00")]
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// valuesPath writes a values path as people read it: ".image.tag",
// `.podAnnotations["prometheus.io/scrape"]`, "." for the root.
func valuesPath(segs []string) string {
	if len(segs) == 0 {
		return "."
	}
	var b strings.Builder
	for _, s := range segs {
		switch {
		case s == "[]": // items of a list (schema paths)
			b.WriteString("[]")
		case s == "*": // any key of a map (schema additionalProperties)
			b.WriteString(".*")
		case plainKey.MatchString(s):
			b.WriteString("." + s)
		default:
			b.WriteString("[" + strconv.Quote(s) + "]")
		}
	}
	return b.String()
}

func appendSeg(segs []string, s string) []string {
	out := make([]string, len(segs)+1)
	copy(out, segs)
	out[len(segs)] = s
	return out
}
