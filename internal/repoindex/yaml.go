package repoindex

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
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

// analysis is what go-yaml v2's analyze_scalar finds of a scalar: which styles may write it.
type analysis struct {
	multiline           bool
	blockPlainAllowed   bool
	singleQuotedAllowed bool
	blockAllowed        bool
}

func analyze(s string) analysis {
	if s == "" {
		return analysis{blockPlainAllowed: true, singleQuotedAllowed: true}
	}
	var (
		blockIndicators, lineBreaks, specialCharacters           bool
		leadingSpace, leadingBreak, trailingSpace, trailingBreak bool
		breakSpace, spaceBreak, previousSpace, previousBreak     bool
		precededByWhitespace, followedByWhitespace               = true, false
	)
	if strings.HasPrefix(s, "---") || strings.HasPrefix(s, "...") {
		blockIndicators = true
	}
	for i, w := 0, 0; i < len(s); i += w {
		if c := s[i]; i > 0 && c > ' ' && c < 0x7F && c != ':' && c != '#' {
			// Printable ASCII that indicates nothing after the first character.
			w = 1
			previousSpace, previousBreak, precededByWhitespace = false, false, false
			continue
		}
		w = width(s[i])
		followedByWhitespace = i+w >= len(s) || isBlank(s[i+w])
		if i == 0 {
			switch s[i] {
			case '#', ',', '[', ']', '{', '}', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`':
				blockIndicators = true
			case '?', ':':
				if followedByWhitespace {
					blockIndicators = true
				}
			case '-':
				if followedByWhitespace {
					blockIndicators = true
				}
			}
		} else {
			switch s[i] {
			case ':':
				if followedByWhitespace {
					blockIndicators = true
				}
			case '#':
				if precededByWhitespace {
					blockIndicators = true
				}
			}
		}
		if !isPrintable(s, i) {
			specialCharacters = true
		}
		switch {
		case s[i] == ' ':
			if i == 0 {
				leadingSpace = true
			}
			if i+w == len(s) {
				trailingSpace = true
			}
			if previousBreak {
				breakSpace = true
			}
			previousSpace, previousBreak = true, false
		case isBreak(s, i):
			lineBreaks = true
			if i == 0 {
				leadingBreak = true
			}
			if i+w == len(s) {
				trailingBreak = true
			}
			if previousSpace {
				spaceBreak = true
			}
			previousSpace, previousBreak = false, true
		default:
			previousSpace, previousBreak = false, false
		}
		precededByWhitespace = isBlank(s[i]) || isBreak(s, i) || s[i] == 0
	}
	a := analysis{multiline: lineBreaks, blockPlainAllowed: true, singleQuotedAllowed: true, blockAllowed: true}
	if leadingSpace || leadingBreak || trailingSpace || trailingBreak {
		a.blockPlainAllowed = false
	}
	if trailingSpace {
		a.blockAllowed = false
	}
	if breakSpace {
		a.blockPlainAllowed, a.singleQuotedAllowed = false, false
	}
	if spaceBreak || specialCharacters {
		a.blockPlainAllowed, a.singleQuotedAllowed, a.blockAllowed = false, false, false
	}
	if lineBreaks || blockIndicators {
		a.blockPlainAllowed = false
	}
	return a
}

// stringStyle is the style go-yaml v2's encoder asks for a string: literal when it has a
// line feed, plain when YAML would read it plain as that string, else double-quoted.
func stringStyle(s string) scalarStyle {
	switch {
	case strings.IndexByte(s, '\n') >= 0:
		return literalStyle
	case readsAsString(s) && !isBase60Float(s):
		return plainStyle
	}
	return doubleQuotedStyle
}

var (
	// base60float is the YAML 1.1 sexagesimal float, which go-yaml v2 quotes.
	base60float = regexp.MustCompile(`^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`)
	// resolveWords are the plain scalars go-yaml v2 reads as booleans, null and special floats.
	resolveWords = map[string]bool{
		"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "true": true, "True": true, "TRUE": true,
		"on": true, "On": true, "ON": true, "n": true, "N": true, "no": true, "No": true, "NO": true,
		"false": true, "False": true, "FALSE": true, "off": true, "Off": true, "OFF": true,
		"": true, "~": true, "null": true, "Null": true, "NULL": true,
		".nan": true, ".NaN": true, ".NAN": true, ".inf": true, ".Inf": true, ".INF": true,
		"+.inf": true, "+.Inf": true, "+.INF": true, "-.inf": true, "-.Inf": true, "-.INF": true, "<<": true,
	}
)

// readsAsString reports whether go-yaml v2 reads s, written plain, as a string (resolve.go).
func readsAsString(s string) bool {
	var hint byte = 'N'
	if s != "" {
		switch c := s[0]; {
		case c == '+' || c == '-':
			hint = 'S'
		case c >= '0' && c <= '9':
			hint = 'D'
		case strings.IndexByte("yYnNtTfFoO~", c) >= 0:
			hint = 'M'
		case c == '.':
			hint = '.'
		default:
			return true
		}
	}
	if resolveWords[s] && s != "<<" {
		return false
	}
	switch hint {
	case '.':
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return false
		}
	case 'D', 'S':
		if parseTimestamp(s) {
			return false
		}
		plain := strings.ReplaceAll(s, "_", "")
		if intSyntax(plain) {
			if _, err := strconv.ParseInt(plain, 0, 64); err == nil {
				return false
			}
			if _, err := strconv.ParseUint(plain, 0, 64); err == nil {
				return false
			}
		}
		if floatSyntax(plain) {
			if _, err := strconv.ParseFloat(plain, 64); err == nil {
				return false
			}
		}
		if rest, ok := strings.CutPrefix(plain, "0b"); ok {
			if _, err := strconv.ParseInt(rest, 2, 64); err == nil {
				return false
			}
			if _, err := strconv.ParseUint(rest, 2, 64); err == nil {
				return false
			}
		} else if rest, ok := strings.CutPrefix(plain, "-0b"); ok {
			if _, err := strconv.ParseInt("-"+rest, 2, 64); err == nil {
				return false
			}
		}
	}
	return true
}

// intSyntax reports whether s has only characters a Go integer literal may have, so that
// strconv.ParseInt is worth calling (a version such as 1.2.3 is not).
func intSyntax(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c|0x20 >= 'a' && c|0x20 <= 'f', c|0x20 == 'x', c|0x20 == 'o', c == '+', c == '-':
		default:
			return false
		}
	}
	return true
}

// floatSyntax reports whether s is a float as go-yaml v2 writes the pattern
// ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ (resolve.go yamlStyleFloat).
func floatSyntax(s string) bool {
	i := 0
	digits := func() int {
		n := 0
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			n++
		}
		return n
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	} else {
		if digits() == 0 {
			return false
		}
		if i < len(s) && s[i] == '.' {
			i++
			digits()
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// timestampFormats are the timestamps go-yaml v2 reads from a plain scalar.
var timestampFormats = []string{
	"2006-1-2T15:4:5.999999999Z07:00",
	"2006-1-2t15:4:5.999999999Z07:00",
	"2006-1-2 15:4:5.999999999",
	"2006-1-2",
}

func parseTimestamp(s string) bool {
	i := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
	}
	if i != 4 || i == len(s) || s[i] != '-' {
		return false
	}
	for _, f := range timestampFormats {
		if _, err := time.Parse(f, s); err == nil {
			return true
		}
	}
	return false
}

func isBase60Float(s string) bool {
	if s == "" {
		return false
	}
	if c := s[0]; !(c == '+' || c == '-' || c >= '0' && c <= '9') || strings.IndexByte(s, ':') < 0 {
		return false
	}
	return base60float.MatchString(s)
}

// numberForm is how a JSON number comes out of go-yaml v2, which reads it as an int, a
// uint or a float: ok is false when it reads it as none (a float out of range), and the
// number is then a string.
func numberForm(n string) (string, bool) {
	if i, err := strconv.ParseInt(n, 0, 64); err == nil {
		return strconv.FormatInt(i, 10), true
	}
	if u, err := strconv.ParseUint(n, 0, 64); err == nil {
		return strconv.FormatUint(u, 10), true
	}
	if floatSyntax(n) {
		if f, err := strconv.ParseFloat(n, 64); err == nil {
			switch s := strconv.FormatFloat(f, 'g', -1, 64); s {
			case "+Inf":
				return ".inf", true
			case "-Inf":
				return "-.inf", true
			default:
				return s, true
			}
		}
	}
	return n, false
}

// sortedKeys returns m's keys in go-yaml v2's order ([sortKeys]).
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortKeys(keys)
	return keys
}

// sortKeys sorts distinct keys as go-yaml v2 sorts a mapping's keys (keyLess). That order
// is not transitive for some keys with leading zeros ("010" < "19" < "1a" < "010"), for which
// go-yaml's result depends on Go's random map order; here the keys are first put in byte
// order, so that the result depends only on the set of keys. Where go-yaml's order is one
// order, this is it.
func sortKeys(keys []string) {
	slices.Sort(keys)
	for _, k := range keys {
		if !byteOrdered(k) {
			slices.SortStableFunc(keys, compareKeys)
			return
		}
	}
}

// byteOrdered reports whether keyLess orders k among other such keys as byte order does: k
// has only ASCII letters and the punctuation below 'A' (no digits, no '_' or '~', which sort
// among the letters in bytes but before them in keyLess).
func byteOrdered(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i] | 0x20
		if !(c >= 'a' && c <= 'z' || k[i] >= 0x20 && k[i] < 'A' && (k[i] < '0' || k[i] > '9')) {
			return false
		}
	}
	return true
}

func compareKeys(a, b string) int {
	switch {
	case a == b:
		return 0
	case keyLess(a, b):
		return -1
	}
	return 1
}

// keyLess is go-yaml v2's keyList.Less for two strings (sorter.go): letters in code point
// order and after other characters, runs of digits by their value. ASCII keys, nearly all of
// them, are compared without converting them to runes.
func keyLess(a, b string) bool {
	if isASCII(a) && isASCII(b) {
		return keyLessOf([]byte(a), []byte(b))
	}
	return keyLessOf([]rune(a), []rune(b))
}

func keyLessOf[C byte | rune](ar, br []C) bool {
	for i := 0; i < len(ar) && i < len(br); i++ {
		if ar[i] == br[i] {
			continue
		}
		al, bl := unicode.IsLetter(rune(ar[i])), unicode.IsLetter(rune(br[i]))
		if al && bl {
			return ar[i] < br[i]
		}
		if al || bl {
			return bl
		}
		var ai, bi int
		var an, bn int64
		if ar[i] == '0' || br[i] == '0' {
			for j := i - 1; j >= 0 && unicode.IsDigit(rune(ar[j])); j-- {
				if ar[j] != '0' {
					an, bn = 1, 1
					break
				}
			}
		}
		for ai = i; ai < len(ar) && unicode.IsDigit(rune(ar[ai])); ai++ {
			an = an*10 + int64(ar[ai]-'0')
		}
		for bi = i; bi < len(br) && unicode.IsDigit(rune(br[bi])); bi++ {
			bn = bn*10 + int64(br[bi]-'0')
		}
		if an != bn {
			return an < bn
		}
		if ai != bi {
			return ai < bi
		}
		return ar[i] < br[i]
	}
	return len(ar) < len(br)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// width is the length of the UTF-8 sequence s[i] starts.
func width(c byte) int {
	switch {
	case c&0x80 == 0x00:
		return 1
	case c&0xE0 == 0xC0:
		return 2
	case c&0xF0 == 0xE0:
		return 3
	case c&0xF8 == 0xF0:
		return 4
	}
	return 1
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func isSpaceAt(s string, i int) bool { return i < len(s) && s[i] == ' ' }

// isBreak reports whether a line break starts at s[i]: CR, LF, NEL, LS or PS.
func isBreak(s string, i int) bool {
	switch s[i] {
	case '\r', '\n':
		return true
	case 0xC2:
		return i+1 < len(s) && s[i+1] == 0x85
	case 0xE2:
		return i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9)
	}
	return false
}

// isPrintable is go-yaml v2's is_printable: LF, printable ASCII, and the characters of
// U+00A0–U+FFFD other than surrogates, U+FEFF, U+FFFE and U+FFFF, judged by the first bytes
// of their UTF-8 encoding (so nothing beyond U+FFFF).
func isPrintable(s string, i int) bool {
	c := s[i]
	next := func(k int) byte {
		if i+k < len(s) {
			return s[i+k]
		}
		return 0
	}
	switch {
	case c == 0x0A, c >= 0x20 && c <= 0x7E:
		return true
	case c == 0xC2:
		return next(1) >= 0xA0
	case c > 0xC2 && c < 0xED, c == 0xEE:
		return true
	case c == 0xED:
		return next(1) < 0xA0
	case c == 0xEF:
		return !(next(1) == 0xBB && next(2) == 0xBF) && !(next(1) == 0xBF && (next(2) == 0xBE || next(2) == 0xBF))
	}
	return false
}

// escapeJSONForYAML escapes, in JSON that encoding/json wrote, the characters it leaves raw
// but YAML does not allow in a document: DEL, the C1 controls, U+FEFF, U+FFFE and U+FFFF
// (encoding/json already escapes C0 controls, U+2028 and U+2029). The JSON means the same,
// and is then YAML too, as parsers that read an index as YAML (helm before 3.13) need.
// Those bytes only occur inside strings, so they are replaced wherever they are.
func escapeJSONForYAML(j []byte) []byte {
	clean := true
	for _, c := range j {
		if c == 0x7F || c == 0xC2 || c == 0xEF {
			clean = false
			break
		}
	}
	if clean {
		return j
	}
	out := make([]byte, 0, len(j)+32)
	for i := 0; i < len(j); {
		r, size := utf8.DecodeRune(j[i:])
		if r == 0x7F || r >= 0x80 && r <= 0x9F || r == 0xFEFF || r == 0xFFFE || r == 0xFFFF {
			out = fmt.Appendf(out, `\u%04x`, r)
		} else {
			out = append(out, j[i:i+size]...)
		}
		i += size
	}
	return out
}
