package release

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"github.com/Masterminds/semver/v3"
)

// rangeCompare tells how the set of versions accepted by constraint
// changed relates to the set accepted by base (Masterminds semver syntax,
// as Helm checks kubeVersion: ||, comma/space AND, = != > < >= <= ~ ^,
// x-ranges and hyphen ranges; "" accepts every version).
//
// A constraint's set of accepted versions is a union of intervals whose
// ends are the versions written in it and their derived neighbours (^1.2
// ends before 2.0.0, ~1.2 before 1.3.0, 1.2.x before 1.3.0, >1.2 at 1.3.0,
// …); prereleases are accepted only where an AND group names one. So the
// two sets are compared exactly by probing every such end, the release
// versions around it and prereleases of each: "narrowed" lists probes
// that base accepted and changed refuses, "widened" the reverse.
func rangeCompare(base, changed string) (narrowed, widened []string, err error) {
	cb, err := constraint(base)
	if err != nil {
		return nil, nil, fmt.Errorf("baseline kubeVersion %q: %w", base, err)
	}
	cc, err := constraint(changed)
	if err != nil {
		return nil, nil, fmt.Errorf("kubeVersion %q: %w", changed, err)
	}
	for _, v := range probes(base + " " + changed) {
		a, b := cb == nil || cb.Check(v), cc == nil || cc.Check(v)
		switch {
		case a && !b:
			narrowed = append(narrowed, v.Original())
		case b && !a:
			widened = append(widened, v.Original())
		}
	}
	return narrowed, widened, nil
}

func constraint(s string) (*semver.Constraints, error) {
	if s == "" {
		return nil, nil
	}
	return semver.NewConstraint(s)
}

var versionToken = regexp.MustCompile(`v?(\d+)(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-([0-9A-Za-z.-]+))?`)

// probes lists the versions around every version written in s.
func probes(s string) []*semver.Version {
	type mmp struct{ M, m, p uint64 }
	cores := map[mmp]bool{{0, 0, 0}: true, {999, 0, 0}: true}
	var pres []string
	addAround := func(M, m, p uint64) {
		for _, c := range []mmp{
			{M, m, p}, {M, m, p + 1}, {M, m + 1, 0}, {M + 1, 0, 0},
		} {
			cores[c] = true
		}
		if p > 0 {
			cores[mmp{M, m, p - 1}] = true
		}
		if m > 0 {
			cores[mmp{M, m - 1, 999}] = true
		}
		if M > 0 {
			cores[mmp{M - 1, 999, 999}] = true
		}
	}
	for _, t := range versionToken.FindAllStringSubmatch(s, -1) {
		M, _ := strconv.ParseUint(t[1], 10, 64)
		m, _ := strconv.ParseUint(t[2], 10, 64) // "x", "*" and "" read as 0
		p, _ := strconv.ParseUint(t[3], 10, 64)
		addAround(M, m, p)
		if t[4] != "" {
			pres = append(pres, t[4])
		}
	}
	// Prereleases sort below their release: 0 is the lowest possible one,
	// "gke.100"-style vendor suffixes and those written in s fall between.
	pres = append(pres, "0", "gke.100", "zzz")
	var out []*semver.Version
	for c := range cores {
		core := fmt.Sprintf("%d.%d.%d", c.M, c.m, c.p)
		out = append(out, semver.MustParse(core))
		for _, pre := range pres {
			if v, err := semver.StrictNewVersion(core + "-" + pre); err == nil {
				out = append(out, v)
			}
		}
	}
	slices.SortFunc(out, func(a, b *semver.Version) int { return a.Compare(b) })
	return out
}

// compareKubeVersion classifies a kubeVersion change.
func compareKubeVersion(base, changed string, line int) []Change {
	if base == changed {
		return nil
	}
	ch := func(s Severity, msg string) []Change {
		return []Change{{Severity: s, Area: AreaKubeVersion, Path: "", Message: msg, File: "Chart.yaml", Line: line}}
	}
	narrowed, widened, err := rangeCompare(base, changed)
	if err != nil {
		return ch(Major, fmt.Sprintf("changed from %q to %q, which cannot be compared (%v)", base, changed, err))
	}
	show := func(s string) string {
		if s == "" {
			return "any"
		}
		return strconv.Quote(s)
	}
	switch {
	case len(narrowed) > 0:
		return ch(Major, fmt.Sprintf("narrowed from %s to %s: Kubernetes %s no longer accepted", show(base), show(changed), narrowed[0]))
	case len(widened) > 0:
		return ch(Patch, fmt.Sprintf("widened from %s to %s", show(base), show(changed)))
	}
	return ch(Patch, fmt.Sprintf("rewritten from %s to %s (same versions)", show(base), show(changed)))
}
