package repoindex

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"unicode/utf8"
)

// A small YAML emitter for index entries: decoded JSON (objects, arrays, strings, numbers,
// booleans, null) written as block YAML with sorted keys, the layout helm's own index has.
// It is about twenty times faster than converting through a generic YAML library, which
// matters when thousands of archives are indexed. Strings are written plain only when YAML
// cannot read them as anything but that string; otherwise double-quoted, with every
// character YAML forbids escaped (writeDoubleQuoted).

// maxSimpleKey is the longest key written as "key: value"; longer ones are written
// "? key\n: value" (go-yaml's emitter uses the same bound).
const maxSimpleKey = 128

// toYAML writes v at indent (in spaces) into b.
func toYAML(b *bytes.Buffer, v any, indent int) error {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var key bytes.Buffer
		for _, k := range keys {
			key.Reset()
			writeScalar(&key, k)
			pad(b, indent)
			if key.Len() > maxSimpleKey {
				// YAML reads an implicit key only within 1024 characters: write it explicit,
				// as go-yaml's emitter does past 128.
				b.WriteString("? ")
				b.Write(key.Bytes())
				b.WriteByte('\n')
				pad(b, indent)
			} else {
				b.Write(key.Bytes())
			}
			b.WriteByte(':')
			if err := writeValue(b, v[k], indent); err != nil {
				return err
			}
		}
	case []any:
		for _, item := range v {
			pad(b, indent)
			b.WriteString("- ")
			if m, ok := item.(map[string]any); ok && len(m) > 0 {
				// The first key shares the dash's line; the rest align under it.
				var sub bytes.Buffer
				if err := toYAML(&sub, m, indent+2); err != nil {
					return err
				}
				b.Write(sub.Bytes()[indent+2:])
				continue
			}
			if l, ok := item.([]any); ok && len(l) > 0 {
				b.WriteByte('\n')
				if err := toYAML(b, l, indent+2); err != nil {
					return err
				}
				continue
			}
			if err := writeInline(b, item); err != nil {
				return err
			}
			b.WriteByte('\n')
		}
	default:
		return fmt.Errorf("index entry: a %T cannot be written as a YAML block", v)
	}
	return nil
}

// writeValue writes what follows "key:" — an inline scalar, or a nested block.
func writeValue(b *bytes.Buffer, v any, indent int) error {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 0 {
			b.WriteString(" {}\n")
			return nil
		}
		b.WriteByte('\n')
		return toYAML(b, v, indent+2)
	case []any:
		if len(v) == 0 {
			b.WriteString(" []\n")
			return nil
		}
		b.WriteByte('\n')
		return toYAML(b, v, indent) // sequences under a key are not indented, as helm writes them
	}
	b.WriteByte(' ')
	if err := writeInline(b, v); err != nil {
		return err
	}
	b.WriteByte('\n')
	return nil
}

func writeInline(b *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case json.Number:
		b.WriteString(v.String())
	case string:
		writeScalar(b, v)
	case map[string]any:
		b.WriteString("{}")
	case []any:
		b.WriteString("[]")
	default:
		return fmt.Errorf("index entry: unexpected %T", v)
	}
	return nil
}

func pad(b *bytes.Buffer, n int) {
	for ; n > 0; n-- {
		b.WriteByte(' ')
	}
}

// writeScalar writes s plain when that is safe, else double-quoted.
func writeScalar(b *bytes.Buffer, s string) {
	if plainSafe(s) {
		b.WriteString(s)
		return
	}
	writeDoubleQuoted(b, s)
}

// writeDoubleQuoted writes s as a double-quoted YAML scalar that YAML 1.1 and 1.2 parsers
// (helm's go-yaml v2, yaml.v3) read back as exactly s. Characters YAML does not allow in a
// document (C0 controls, DEL, C1 controls, U+FEFF, U+FFFE, U+FFFF; a surrogate cannot be in
// a Go string) and those YAML 1.1 reads as line breaks (U+0085, U+2028, U+2029) are escaped,
// as go-yaml's emitter (helm repo index) escapes them: "\x7F", "\u2028". Bytes that are not
// UTF-8 are written as U+FFFD, as encoding/json does in the JSON form.
func writeDoubleQuoted(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\uFFFD`)
		case yamlPrintable(r):
			b.WriteRune(r)
		case r <= 0xFF:
			fmt.Fprintf(b, `\x%02X`, r)
		case r <= 0xFFFF:
			fmt.Fprintf(b, `\u%04X`, r)
		default:
			fmt.Fprintf(b, `\U%08X`, r)
		}
	}
	b.WriteByte('"')
}

// yamlPrintable reports whether r may stand unescaped inside a double-quoted scalar: YAML's
// printable set (c-printable) without the byte order mark and the characters YAML 1.1 reads
// as line breaks.
func yamlPrintable(r rune) bool {
	switch {
	case r >= 0x20 && r <= 0x7E:
		return true
	case r == 0x2028 || r == 0x2029 || r == 0xFEFF:
		return false
	case r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= utf8.MaxRune:
		return true
	}
	return false
}

// plainSafe reports whether s, written unquoted, reads back as exactly the string s in YAML
// 1.1 and 1.2: a letter or underscore first, then only letters, digits, space and ._/@+-=,
// no trailing space, and not one of the words YAML reads as booleans or null.
func plainSafe(s string) bool {
	if s == "" || s[len(s)-1] == ' ' {
		return false
	}
	c := s[0]
	if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == ' ' || c == '.' || c == '_' || c == '/' || c == '@' || c == '+' || c == '-' || c == '=':
		default:
			return false
		}
	}
	if len(s) <= 5 {
		switch s {
		case "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
			"true", "True", "TRUE", "false", "False", "FALSE",
			"on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL":
			return false
		}
	}
	return true
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
