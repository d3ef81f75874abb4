package chart

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		hint string
	}{
		{"1.2.3", true, ""},
		{"0.0.0", true, ""},
		{"1.2.3-rc.1+build.7", true, ""},
		{"v1.2.3", false, "drop the leading v: 1.2.3"},
		{"1.2", false, "write it as 1.2.0"},
		{"01.2.3", false, "write it as 1.2.3"},
		{"latest", false, "MAJOR.MINOR.PATCH"},
		{"", false, "MAJOR.MINOR.PATCH"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseVersion(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), tc.hint) {
				t.Errorf("err = %v, want hint %q", err, tc.hint)
			}
		})
	}
}

// oldestFirst is a list of versions in the order VersionKey.Compare gives them.
var oldestFirst = []string{
	"bogus", "latest", // not versions for Helm: oldest, in byte order
	"0.9.0",
	"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",
	"1.0.0",
	"1.0.0+1", "1.0.0+2", "1.0.0+10", "1.0.0+010.a", "1.0.0+10.a", "1.0.0+a", "1.0.0+a.1", "1.0.0+b",
	"1.2", "1.2.0", "v1.2.0", // Helm reads these alike: by spelling
	"1.10.0", "2.0.0-rc.1+build.9", "2.0.0", "v3.0.0",
}

func TestVersionOrder(t *testing.T) {
	for i, a := range oldestFirst {
		for j, b := range oldestFirst {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := CompareVersions(a, b); got != want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
}

// SortVersions gives one result whatever order the versions come in, including versions
// that differ only in build metadata.
func TestSortVersionsIsTotal(t *testing.T) {
	want := slices.Clone(oldestFirst)
	slices.Reverse(want)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		vs := slices.Clone(oldestFirst)
		rng.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
		SortVersions(vs)
		if !slices.Equal(vs, want) {
			t.Fatalf("got %v\nwant %v", vs, want)
		}
	}
}
