package repoindex

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Which form go-yaml v2 gives a scalar: what its content allows (analyze), what its encoder
// asks for (stringStyle: how YAML would read the string written plain), and the characters
// YAML treats specially.

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
