package chart

import (
	"fmt"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// ParseVersion parses a chart version as strict SemVer 2
// (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]). A leading "v" and missing
// MINOR or PATCH parts are refused with a hint, although Helm accepts them:
// OCI tags and index.yaml consumers need one canonical spelling.
func ParseVersion(s string) (*semver.Version, error) {
	v, err := semver.StrictNewVersion(s)
	if err == nil {
		return v, nil
	}
	hint := "use MAJOR.MINOR.PATCH, e.g. 1.2.3 or 1.2.3-rc.1"
	if strings.HasPrefix(s, "v") || strings.HasPrefix(s, "V") {
		if _, err2 := semver.StrictNewVersion(s[1:]); err2 == nil {
			hint = fmt.Sprintf("drop the leading v: %s", s[1:])
		}
	} else if lv, err2 := semver.NewVersion(s); err2 == nil {
		hint = fmt.Sprintf("write it as %s", lv.String())
	}
	return nil, fmt.Errorf("%q is not a strict SemVer 2 version: %s", s, hint)
}

// CompareVersions compares two chart versions by SemVer precedence
// (build metadata ignored): -1 if a < b, 0 if equal, +1 if a > b.
func CompareVersions(a, b string) (int, error) {
	va, err := ParseVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := ParseVersion(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}

// SortVersions sorts chart versions newest first, as index.yaml lists them.
// Versions that are not strict SemVer sort last, in string order. Equal
// precedence (differing only in build metadata) falls back to string order
// so the result is deterministic.
func SortVersions(versions []string) {
	parsed := make(map[string]*semver.Version, len(versions))
	for _, s := range versions {
		if v, err := semver.StrictNewVersion(s); err == nil {
			parsed[s] = v
		}
	}
	slices.SortStableFunc(versions, func(a, b string) int {
		va, vb := parsed[a], parsed[b]
		switch {
		case va == nil && vb == nil:
			return strings.Compare(a, b)
		case va == nil:
			return 1
		case vb == nil:
			return -1
		}
		if c := vb.Compare(va); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
}
