package chart

import (
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

func TestSortAndCompareVersions(t *testing.T) {
	vs := []string{"1.0.0", "bogus", "1.10.0", "1.2.0", "2.0.0-rc.1", "2.0.0", "1.0.0+b", "v3.0.0"}
	SortVersions(vs)
	want := []string{"2.0.0", "2.0.0-rc.1", "1.10.0", "1.2.0", "1.0.0", "1.0.0+b", "bogus", "v3.0.0"}
	if !slices.Equal(vs, want) {
		t.Errorf("got %v\nwant %v", vs, want)
	}
	if c, err := CompareVersions("1.2.3", "1.10.0"); err != nil || c != -1 {
		t.Errorf("CompareVersions = %d, %v", c, err)
	}
	if _, err := CompareVersions("1.2", "1.0.0"); err == nil {
		t.Error("CompareVersions accepted a non-strict version")
	}
}
