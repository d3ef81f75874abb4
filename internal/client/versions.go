package client

import (
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// pickVersion selects from versions (newest first) the one want names, as helm pull does:
// a version written exactly as published wins; otherwise the newest version satisfying want
// as a constraint ("^1.2", "~1.4.0", ">=2 <3"); "" means the newest version that is not a
// prerelease. ok is false when none matches.
func pickVersion(versions []string, want string) (picked string, ok bool, err error) {
	var c *semver.Constraints
	if want == "" {
		c, _ = semver.NewConstraint("*")
	} else {
		for _, v := range versions {
			if v == want {
				return v, true, nil
			}
		}
		if c, err = semver.NewConstraint(want); err != nil {
			return "", false, fmt.Errorf("--version %q is neither a version nor a constraint such as ^1.2 or ~1.4.0", want)
		}
	}
	for _, v := range versions {
		sv, err := semver.NewVersion(v)
		if err != nil {
			continue
		}
		if c.Check(sv) {
			return v, true, nil
		}
	}
	return "", false, nil
}

// noVersion explains that no version of name matches want at where.
func noVersion(name, want, where string, versions []string) string {
	what := fmt.Sprintf("version %s", want)
	if want == "" {
		what = "release (non-prerelease) version"
	} else if _, err := semver.StrictNewVersion(want); err != nil {
		what = fmt.Sprintf("version matching %q", want)
	}
	if len(versions) == 0 {
		return fmt.Sprintf("%s has no chart %s: check the name, or push it first", where, name)
	}
	shown := versions
	if len(shown) > 5 {
		shown = shown[:5]
	}
	more := ""
	if len(versions) > len(shown) {
		more = fmt.Sprintf(" (and %d older)", len(versions)-len(shown))
	}
	hint := "pass one of them with --version"
	if want == "" {
		hint = "pass a prerelease with --version, e.g. --version " + versions[0]
	}
	return fmt.Sprintf("%s in %s has no %s; it has %s%s: %s", name, where, what, strings.Join(shown, ", "), more, hint)
}
