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

// VersionKey is a chart version parsed once for ordering ([VersionKey.Compare]), so that
// sorting many versions, or sorting again, does not parse them again.
type VersionKey struct {
	s string
	v *semver.Version // nil when Helm cannot read s as a version
}

// KeyOf parses a chart version for ordering, with Helm's reading of versions
// (semver.NewVersion: "v1.2" and "1.2" are versions there).
func KeyOf(version string) VersionKey {
	v, err := semver.NewVersion(version)
	if err != nil {
		v = nil
	}
	return VersionKey{s: version, v: v}
}

// String is the version as written.
func (k VersionKey) String() string { return k.s }

// Compare places chart versions in the one order chartroom sorts them by everywhere
// (index.yaml, version lists, picking the newest): -1 if k is older than o, +1 if newer, 0
// only for the same string. The order is total, so every sort of the same versions gives
// the same result, whatever order they came in:
//
//  1. versions Helm cannot read as SemVer are older than all others, in byte order;
//  2. SemVer precedence (a prerelease is older than its release; build metadata ignored);
//  3. build metadata: none is older than any, then identifier by identifier as SemVer
//     compares prereleases (numeric identifiers by value and older than alphanumeric ones,
//     which compare in byte order; a prefix is older): 1.0.0 < 1.0.0+a < 1.0.0+b < 1.0.0+b.1;
//  4. the spelling, in byte order, for versions Helm reads alike ("1.2" < "1.2.0" < "v1.2.0").
//
// Where two entries can share a version (a static repository with the same chart in two
// directories), their digest comes next (see internal/repoindex).
func (k VersionKey) Compare(o VersionKey) int {
	switch {
	case k.s == o.s:
		return 0
	case k.v == nil && o.v == nil:
		return strings.Compare(k.s, o.s)
	case k.v == nil:
		return -1
	case o.v == nil:
		return 1
	}
	if c := k.v.Compare(o.v); c != 0 {
		return c
	}
	if c := compareBuild(k.v.Metadata(), o.v.Metadata()); c != 0 {
		return c
	}
	return strings.Compare(k.s, o.s)
}

// CompareVersions is [VersionKey.Compare] of two version strings.
func CompareVersions(a, b string) int { return KeyOf(a).Compare(KeyOf(b)) }

// compareBuild orders build metadata: none first, then dot-separated identifiers compared
// as SemVer 2 (item 11) compares prerelease identifiers.
func compareBuild(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return -1
	case b == "":
		return 1
	}
	for a != "" && b != "" {
		var x, y string
		x, a, _ = strings.Cut(a, ".")
		y, b, _ = strings.Cut(b, ".")
		if c := compareIdentifier(x, y); c != 0 {
			return c
		}
	}
	switch {
	case a == b:
		return 0
	case a == "":
		return -1
	}
	return 1
}

// compareIdentifier compares two identifiers: numeric ones by value (leading zeros, which
// build metadata allows, do not count) and before alphanumeric ones, those in byte order.
func compareIdentifier(x, y string) int {
	xn, yn := isDigits(x), isDigits(y)
	switch {
	case xn && yn:
		x, y = strings.TrimLeft(x, "0"), strings.TrimLeft(y, "0")
		if c := len(x) - len(y); c != 0 {
			return max(-1, min(1, c))
		}
		return strings.Compare(x, y)
	case xn:
		return -1
	case yn:
		return 1
	}
	return strings.Compare(x, y)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// SortVersions sorts chart versions newest first, as index.yaml lists them: the reverse of
// [VersionKey.Compare].
func SortVersions(versions []string) {
	keys := make([]VersionKey, len(versions))
	for i, s := range versions {
		keys[i] = KeyOf(s)
	}
	slices.SortFunc(keys, func(a, b VersionKey) int { return b.Compare(a) })
	for i, k := range keys {
		versions[i] = k.s
	}
}
