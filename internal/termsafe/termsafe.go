// Package termsafe makes text that others wrote — a registry's error bodies, index.yaml
// fields, names inside chart archives and git trees — safe to print on a terminal or in a
// CI log.
//
// Printed raw, such text can drive the terminal (ESC sequences that move the cursor, erase
// or rewrite a line), reorder what the reader sees (Unicode bidirectional controls, the
// "Trojan Source" trick), or start a new line that a CI runner reads as one of its
// commands (a GitHub Actions "::error …" workflow command). [Text] replaces every such
// character with a visible escape, so the reader sees exactly which bytes arrived.
//
// Use it on each foreign string where text output is composed, not on a whole composed
// message: the message's own line breaks are the program's, a foreign one is escaped.
// JSON output needs nothing: the encoder escapes control characters itself.
package termsafe

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Text returns s with every character that is not safe to print replaced by a visible
// escape, and s itself when there is none:
//
//   - C0 controls and DEL: \n, \r and \t as such, the others as \x1b;
//   - C1 controls (U+0080–U+009F), the line and paragraph separators (U+2028, U+2029) and
//     the bidirectional controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) as
//     \u202e;
//   - bytes that are not UTF-8 as \xff.
//
// Other characters, backslashes included, are kept: Text makes text harmless, not
// reversible.
func Text(s string) string {
	i := unsafeIndex(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Lines applies [Text] to each line of s and keeps the line breaks: for a message whose
// line structure is the program's own and whose foreign parts were already made safe, or
// that is foreign but meant to be read as lines. A carriage return is escaped.
func Lines(s string) string {
	if unsafeIndex(s) < 0 {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Text(l)
	}
	return strings.Join(lines, "\n")
}

// Safe reports whether s prints as itself ([Text] would return it unchanged).
func Safe(s string) bool { return unsafeIndex(s) < 0 }

// unsafeIndex is the byte index of the first character Text escapes, or -1.
func unsafeIndex(s string) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || unsafeRune(r) {
			return i
		}
		i += size
	}
	return -1
}

// unsafeRune reports the non-ASCII characters Text escapes: C1 controls, line and paragraph
// separators, and bidirectional formatting characters.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r == 0x2028, r == 0x2029:
		return true
	case r >= 0x202a && r <= 0x202e:
		return true
	case r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}
