// Package semverbump raises a chart version as the semver tools do (npm semver's inc,
// semver-tool): the arithmetic of `chartroom bump`.
package semverbump

import (
	"cmp"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/chartroom/chartroom/internal/chart"
)

// Kind is the part of a version a bump raises.
type Kind string

// The kinds of bump.
const (
	Major      Kind = "major"
	Minor      Kind = "minor"
	Patch      Kind = "patch"
	Prerelease Kind = "prerelease"
)

// DefaultPreid is the identifier a prerelease bump starts a prerelease with when none is
// given.
const DefaultPreid = "rc"

var preidRE = regexp.MustCompile(`^[0-9A-Za-z-]+$`)

// ValidPreid reports whether id can be a prerelease identifier: letters, digits and '-'.
func ValidPreid(id string) bool { return preidRE.MatchString(id) }

// Bump returns v raised as kind says, build metadata dropped:
//
//	major       1.4.2 → 2.0.0        2.0.0-rc.1 → 2.0.0 (releases the prerelease)
//	minor       1.4.2 → 1.5.0        1.5.0-rc.1 → 1.5.0
//	patch       1.4.2 → 1.4.3        1.4.3-rc.1 → 1.4.3
//	prerelease  1.4.2 → 1.4.3-rc.0   1.5.0-rc.1 → 1.5.0-rc.2, 1.5.0-beta → 1.5.0-beta.0
//
// preid is the prerelease identifier of a prerelease bump: "" means [DefaultPreid] for a new
// prerelease and keeps an existing prerelease's own ("1.5.0-beta.1" → "1.5.0-beta.2"); a
// given one replaces a different one ("1.5.0-rc.1" with "beta" → "1.5.0-beta.0"). The result
// is strict SemVer, or an error says why it cannot be.
func Bump(v *semver.Version, kind Kind, preid string) (string, error) {
	maj, mnr, pat, pre := v.Major(), v.Minor(), v.Patch(), v.Prerelease()
	switch kind {
	case Major:
		if pre == "" || mnr != 0 || pat != 0 {
			maj, mnr, pat = maj+1, 0, 0
		}
		pre = ""
	case Minor:
		if pre == "" || pat != 0 {
			mnr, pat = mnr+1, 0
		}
		pre = ""
	case Patch:
		if pre == "" {
			pat++
		}
		pre = ""
	case Prerelease:
		ids := strings.Split(pre, ".")
		switch {
		case pre == "":
			pat++
			pre = cmp.Or(preid, DefaultPreid) + ".0"
		case preid != "" && ids[0] != preid:
			pre = preid + ".0"
		default:
			i := len(ids) - 1
			for ; i >= 0; i-- {
				if isNumeric(ids[i]) {
					break
				}
			}
			if i < 0 {
				pre += ".0"
				break
			}
			n, err := strconv.ParseUint(ids[i], 10, 64)
			if err != nil || n == ^uint64(0) {
				return "", fmt.Errorf("prerelease number %q cannot be raised", ids[i])
			}
			ids[i] = strconv.FormatUint(n+1, 10)
			pre = strings.Join(ids, ".")
		}
	default:
		return "", fmt.Errorf("bump %q: say which part to raise: major, minor, patch or prerelease", kind)
	}
	s := fmt.Sprintf("%d.%d.%d", maj, mnr, pat)
	if pre != "" {
		s += "-" + pre
	}
	if _, err := chart.ParseVersion(s); err != nil {
		return "", err
	}
	return s, nil
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// LowerWarning says why a bump from old to the version next is a trap when next sorts below
// old (a prerelease bump to another identifier: 1.5.1-rc.1 → 1.5.1-beta.0, since SemVer
// compares identifiers as text and "beta" < "rc"), and "" otherwise. Consumers that take the
// highest version (helm install --devel, version ranges) would keep picking old.
func LowerWarning(old *semver.Version, next string) string {
	nv, err := semver.StrictNewVersion(next)
	if err != nil || !nv.LessThan(old) {
		return ""
	}
	return fmt.Sprintf("%s sorts lower than %s (SemVer compares prerelease identifiers as text: %q < %q), so tools that pick the highest version (helm install --devel, version ranges) keep choosing %s: use an identifier that sorts after %q, or bump patch, minor or major",
		next, old.Original(), firstIdent(nv.Prerelease()), firstIdent(old.Prerelease()), old.Original(), firstIdent(old.Prerelease()))
}

func firstIdent(pre string) string {
	id, _, _ := strings.Cut(pre, ".")
	return id
}
