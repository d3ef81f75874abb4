package chart

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
	yaml3 "go.yaml.in/yaml/v3"
)

// YAMLError is a parse error in a chart's YAML file, positioned at a line
// when the position is known.
type YAMLError struct {
	// File is the file name, e.g. "Chart.yaml".
	File string
	// Line is the 1-based line, 0 when unknown.
	Line int
	// Msg says what is wrong.
	Msg string
}

// Error renders "Chart.yaml:7: msg" (or "Chart.yaml: msg" without a line).
func (e *YAMLError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Unwrap makes a Chart.yaml parse error match [ErrInvalidMetadata].
func (e *YAMLError) Unwrap() error {
	if e.File == "Chart.yaml" {
		return ErrInvalidMetadata
	}
	return nil
}

var (
	yamlLineRE     = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	yamlTypeLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// parseNode parses data into a yaml.v3 node tree (for positions) and
// refuses duplicate mapping keys. An empty document yields a nil node.
func parseNode(data []byte) (*yaml3.Node, error) {
	var doc yaml3.Node
	if err := yaml3.Unmarshal(data, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlTypeLineRE.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &posError{line, m[2]}
		}
		// yaml.v3 leaves the line out when it is the first one.
		return nil, &posError{1, msg}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if err := checkDuplicateKeys(root); err != nil {
		return nil, err
	}
	return root, nil
}

type posError struct {
	line int
	msg  string
}

func (e *posError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

func checkDuplicateKeys(n *yaml3.Node) error {
	if n.Kind == yaml3.MappingNode {
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml3.ScalarNode && k.Value != "<<" {
				if first, ok := seen[k.Value]; ok {
					return &posError{k.Line, fmt.Sprintf("key %q is defined twice (first at line %d): keep one", k.Value, first)}
				}
				seen[k.Value] = k.Line
			}
		}
	}
	for _, c := range n.Content {
		if err := checkDuplicateKeys(c); err != nil {
			return err
		}
	}
	return nil
}

// yamlError turns an error from yaml.v3 or sigs.k8s.io/yaml into a
// *YAMLError with a line number when one can be found (root locates the
// field of a JSON type error).
func yamlError(file string, err error, root *yaml3.Node) error {
	var pe *posError
	if errors.As(err, &pe) {
		return &YAMLError{File: file, Line: pe.line, Msg: pe.msg}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		line := 0
		if n := findPath(root, te.Field, te.Value); n != nil {
			line = n.Line
		}
		field := te.Field
		if field == "" {
			return &YAMLError{File: file, Line: line, Msg: fmt.Sprintf("the document must be a mapping of keys to values, not a %s", te.Value)}
		}
		return &YAMLError{File: file, Line: line, Msg: fmt.Sprintf("%s: expected %s, got %s", field, describeGoType(te.Type.String()), te.Value)}
	}
	var ye *yaml3.TypeError
	if errors.As(err, &ye) && len(ye.Errors) > 0 {
		msg := ye.Errors[0]
		if m := yamlTypeLineRE.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			return &YAMLError{File: file, Line: line, Msg: m[2]}
		}
		return &YAMLError{File: file, Msg: msg}
	}
	msg := err.Error()
	for _, p := range []string{"error converting YAML to JSON: ", "error unmarshaling JSON: ", "while decoding JSON: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &YAMLError{File: file, Line: line, Msg: m[2]}
	}
	return &YAMLError{File: file, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

func describeGoType(t string) string {
	switch {
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map[") || strings.HasPrefix(t, "chart.") || strings.HasPrefix(t, "*chart."):
		return "a mapping"
	}
	return t
}

// findPath follows a JSON field path ("maintainers.name"; encoding/json
// leaves list indexes out) through a node tree, matching keys
// case-insensitively like encoding/json. Among the nodes the path reaches
// it prefers one whose YAML kind is jsonKind ("array", "object",
// "string", "number", "bool"), the kind the decoder complained about.
func findPath(n *yaml3.Node, path, jsonKind string) *yaml3.Node {
	if n == nil {
		return nil
	}
	cur := []*yaml3.Node{n}
	if path != "" {
		for _, part := range strings.Split(path, ".") {
			var next []*yaml3.Node
			for _, c := range cur {
				next = append(next, children(c, part)...)
			}
			if len(next) == 0 {
				break
			}
			cur = next
		}
	}
	for _, c := range cur {
		if nodeKind(c) == jsonKind {
			return c
		}
	}
	return cur[0]
}

// children returns the values under key part of a mapping, looking
// through sequences (whose indexes JSON paths omit).
func children(n *yaml3.Node, part string) []*yaml3.Node {
	var out []*yaml3.Node
	switch n.Kind {
	case yaml3.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if strings.EqualFold(n.Content[i].Value, part) {
				out = append(out, n.Content[i+1])
			}
		}
	case yaml3.SequenceNode:
		for _, el := range n.Content {
			out = append(out, children(el, part)...)
		}
	}
	return out
}

func nodeKind(n *yaml3.Node) string {
	switch n.Kind {
	case yaml3.SequenceNode:
		return "array"
	case yaml3.MappingNode:
		return "object"
	}
	switch n.Tag {
	case "!!int", "!!float":
		return "number"
	case "!!bool":
		return "bool"
	}
	return "string"
}

// requireStringScalars refuses top-level keys whose value YAML reads as a
// number or boolean: Helm would silently turn version: 1.10 into "1.1".
func requireStringScalars(file string, root *yaml3.Node, keys ...string) error {
	if root == nil || root.Kind != yaml3.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		for _, want := range keys {
			if k.Value != want || v.Kind != yaml3.ScalarNode {
				continue
			}
			switch v.Tag {
			case "!!int", "!!float", "!!bool":
				fix := fmt.Sprintf("quote it: %s: %q", want, v.Value)
				if lv, err := semver.NewVersion(v.Value); err == nil && want == "version" {
					// Quoted, 1.0 would next be refused as not SemVer: say the end at once.
					fix = fmt.Sprintf("write it as a SemVer version: %s: %s", want, lv)
				}
				return &YAMLError{File: file, Line: v.Line, Msg: fmt.Sprintf(
					"%s must be a string, but YAML reads %s as a %s (Helm would store it as %q); %s",
					want, v.Value, strings.TrimPrefix(v.Tag, "!!"), helmScalarString(v.Value), fix)}
			}
		}
	}
	return nil
}

// helmScalarString shows what sigs.k8s.io/yaml makes of a numeric scalar
// decoded into a string field.
func helmScalarString(s string) string {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return s
}
