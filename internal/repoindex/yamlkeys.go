package repoindex

import (
	"slices"
	"unicode"
	"unicode/utf8"
)

// The order go-yaml v2 writes mapping keys in, which is the order of index.yaml's chart names
// and of every mapping in an entry.

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
