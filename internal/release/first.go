package release

import (
	"errors"
	"fmt"

	"github.com/Masterminds/semver/v3"

	"github.com/chartroom/chartroom/internal/chart"
)

// ErrNoBaseline is wrapped by the errors of baselines that do not hold the chart at all
// (a git revision before the chart directory existed): the chart has no published version
// yet, and [CheckFirstRelease] checks it.
var ErrNoBaseline = errors.New("no published version")

// noBaselineError is a baseline without the chart; it is [ErrNoBaseline].
type noBaselineError struct{ msg string }

func (e *noBaselineError) Error() string        { return e.msg }
func (e *noBaselineError) Is(target error) bool { return target == ErrNoBaseline }

// firstVersion is the version suggested for a first release whose version is not one at all:
// the one `helm create` writes.
const firstVersion = "0.1.0"

// CheckFirstRelease checks a chart that has no published version, its first release. There
// is nothing to compare it with, so only the rules of the chart alone apply: its version is
// strict SemVer, Chart.lock matches Chart.yaml, appVersion equals the default image tag (a
// warning, an error with [Options.Strict]). why says where no version was found; it becomes
// the report's first note.
func CheckFirstRelease(cur *chart.Chart, opts Options, why string) (*Report, error) {
	keys := opts.ImageTagKeys
	if keys == nil {
		keys = DefaultImageTagKeys
	}
	if err := checkImageTagKeys(keys); err != nil {
		return nil, err
	}
	r := &Report{Chart: cur.Metadata.Name, Current: cur.Metadata.Version, Source: opts.Source, FirstRelease: true,
		Notes: []string{fmt.Sprintf("first release: %s, so there is nothing to compare with", why)}}
	r.Suggested = cur.Metadata.Version
	if _, err := chart.ParseVersion(cur.Metadata.Version); err != nil {
		r.Suggested = firstVersion
		if v, lerr := semver.NewVersion(cur.Metadata.Version); lerr == nil {
			r.Suggested = v.String()
		}
		r.Problems = append(r.Problems, Problem{Level: LevelError, Rule: RuleVersionNotSemVer, Message: fmt.Sprintf("version: %v", err),
			File: chart.ChartfileName, Line: indexLines(cur.ChartYAML()).exact([]string{"version"})})
	}
	lockRule(r, cur)
	cvals, err := parseValues(cur.Values())
	if err != nil {
		return nil, fmt.Errorf("values.yaml: %w", err)
	}
	appVersionRules(r, nil, cvals, nil, cur, keys, opts.Strict)
	r.finish()
	return r, nil
}
