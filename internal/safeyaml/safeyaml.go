// Package safeyaml parses YAML that others wrote (chart files, repository indexes, provenance
// files) without letting anchors and aliases multiply it.
//
// sigs.k8s.io/yaml, which Helm and chartroom use, converts YAML to JSON before decoding it; an
// alias becomes a full copy of what its anchor holds. A 1 KB document with one 1 MiB anchored
// string and a few thousand aliases to it (an "alias bomb") then asks for gigabytes. This
// package measures how large a document becomes once every alias is expanded, from a yaml.v3
// node tree (where an alias is one pointer, not a copy), and refuses it beyond a budget before
// anything is expanded.
package safeyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	yaml3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// MinExpansionBudget is the least a document may grow to once its aliases are expanded,
// whatever its size: far beyond what reusing a few blocks of values takes.
const MinExpansionBudget int64 = 4 << 20

// nodeOverhead is what each node adds beyond its text once converted to JSON (quotes,
// separators, escapes of short strings).
const nodeOverhead = 8

// ErrExpansion is wrapped by every refusal of a document whose aliases expand beyond the budget.
var ErrExpansion = errors.New("YAML aliases expand beyond the limit")

// ExpansionError says how far a document would grow.
type ExpansionError struct {
	// Size is the document's size in bytes; Budget what it may expand to.
	Size, Budget int64
	// Line is the line of the alias at which the budget ran out (0 if unknown).
	Line int
}

func (e *ExpansionError) Error() string {
	at := ""
	if e.Line > 0 {
		at = fmt.Sprintf("line %d: ", e.Line)
	}
	return fmt.Sprintf("%sthe document's anchors and aliases (&name, *name) expand its %d bytes to more than %d: write the repeated content out, or reuse less of it", at, e.Size, e.Budget)
}

// Unwrap makes the error match ErrExpansion.
func (e *ExpansionError) Unwrap() error { return ErrExpansion }

// Budget is the most a document of size bytes may expand to: twice its size, and at least
// MinExpansionBudget.
func Budget(size int) int64 { return max(MinExpansionBudget, 2*int64(size)) }

// Check returns an *ExpansionError if expanding data's aliases would exceed Budget(len(data)),
// in any document of the stream. A document without anchors costs one byte scan. A document
// with anchors that yaml.v3 cannot parse is refused with the parse error, since its expansion
// cannot be measured.
func Check(data []byte) error {
	if bytes.IndexByte(data, '&') < 0 {
		return nil // no anchor, so no alias can refer to one
	}
	budget := Budget(len(data))
	dec := yaml3.NewDecoder(bytes.NewReader(data))
	var total int64
	for {
		var doc yaml3.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		w := walker{memo: map[*yaml3.Node]int64{}, active: map[*yaml3.Node]bool{}, left: budget - total, size: int64(len(data)), budget: budget}
		n, err := w.size1(&doc)
		if err != nil {
			return err
		}
		total += n
	}
}

// Unmarshal is sigs.k8s.io/yaml's Unmarshal after Check.
func Unmarshal(data []byte, v any, opts ...yaml.JSONOpt) error {
	if err := Check(data); err != nil {
		return err
	}
	return yaml.Unmarshal(data, v, opts...)
}

// UnmarshalStrict is sigs.k8s.io/yaml's UnmarshalStrict after Check.
func UnmarshalStrict(data []byte, v any, opts ...yaml.JSONOpt) error {
	if err := Check(data); err != nil {
		return err
	}
	return yaml.UnmarshalStrict(data, v, opts...)
}

// YAMLToJSON is sigs.k8s.io/yaml's YAMLToJSON after Check.
func YAMLToJSON(data []byte) ([]byte, error) {
	if err := Check(data); err != nil {
		return nil, err
	}
	return yaml.YAMLToJSON(data)
}

type walker struct {
	memo   map[*yaml3.Node]int64 // expanded size of each node already measured
	active map[*yaml3.Node]bool  // nodes being measured: an alias to one of them is a cycle
	left   int64                 // budget left for the whole document
	size   int64
	budget int64
}

// size1 is n's expanded size. It stops as soon as the expansion of any node exceeds what is
// left of the budget, so sizes never overflow.
func (w *walker) size1(n *yaml3.Node) (int64, error) {
	if s, ok := w.memo[n]; ok {
		return s, nil
	}
	if w.active[n] {
		return 0, fmt.Errorf("line %d: an alias refers to the anchor it is inside of, which would expand forever", n.Line)
	}
	w.active[n] = true
	defer delete(w.active, n)

	s := int64(len(n.Value)) + nodeOverhead
	if n.Kind == yaml3.AliasNode && n.Alias != nil {
		a, err := w.size1(n.Alias)
		if err != nil {
			return 0, err
		}
		s += a
	}
	for _, c := range n.Content {
		cs, err := w.size1(c)
		if err != nil {
			return 0, err
		}
		s += cs
		if s > w.left {
			break
		}
	}
	if s > w.left {
		return 0, &ExpansionError{Size: w.size, Budget: w.budget, Line: n.Line}
	}
	w.memo[n] = s
	return s, nil
}
