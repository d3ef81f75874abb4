package repoindex

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A small YAML emitter for index entries: decoded JSON (objects, arrays, strings, numbers,
// booleans, null) written byte for byte as `helm repo index` writes it. Helm marshals its
// index with sigs.k8s.io/yaml, which reads the JSON of the index back with go-yaml v2
// (go.yaml.in/yaml/v2 v2.4.4, through Helm v3.22.0) and encodes the result with go-yaml v2's
// emitter. That emitter decides, per scalar, between plain, 'single-quoted', "double-quoted"
// (escaping what YAML forbids) and |literal block forms, folds long lines at 80 columns, and
// orders mapping keys its own way; this file is that part of go-yaml v2 (encode.go's string
// styles, resolve.go's plain-scalar resolution, sorter.go's key order, emitterc.go's block
// emitter, itself a port of libyaml) cut down to what an index holds. Rendering an entry so
// is about five times faster than converting its JSON through the library, which matters when
// thousands of archives are indexed.

const (
	bestIndent   = 2   // go-yaml's indentation step
	bestWidth    = 80  // go-yaml v2 folds plain and quoted scalars past this column
	maxSimpleKey = 128 // longer keys are written "? key" / ": value"
)

// Encoder styles of a scalar (go-yaml v2 yaml_scalar_style_t).
type scalarStyle uint8

const (
	plainStyle scalarStyle = iota
	singleQuotedStyle
	doubleQuotedStyle
	literalStyle
)

// emitter holds go-yaml v2 emitter state: the output, the current column and indentation,
// and whether the last thing written was whitespace or indentation.
type emitter struct {
	buf        []byte
	column     int
	indent     int
	whitespace bool
	indention  bool
}

// nodeContext is where a node is emitted (go-yaml v2 emit_node's flags).
type nodeContext struct {
	sequence, mapping, simpleKey bool
}

// entryEmitter starts an index entry as an item of the sequence under its chart's name:
// "  -" written, the sequence at indentation 2; or, under a name go-yaml writes as an explicit
// key ("? name", then ": - " and the entry), "    -" at indentation 4, as the items are laid
// out there.
func entryEmitter(name string, size int) *emitter {
	e := &emitter{buf: make([]byte, 0, size), indent: 2, indention: true}
	if explicitKey(name) {
		e.indent = 4
	}
	for e.column < e.indent {
		e.put(' ')
	}
	e.put('-')
	return e
}

// explicitKey reports whether go-yaml writes k as an explicit key ("? k"): when it is longer
// than 128 bytes or spans lines.
func explicitKey(k string) bool { return len(k) > maxSimpleKey || analyze(k).multiline }

// reset makes e an emitter at the start of a line, after a line break (as the emitter is
// after a block scalar, and where index.yaml concatenates rendered pieces), in a block
// mapping at indent, and returns it.
func (e *emitter) reset(indent int) *emitter {
	*e = emitter{buf: e.buf[:0], indent: indent, whitespace: true, indention: true}
	return e
}

// end finishes what was emitted with a line break, as the next node's indentation would.
func (e *emitter) end() []byte {
	if e.column != 0 {
		e.putBreak()
	}
	return e.buf
}

func (e *emitter) put(c byte) {
	e.buf = append(e.buf, c)
	e.column++
}

func (e *emitter) putBreak() {
	e.buf = append(e.buf, '\n')
	e.column = 0
}

// write copies the character at s[*i] and advances *i past it.
func (e *emitter) write(s string, i *int) {
	w := width(s[*i])
	e.buf = append(e.buf, s[*i:*i+w]...)
	e.column++
	*i += w
}

// writeBreak copies the line break at s[*i].
func (e *emitter) writeBreak(s string, i *int) {
	if s[*i] == '\n' {
		e.putBreak()
		*i++
		return
	}
	e.write(s, i)
	e.column = 0
}

func (e *emitter) increaseIndent(flow, indentless bool) {
	if e.indent < 0 {
		if flow {
			e.indent = bestIndent
		} else {
			e.indent = 0
		}
	} else if !indentless {
		e.indent += bestIndent
	}
}

func (e *emitter) writeIndent() {
	indent := max(e.indent, 0)
	if !e.indention || e.column > indent || (e.column == indent && !e.whitespace) {
		e.putBreak()
	}
	for e.column < indent {
		e.put(' ')
	}
	e.whitespace = true
	e.indention = true
}

func (e *emitter) writeIndicator(indicator string, needWhitespace, isWhitespace, isIndention bool) {
	if needWhitespace && !e.whitespace {
		e.put(' ')
	}
	for i := 0; i < len(indicator); {
		e.write(indicator, &i)
	}
	e.whitespace = isWhitespace
	e.indention = e.indention && isIndention
}

// node emits a decoded JSON value.
func (e *emitter) node(v any, ctx nodeContext) error {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 0 {
			e.emptyFlow("{", "}")
			return nil
		}
		return e.blockMapping(v)
	case []any:
		if len(v) == 0 {
			e.emptyFlow("[", "]")
			return nil
		}
		return e.blockSequence(v, ctx.mapping)
	case string:
		e.scalar(v, stringStyle(v), ctx)
	case bool:
		e.scalar(strconv.FormatBool(v), plainStyle, ctx)
	case nil:
		e.scalar("null", plainStyle, ctx)
	case json.Number:
		if s, ok := numberForm(string(v)); ok {
			e.scalar(s, plainStyle, ctx)
		} else {
			e.scalar(s, stringStyle(s), ctx)
		}
	default:
		return fmt.Errorf("index entry: unexpected %T", v)
	}
	return nil
}

func (e *emitter) emptyFlow(open, close string) {
	e.writeIndicator(open, true, true, false)
	e.writeIndicator(close, false, false, false)
}

func (e *emitter) blockMapping(m map[string]any) error {
	saved := e.indent
	e.increaseIndent(false, false)
	for _, k := range sortedKeys(m) {
		e.key(k)
		if err := e.node(m[k], nodeContext{mapping: true}); err != nil {
			return err
		}
	}
	e.indent = saved
	return nil
}

func (e *emitter) blockSequence(l []any, inMapping bool) error {
	saved := e.beginSequence(inMapping)
	for _, item := range l {
		e.sequenceItem()
		if err := e.node(item, nodeContext{sequence: true}); err != nil {
			return err
		}
	}
	e.indent = saved
	return nil
}

// beginSequence starts a block sequence, not indented under a mapping's key, and returns the
// indentation to restore at its end.
func (e *emitter) beginSequence(inMapping bool) (saved int) {
	saved = e.indent
	e.increaseIndent(false, inMapping && !e.indention)
	return saved
}

// sequenceItem starts an item of a block sequence: "- ".
func (e *emitter) sequenceItem() {
	e.writeIndent()
	e.writeIndicator("-", true, false, true)
}

// urls emits an entry's urls key with its one URL.
func (e *emitter) urls(url string) {
	e.key("urls")
	saved := e.beginSequence(true)
	e.sequenceItem()
	e.scalar(url, stringStyle(url), nodeContext{sequence: true})
	e.indent = saved
}

// key emits a mapping key of the block mapping being written, and the ':' its value follows:
// "key:", or "? key" and ":" on the next line for a key too long or spanning lines.
func (e *emitter) key(k string) {
	e.writeIndent()
	a := analyze(k)
	if len(k) <= maxSimpleKey && !a.multiline {
		e.scalarAnalyzed(k, stringStyle(k), a, nodeContext{mapping: true, simpleKey: true})
		e.writeIndicator(":", false, false, false)
		return
	}
	e.writeIndicator("?", true, false, true)
	e.scalarAnalyzed(k, stringStyle(k), a, nodeContext{mapping: true})
	e.writeIndent()
	e.writeIndicator(":", true, false, true)
}

func (e *emitter) scalar(s string, style scalarStyle, ctx nodeContext) {
	e.scalarAnalyzed(s, style, analyze(s), ctx)
}

// scalarAnalyzed is go-yaml v2's emit_scalar: the style the encoder asked for, changed to
// one the scalar's content allows (select_scalar_style), written one indentation step in.
func (e *emitter) scalarAnalyzed(s string, style scalarStyle, a analysis, ctx nodeContext) {
	if ctx.simpleKey && a.multiline {
		style = doubleQuotedStyle
	}
	if style == plainStyle && (!a.blockPlainAllowed || s == "" && ctx.simpleKey) {
		style = singleQuotedStyle
	}
	if style == singleQuotedStyle && !a.singleQuotedAllowed {
		style = doubleQuotedStyle
	}
	if style == literalStyle && (!a.blockAllowed || ctx.simpleKey) {
		style = doubleQuotedStyle
	}
	saved := e.indent
	e.increaseIndent(true, false)
	switch style {
	case plainStyle:
		e.writePlain(s, !ctx.simpleKey)
	case singleQuotedStyle:
		e.writeSingleQuoted(s, !ctx.simpleKey)
	case doubleQuotedStyle:
		e.writeDoubleQuoted(s, !ctx.simpleKey)
	case literalStyle:
		e.writeLiteral(s)
	}
	e.indent = saved
}

func (e *emitter) writePlain(s string, allowBreaks bool) {
	if strings.IndexByte(s, ' ') < 0 {
		// No space to fold at, and a plain scalar has no line breaks: the string as it is.
		if !e.whitespace {
			e.put(' ')
		}
		e.buf = append(e.buf, s...)
		e.column += utf8.RuneCountInString(s)
		e.whitespace = false
		e.indention = false
		return
	}
	e.writeFolded(s, allowBreaks, false)
}

func (e *emitter) writeSingleQuoted(s string, allowBreaks bool) {
	e.writeFolded(s, allowBreaks, true)
}

// writeFolded writes s plain or, quoted, single-quoted (go-yaml's write_plain_scalar and
// write_single_quoted_scalar, which differ only in the quotes: a plain scalar has neither
// leading nor trailing spaces, so it folds at the same spaces), folding at a single space
// past the 80th column and writing its line breaks as YAML reads them back.
func (e *emitter) writeFolded(s string, allowBreaks, quoted bool) {
	if quoted {
		e.writeIndicator("'", true, false, false)
	} else if !e.whitespace {
		e.put(' ')
	}
	spaces, breaks := false, false
	for i := 0; i < len(s); {
		switch {
		case s[i] == ' ':
			if allowBreaks && !spaces && e.column > bestWidth && i > 0 && i < len(s)-1 && !isSpaceAt(s, i+1) {
				e.writeIndent()
				i++
			} else {
				e.write(s, &i)
			}
			spaces = true
		case isBreak(s, i):
			if !breaks && s[i] == '\n' {
				e.putBreak()
			}
			e.writeBreak(s, &i)
			e.indention = true
			breaks = true
		default:
			if breaks {
				e.writeIndent()
			}
			if quoted && s[i] == '\'' {
				e.put('\'')
			}
			e.write(s, &i)
			e.indention = false
			spaces, breaks = false, false
		}
	}
	if quoted {
		e.writeIndicator("'", false, false, false)
	}
	e.whitespace = false
	e.indention = false
}

// writeDoubleQuoted writes s double-quoted, escaping what go-yaml v2 escapes: characters
// outside YAML's printable set (C0 and C1 controls, DEL, characters beyond U+FFFF, U+FEFF,
// U+FFFE, U+FFFF), line breaks, '"' and '\'. As go-yaml's is_bom looks at the start of the
// string, a string that starts with U+FEFF has every character escaped.
func (e *emitter) writeDoubleQuoted(s string, allowBreaks bool) {
	spaces := false
	e.writeIndicator(`"`, true, false, false)
	bom := strings.HasPrefix(s, "\uFEFF")
	for i := 0; i < len(s); {
		if bom || !isPrintable(s, i) || isBreak(s, i) || s[i] == '"' || s[i] == '\\' {
			r, w := utf8.DecodeRuneInString(s[i:])
			i += w
			e.put('\\')
			switch r {
			case 0x00:
				e.put('0')
			case 0x07:
				e.put('a')
			case 0x08:
				e.put('b')
			case 0x09:
				e.put('t')
			case 0x0A:
				e.put('n')
			case 0x0B:
				e.put('v')
			case 0x0C:
				e.put('f')
			case 0x0D:
				e.put('r')
			case 0x1B:
				e.put('e')
			case 0x22:
				e.put('"')
			case 0x5C:
				e.put('\\')
			case 0x85:
				e.put('N')
			case 0xA0:
				e.put('_')
			case 0x2028:
				e.put('L')
			case 0x2029:
				e.put('P')
			default:
				var digits int
				switch {
				case r <= 0xFF:
					e.put('x')
					digits = 2
				case r <= 0xFFFF:
					e.put('u')
					digits = 4
				default:
					e.put('U')
					digits = 8
				}
				for k := (digits - 1) * 4; k >= 0; k -= 4 {
					e.put("0123456789ABCDEF"[(r>>uint(k))&0x0F])
				}
			}
			spaces = false
			continue
		}
		if s[i] == ' ' {
			if allowBreaks && !spaces && e.column > bestWidth && i > 0 && i < len(s)-1 {
				e.writeIndent()
				if isSpaceAt(s, i+1) {
					e.put('\\')
				}
				i++
			} else {
				e.write(s, &i)
			}
			spaces = true
			continue
		}
		e.write(s, &i)
		spaces = false
	}
	e.writeIndicator(`"`, false, false, false)
	e.whitespace = false
	e.indention = false
}

func (e *emitter) writeLiteral(s string) {
	e.writeIndicator("|", true, false, false)
	e.writeBlockScalarHints(s)
	e.putBreak()
	e.indention = true
	e.whitespace = true
	breaks := true
	for i := 0; i < len(s); {
		if isBreak(s, i) {
			e.writeBreak(s, &i)
			e.indention = true
			breaks = true
			continue
		}
		if breaks {
			e.writeIndent()
		}
		e.write(s, &i)
		e.indention = false
		breaks = false
	}
}

// writeBlockScalarHints writes the indentation indicator of a block scalar that starts with a
// space or line break, and its chomping indicator: '-' without a final line break, '+' with
// more than one (or only one).
func (e *emitter) writeBlockScalarHints(s string) {
	if s != "" && (s[0] == ' ' || isBreak(s, 0)) {
		e.writeIndicator(string(rune('0'+bestIndent)), false, false, false)
	}
	chomp := ""
	if s == "" {
		chomp = "-"
	} else {
		i := len(s) - 1
		for s[i]&0xC0 == 0x80 {
			i--
		}
		if !isBreak(s, i) {
			chomp = "-"
		} else if i == 0 {
			chomp = "+"
		} else {
			i--
			for s[i]&0xC0 == 0x80 {
				i--
			}
			if isBreak(s, i) {
				chomp = "+"
			}
		}
	}
	if chomp != "" {
		e.writeIndicator(chomp, false, false, false)
	}
}
