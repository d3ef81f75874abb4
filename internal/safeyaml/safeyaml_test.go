package safeyaml

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// bomb is the audit's document: one anchored string of size bytes and n aliases to it.
func bomb(size, n int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "a: &a %q\nb:\n", strings.Repeat("x", size))
	for i := 0; i < n; i++ {
		b.WriteString("- *a\n")
	}
	return []byte(b.String())
}

// laughs is the classic nested form: each level aliases the previous one ten times.
func laughs(levels int) []byte {
	var b strings.Builder
	b.WriteString("l0: &l0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	return []byte(b.String())
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		doc     []byte
		refused bool
	}{
		{"no anchors", []byte("a: 1\nb: [x, y]\n"), false},
		{"ampersand in a string only", []byte("a: 'x & y'\n"), false},
		{"a few reused blocks", []byte("base: &base {cpu: 100m, memory: 128Mi}\na: *base\nb: *base\nc: {<<: *base, cpu: 1}\n"), false},
		{"1 MiB string aliased 3000 times", bomb(1<<20, 3000), true},
		{"1 MiB string aliased twice", bomb(1<<20, 2), false},
		{"billion laughs, 9 levels", laughs(9), true},
		{"laughs, 1 level", laughs(1), false},
		{"second document is the bomb", append([]byte("a: 1\n---\n"), bomb(1<<20, 3000)...), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.doc)
			if tc.refused {
				if !errors.Is(err, ErrExpansion) {
					t.Fatalf("Check = %v, want an expansion error", err)
				}
				if !strings.Contains(err.Error(), "anchors and aliases") {
					t.Errorf("message %q does not say what to change", err)
				}
				var v any
				if err := Unmarshal(tc.doc, &v); !errors.Is(err, ErrExpansion) {
					t.Fatalf("Unmarshal = %v, want an expansion error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Check = %v, want nil", err)
			}
			var v any
			if err := Unmarshal(tc.doc, &v); err != nil {
				t.Fatalf("Unmarshal = %v", err)
			}
		})
	}
}

func TestCheckCycle(t *testing.T) {
	if err := Check([]byte("a: &a [1, *a]\n")); err == nil || !strings.Contains(err.Error(), "expand forever") {
		t.Fatalf("Check = %v, want a cycle refusal", err)
	}
}
