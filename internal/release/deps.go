package release

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/chartroom/chartroom/internal/chart"
)

// depKey names a dependency as its values and templates see it: the alias
// if any, else the name.
func depKey(d *chart.Dependency) string {
	if d.Alias != "" {
		return d.Alias
	}
	return d.Name
}

// lockedVersion returns the version Chart.lock resolved for d, "" if none.
func lockedVersion(lock *chart.Lock, d *chart.Dependency) string {
	if lock == nil {
		return ""
	}
	for _, l := range lock.Dependencies {
		if l != nil && l.Name == d.Name && l.Repository == d.Repository {
			return l.Version
		}
	}
	return ""
}

// depMajor is the major version a dependency resolves to: the locked
// version's, else the lowest version its constraint allows. ok is false
// when neither says.
func depMajor(lock *chart.Lock, d *chart.Dependency) (major uint64, from string, ok bool) {
	if lv := lockedVersion(lock, d); lv != "" {
		if v, err := semver.NewVersion(lv); err == nil {
			return v.Major(), lv, true
		}
	}
	if t := versionToken.FindStringSubmatch(d.Version); t != nil {
		if m, err := strconv.ParseUint(t[1], 10, 64); err == nil {
			return m, d.Version, true
		}
	}
	return 0, "", false
}

// diffDependencies compares Chart.yaml dependencies (and the versions
// Chart.lock resolved for them). lines is the changed Chart.yaml's index.
func diffDependencies(base, cur *chart.Chart, lines lineIndex) []Change {
	var out []Change
	bdeps := map[string]*chart.Dependency{}
	for _, d := range base.Metadata.Dependencies {
		if d != nil {
			bdeps[depKey(d)] = d
		}
	}
	seen := map[string]bool{}
	add := func(s Severity, key, msg string, idx int) {
		line := 0
		if idx >= 0 {
			line = lines.exact([]string{"dependencies", strconv.Itoa(idx)})
		}
		if line == 0 {
			line = lines.exact([]string{"dependencies"})
		}
		out = append(out, Change{Severity: s, Area: AreaDependencies, Path: key, Message: msg, File: "Chart.yaml", Line: line})
	}
	for i, d := range cur.Metadata.Dependencies {
		if d == nil {
			continue
		}
		key := depKey(d)
		seen[key] = true
		b, ok := bdeps[key]
		if !ok {
			if d.Condition != "" || len(d.Tags) > 0 {
				add(Minor, key, fmt.Sprintf("optional dependency added (%s %s, enabled by %s)", d.Name, d.Version, enabler(d)), i)
			} else {
				add(Minor, key, fmt.Sprintf("dependency added (%s %s, always enabled)", d.Name, d.Version), i)
			}
			continue
		}
		bm, bfrom, bok := depMajor(base.Lock, b)
		cm, cfrom, cok := depMajor(cur.Lock, d)
		switch {
		case bok && cok && cm > bm:
			add(Major, key, fmt.Sprintf("major version raised from %s to %s", bfrom, cfrom), i)
		case bok && cok && cm < bm:
			add(Major, key, fmt.Sprintf("major version lowered from %s to %s", bfrom, cfrom), i)
		case b.Version != d.Version:
			add(Patch, key, fmt.Sprintf("version changed from %q to %q", b.Version, d.Version), i)
		case lockedVersion(base.Lock, b) != lockedVersion(cur.Lock, d):
			add(Patch, key, fmt.Sprintf("locked version changed from %s to %s", lockedVersion(base.Lock, b), lockedVersion(cur.Lock, d)), i)
		}
		if b.Name != d.Name {
			add(Major, key, fmt.Sprintf("now a different chart: %s instead of %s", d.Name, b.Name), i)
		}
		if b.Repository != d.Repository {
			add(Patch, key, fmt.Sprintf("repository changed from %q to %q", b.Repository, d.Repository), i)
		}
		if b.Condition != d.Condition || !reflect.DeepEqual(b.Tags, d.Tags) {
			add(Patch, key, fmt.Sprintf("enabled by %s instead of %s", enabler(d), enabler(b)), i)
		}
		if !reflect.DeepEqual(b.ImportValues, d.ImportValues) {
			add(Patch, key, "import-values changed", i)
		}
	}
	for _, d := range base.Metadata.Dependencies {
		if d != nil && !seen[depKey(d)] {
			add(Major, depKey(d), fmt.Sprintf("dependency removed (%s %s)", d.Name, d.Version), -1)
		}
	}
	return out
}

func enabler(d *chart.Dependency) string {
	var parts []string
	if d.Condition != "" {
		parts = append(parts, "condition "+d.Condition)
	}
	if len(d.Tags) > 0 {
		parts = append(parts, "tags "+strings.Join(d.Tags, ","))
	}
	if len(parts) == 0 {
		return "nothing (always enabled)"
	}
	return strings.Join(parts, " and ")
}
