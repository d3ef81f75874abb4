package termsafe

import (
	"testing"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "myapp-1.4.2.tgz", "myapp-1.4.2.tgz"},
		{"unicode kept", "café ✓ 日本", "café ✓ 日本"},
		{"backslash kept", `C:\charts\x.tgz`, `C:\charts\x.tgz`},
		{"line rewrite", "sha256:abc\r\x1b[2Kall good", `sha256:abc\r\x1b[2Kall good`},
		{"workflow command", "x\n::error file=a::owned", `x\n::error file=a::owned`},
		{"tab, NUL, DEL", "a\tb\x00c\x7f", `a\tb\x00c\x7f`},
		{"C1 CSI", "a\u009b2Kb", `a\u009b2Kb`},
		{"bidi override", "good\u202edab.yaml", `good\u202edab.yaml`},
		{"bidi isolates and marks", "\u2066\u2067\u2068\u2069\u200e\u200f\u061c", `\u2066\u2067\u2068\u2069\u200e\u200f\u061c`},
		{"line separators", "a\u2028b\u2029c", `a\u2028b\u2029c`},
		{"invalid UTF-8", "a\xffb\xc3", `a\xffb\xc3`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Text(tc.in)
			if got != tc.want {
				t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if Safe(tc.in) != (tc.in == tc.want) {
				t.Errorf("Safe(%q) = %v", tc.in, Safe(tc.in))
			}
			if !Safe(got) || !utf8.ValidString(got) {
				t.Errorf("Text(%q) = %q is not safe itself", tc.in, got)
			}
		})
	}
}

func TestLines(t *testing.T) {
	in := "bump to 2.0.0\n  values: .a\x1b[31m removed\n  files: x\r.yaml"
	want := "bump to 2.0.0\n  values: .a\\x1b[31m removed\n  files: x\\r.yaml"
	if got := Lines(in); got != want {
		t.Errorf("Lines = %q, want %q", got, want)
	}
	if got := Lines("one\ntwo"); got != "one\ntwo" {
		t.Errorf("Lines changed safe text: %q", got)
	}
}

// Every byte string comes out printable: no control, C1 or bidi character survives.
func FuzzText(f *testing.F) {
	f.Add("a\x1b[2K\r\n\u202e\xff")
	f.Fuzz(func(t *testing.T, s string) {
		got := Text(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Text(%q) = %q is not UTF-8", s, got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f || unsafeRune(r) {
				t.Fatalf("Text(%q) = %q keeps %U", s, got, r)
			}
		}
		if Safe(s) && got != s {
			t.Fatalf("Text changed safe %q to %q", s, got)
		}
	})
}
