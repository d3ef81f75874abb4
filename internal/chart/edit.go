package chart

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"unicode/utf8"

	yaml3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// SetChartYAMLValue sets the top-level string field key (e.g. "version"
// or "appVersion") in Chart.yaml bytes and returns the new bytes. Only the
// value's characters change: comments, key order, indentation and the
// rest of the file are kept byte for byte. A missing key is appended at
// the end. The value keeps the original quoting style; a value that YAML
// would read as something other than this exact string (1.0, yes, …) is
// double-quoted.
//
// Helm's `helm package --version` instead rewrites the whole file with
// sorted keys and no comments; the resulting metadata is the same.
func SetChartYAMLValue(raw []byte, key, value string) ([]byte, error) {
	raw = bytes.TrimPrefix(raw, utf8BOM)
	root, err := parseNode(raw)
	if err != nil {
		return nil, yamlError(ChartfileName, err, nil)
	}
	if root != nil && (root.Kind != yaml3.MappingNode || root.Style&yaml3.FlowStyle != 0) {
		return nil, fmt.Errorf("set %s in Chart.yaml: the file is not a block mapping (key: value lines)", key)
	}
	var out []byte
	var found *yaml3.Node
	if root != nil {
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == key {
				found = root.Content[i+1]
			}
		}
	}
	if found != nil {
		out, err = replaceScalar(raw, found, value, keepStyle)
		if err != nil {
			return nil, fmt.Errorf("set %s in Chart.yaml: %w", key, err)
		}
	} else {
		out = append([]byte{}, raw...)
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		out = append(out, key+": "+renderScalar(value, yaml3.Style(0))+"\n"...)
	}
	// The edit must read back as exactly this value, with Helm's parser.
	var check map[string]interface{}
	if err := yaml.Unmarshal(out, &check); err != nil || check[key] != value {
		return nil, fmt.Errorf("set %s in Chart.yaml: the edited file does not read back as %q; edit it by hand", key, value)
	}
	return out, nil
}

// keepStyle asks replaceScalar to keep the node's own quoting.
const keepStyle = yaml3.Style(1 << 15)

// QuoteChartYAMLValue rewrites the top-level string field key, when its value is written
// unquoted, as a double-quoted string of the same text, so that no YAML reader takes it for
// a number (appVersion: 1.10 is the float 1.1 to many tools). Everything else in the file is
// kept byte for byte; a missing, quoted or null value leaves the file as it is.
func QuoteChartYAMLValue(raw []byte, key string) ([]byte, error) {
	root, err := parseNode(bytes.TrimPrefix(raw, utf8BOM))
	if err != nil || root == nil || root.Kind != yaml3.MappingNode {
		return raw, nil
	}
	var n *yaml3.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == key {
			n = root.Content[i+1]
		}
	}
	if n == nil || n.Kind != yaml3.ScalarNode || n.Style != 0 || n.Tag == "!!null" {
		return raw, nil
	}
	out, err := replaceScalar(bytes.TrimPrefix(raw, utf8BOM), n, n.Value, yaml3.DoubleQuotedStyle)
	var check map[string]any
	if err == nil && (yaml.Unmarshal(out, &check) != nil || check[key] != n.Value) {
		err = fmt.Errorf("the quoted value does not read back as %q", n.Value)
	}
	if err != nil {
		return nil, fmt.Errorf("quote %s on line %d of Chart.yaml: %v; write it as a quoted string by hand", key, n.Line, err)
	}
	return out, nil
}

// replaceScalar replaces the source text of scalar node n in raw.
// With style keepStyle the value keeps the node's quoting; otherwise it is written in style.
func replaceScalar(raw []byte, n *yaml3.Node, value string, style yaml3.Style) ([]byte, error) {
	if n.Kind != yaml3.ScalarNode || n.Style&(yaml3.LiteralStyle|yaml3.FoldedStyle) != 0 {
		return nil, fmt.Errorf("the current value (line %d) is not a one-line scalar", n.Line)
	}
	start, ok := offsetOf(raw, n.Line, n.Column)
	if !ok {
		return nil, fmt.Errorf("cannot locate line %d", n.Line)
	}
	end, ok := scalarEnd(raw, start, n)
	if !ok {
		return nil, fmt.Errorf("the current value (line %d) spans lines or has an unusual form", n.Line)
	}
	if style == keepStyle {
		style = n.Style & (yaml3.DoubleQuotedStyle | yaml3.SingleQuotedStyle)
	}
	out := make([]byte, 0, len(raw)+len(value))
	out = append(out, raw[:start]...)
	out = append(out, renderScalar(value, style)...)
	out = append(out, raw[end:]...)
	return out, nil
}

// offsetOf converts a yaml.v3 line/column (1-based, column in characters)
// to a byte offset.
func offsetOf(raw []byte, line, col int) (int, bool) {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(raw[off:], '\n')
		if i < 0 {
			return 0, false
		}
		off += i + 1
	}
	for c := 1; c < col; c++ {
		if off >= len(raw) || raw[off] == '\n' {
			return 0, false
		}
		_, size := utf8.DecodeRune(raw[off:])
		off += size
	}
	return off, true
}

// scalarEnd finds where the scalar starting at start ends, on its line.
func scalarEnd(raw []byte, start int, n *yaml3.Node) (int, bool) {
	lineEnd := bytes.IndexByte(raw[start:], '\n')
	if lineEnd < 0 {
		lineEnd = len(raw)
	} else {
		lineEnd += start
	}
	text := raw[start:lineEnd]
	switch {
	case n.Style&yaml3.DoubleQuotedStyle != 0:
		for i := 1; i < len(text); i++ {
			switch text[i] {
			case '\\':
				i++
			case '"':
				return start + i + 1, true
			}
		}
	case n.Style&yaml3.SingleQuotedStyle != 0:
		for i := 1; i < len(text); i++ {
			if text[i] == '\'' {
				if i+1 < len(text) && text[i+1] == '\'' {
					i++
					continue
				}
				return start + i + 1, true
			}
		}
	default:
		if bytes.HasPrefix(text, []byte(n.Value)) {
			return start + len(n.Value), true
		}
	}
	return 0, false
}

// plainSafeRE matches strings every YAML version reads as that string
// when unquoted, provided they are not numbers or booleans (checked too).
var plainSafeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

func renderScalar(v string, style yaml3.Style) string {
	switch style {
	case yaml3.SingleQuotedStyle:
		return "'" + string(bytes.ReplaceAll([]byte(v), []byte("'"), []byte("''"))) + "'"
	case yaml3.DoubleQuotedStyle:
		return doubleQuote(v)
	}
	if plainSafeRE.MatchString(v) {
		var got interface{}
		if err := yaml.Unmarshal([]byte("v: "+v), &got); err == nil {
			if m, ok := got.(map[string]interface{}); ok && m["v"] == v {
				var n yaml3.Node
				if yaml3.Unmarshal([]byte(v), &n) == nil && len(n.Content) == 1 && n.Content[0].Tag == "!!str" {
					return v
				}
			}
		}
	}
	return doubleQuote(v)
}

// doubleQuote renders a YAML double-quoted scalar (JSON string syntax is a
// subset of it).
func doubleQuote(v string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}
