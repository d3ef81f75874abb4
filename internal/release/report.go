package release

import (
	"cmp"
	"fmt"
	"slices"
)

// Severity is the SemVer bump a change requires.
type Severity int

// Severities, in increasing order.
const (
	None Severity = iota
	Patch
	Minor
	Major
)

var severityNames = [...]string{"none", "patch", "minor", "major"}

// String is "none", "patch", "minor" or "major".
func (s Severity) String() string {
	if s < None || s > Major {
		return fmt.Sprintf("Severity(%d)", int(s))
	}
	return severityNames[s]
}

// MarshalText writes the name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err == nil {
		*s = v
	}
	return err
}

// ParseSeverity reads "none", "patch", "minor" or "major".
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if n == s {
			return Severity(i), nil
		}
	}
	return None, fmt.Errorf("unknown severity %q: use none, patch, minor or major", s)
}

// Areas of a chart a [Change] is in.
const (
	AreaValues       = "values"
	AreaSchema       = "schema"
	AreaResources    = "resources"
	AreaTemplates    = "templates"
	AreaChart        = "chart"
	AreaKubeVersion  = "kubeVersion"
	AreaDependencies = "dependencies"
	AreaFiles        = "files"
)

// Change is one difference between the baseline and the chart.
type Change struct {
	// Severity is the bump this change requires.
	Severity Severity `json:"severity"`
	// Area is one of the Area* constants.
	Area string `json:"area"`
	// Path locates the change in its area: ".image.repository" (values and
	// schema), "Deployment/release-name-web" (resources), a file name, a
	// Chart.yaml field, a dependency name.
	Path string `json:"path"`
	// Message says what changed: "removed", "renamed to .image.name", ….
	Message string `json:"message"`
	// File is the chart-relative file the change is in ("values.yaml"),
	// in the changed chart when it still exists there; "" if none.
	File string `json:"file,omitempty"`
	// Line is the line in File, 0 if unknown.
	Line int `json:"line,omitempty"`
	// Cosmetic tells that the change is only in comments or formatting: the
	// content is the same (chartroom release publishes nothing for it).
	Cosmetic bool `json:"cosmetic,omitempty"`
}

// String is "area: path message", e.g. "values: .image.repository removed".
func (c Change) String() string {
	if c.Path == "" {
		return c.Area + ": " + c.Message
	}
	return c.Area + ": " + c.Path + " " + c.Message
}

// Problem levels.
const (
	LevelError   = "error"
	LevelWarning = "warning"
)

// Rules a [Problem] can break.
const (
	RuleVersionNotSemVer        = "version-not-semver"
	RuleVersionNotGreater       = "version-not-greater"
	RuleVersionUnchanged        = "version-unchanged"
	RuleBumpTooSmall            = "bump-too-small"
	RuleAppVersionWithoutBump   = "appversion-without-version"
	RuleFrozenAppVersion        = "frozen-appversion"
	RuleAppVersionTagMismatch   = "appversion-image-tag-mismatch"
	RuleLockOutOfSync           = "lock-out-of-sync"
	RuleRenderFailed            = "render-failed"
	RuleResourcesNotCompared    = "resources-not-compared"
	RuleDependencyNotVendored   = "dependency-not-vendored"
	RuleBaselineNotStrictSemVer = "baseline-not-semver"
)

// Problem is a discipline rule the chart breaks: an error fails the check,
// a warning does not (unless [Options.Strict] made it an error).
type Problem struct {
	// Level is [LevelError] or [LevelWarning].
	Level string `json:"level"`
	// Rule is one of the Rule* constants.
	Rule string `json:"rule"`
	// Message says what is wrong and what to do.
	Message string `json:"message"`
	// File and Line locate it in the changed chart, when known.
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

// Verdicts.
const (
	VerdictOK   = "ok"
	VerdictWarn = "warn"
	VerdictFail = "fail"
)

// Report is the result of [Check]. Its JSON form is chartroom check's
// --output json schema.
type Report struct {
	// Chart is the chart's name.
	Chart string `json:"chart"`
	// Current is the chart's version; Baseline the baseline's.
	Current  string `json:"current"`
	Baseline string `json:"baseline"`
	// Source says where the baseline came from (for people).
	Source string `json:"source,omitempty"`
	// Required is the bump the changes require (the highest severity).
	Required Severity `json:"required"`
	// Bump is the bump the current version makes over the baseline (none
	// when it is not greater, or not a version).
	Bump Severity `json:"bump"`
	// Suggested is the smallest valid version: the baseline bumped as
	// required (the baseline itself when nothing changed).
	Suggested string `json:"suggested"`
	// Verdict is ok, warn (warnings only) or fail.
	Verdict string `json:"verdict"`
	// Changes are every change, most severe first.
	Changes []Change `json:"changes"`
	// Problems are the broken rules, errors first.
	Problems []Problem `json:"problems"`
	// Notes say how the comparison was made (e.g. the Kubernetes version
	// rendered for).
	Notes []string `json:"notes,omitempty"`
	// FirstRelease tells that the chart has no published version: Baseline
	// is empty and nothing was compared ([CheckFirstRelease]).
	FirstRelease bool `json:"firstRelease,omitempty"`
}

// Failed reports whether the verdict is fail.
func (r *Report) Failed() bool { return r.Verdict == VerdictFail }

// finish sorts changes and problems and sets Required and Verdict.
func (r *Report) finish() {
	slices.SortStableFunc(r.Changes, func(a, b Change) int { return cmp.Compare(b.Severity, a.Severity) })
	slices.SortStableFunc(r.Problems, func(a, b Problem) int {
		return cmp.Compare(levelRank(a.Level), levelRank(b.Level))
	})
	r.Required = None
	for _, c := range r.Changes {
		r.Required = max(r.Required, c.Severity)
	}
	r.Verdict = VerdictOK
	for _, p := range r.Problems {
		if p.Level == LevelError {
			r.Verdict = VerdictFail
			break
		}
		r.Verdict = VerdictWarn
	}
	if r.Changes == nil {
		r.Changes = []Change{}
	}
	if r.Problems == nil {
		r.Problems = []Problem{}
	}
}

func levelRank(l string) int {
	if l == LevelError {
		return 0
	}
	return 1
}

// SameContent reports whether the chart holds the baseline's content: no
// change at all, or only in comments and formatting ([Change.Cosmetic]).
// Chart.yaml's version is not content.
func (r *Report) SameContent() bool {
	for _, c := range r.Changes {
		if !c.Cosmetic {
			return false
		}
	}
	return true
}

// ChangesAbove returns the changes more severe than s.
func (r *Report) ChangesAbove(s Severity) []Change {
	var out []Change
	for _, c := range r.Changes {
		if c.Severity > s {
			out = append(out, c)
		}
	}
	return out
}
