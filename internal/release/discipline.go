package release

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/chartroom/chartroom/internal/chart"

	"github.com/chartroom/chartroom/internal/termsafe"
)

// BumpOf returns the largest change going from version base to cur
// allows: Major for a new major version, Minor for a new minor version,
// Patch for a new patch version, None when cur is not greater. In 0.y.z
// (initial development, SemVer item 4) a minor bump allows breaking changes
// and a patch bump new features; from a prerelease to a later version of
// the same MAJOR.MINOR.PATCH anything goes.
func BumpOf(base, cur *semver.Version) Severity {
	if cur.Compare(base) <= 0 {
		return None
	}
	sameCore := cur.Major() == base.Major() && cur.Minor() == base.Minor() && cur.Patch() == base.Patch()
	switch {
	case base.Prerelease() != "" && sameCore:
		return Major
	case cur.Major() > base.Major():
		return Major
	case base.Major() == 0 && cur.Minor() > base.Minor():
		return Major
	case base.Major() == 0 && cur.Patch() > base.Patch():
		return Minor
	case cur.Minor() > base.Minor():
		return Minor
	case cur.Patch() > base.Patch():
		return Patch
	}
	return None
}

// NextVersion returns the smallest version after base that allows changes
// of severity req (see [BumpOf]); base itself for None.
func NextVersion(base *semver.Version, req Severity) *semver.Version {
	if req == None {
		return base
	}
	if base.Prerelease() != "" {
		next, err := base.SetPrerelease(nextPrerelease(base.Prerelease()))
		if err == nil {
			return &next
		}
	}
	var v semver.Version
	switch {
	case req == Major && base.Major() == 0:
		v = base.IncMinor()
	case base.Major() == 0:
		v = base.IncPatch()
	case req == Major:
		v = base.IncMajor()
	case req == Minor:
		v = base.IncMinor()
	default:
		v = base.IncPatch()
	}
	return &v
}

// nextPrerelease is the smallest-step successor of a prerelease: the
// last numeric identifier plus one ("rc.1" → "rc.2"), else ".1" appended.
func nextPrerelease(pre string) string {
	ids := strings.Split(pre, ".")
	if n, err := strconv.ParseUint(ids[len(ids)-1], 10, 64); err == nil {
		ids[len(ids)-1] = strconv.FormatUint(n+1, 10)
		return strings.Join(ids, ".")
	}
	return pre + ".1"
}

// discipline checks the version rules once r.Required is known.
func discipline(r *Report, base, cur *chart.Chart, lines lineIndex) error {
	vline := lines.exact([]string{"version"})
	problem := func(rule, msg string) {
		r.Problems = append(r.Problems, Problem{Level: LevelError, Rule: rule, Message: msg, File: chart.ChartfileName, Line: vline})
	}
	bv, err := semver.NewVersion(base.Metadata.Version)
	if err != nil {
		return fmt.Errorf("baseline version %q is not a version: %w", base.Metadata.Version, err)
	}
	next := NextVersion(bv, r.Required)
	r.Suggested = next.String()
	cv, err := chart.ParseVersion(cur.Metadata.Version)
	if err != nil {
		problem(RuleVersionNotSemVer, fmt.Sprintf("version: %v", err))
		return nil
	}
	r.Bump = BumpOf(bv, cv)
	appChanged := base.Metadata.AppVersion != cur.Metadata.AppVersion
	switch c := cv.Compare(bv); {
	case c == 0 && appChanged:
		problem(RuleAppVersionWithoutBump, fmt.Sprintf(
			"appVersion changed from %q to %q but version stayed %s: a published version never changes, and rollbacks to %s would deploy the new app: bump to %s",
			base.Metadata.AppVersion, cur.Metadata.AppVersion, cv, cv, next))
	case c == 0 && r.Required > None:
		problem(RuleVersionUnchanged, fmt.Sprintf("content changed but version %s did not: a published version never changes: bump to %s", cv, next))
	case c < 0:
		want := next
		if r.Required == None {
			want = bv
		}
		problem(RuleVersionNotGreater, fmt.Sprintf("version %s is lower than the published %s: use %s or later", cv, bv, want))
	case c > 0 && r.Bump < r.Required:
		var breaking []string
		for _, ch := range r.ChangesAbove(r.Bump) {
			// Made safe here: the message's own line breaks stay ([safeMessage]).
			breaking = append(breaking, termsafe.Text(ch.String()))
		}
		problem(RuleBumpTooSmall, fmt.Sprintf("version %s is a %s bump over %s, but the changes require a %s bump: bump to %s\n  %s",
			cv, bumpName(r.Bump), bv, r.Required, next, strings.Join(breaking, "\n  ")))
	}
	return nil
}

func bumpName(s Severity) string {
	if s == None {
		return "no"
	}
	return s.String()
}
