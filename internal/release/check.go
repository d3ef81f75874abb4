package release

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/Masterminds/semver/v3"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/render"
)

// Options tune [Check]. The zero value checks as `chartroom check` does
// without flags.
type Options struct {
	// Source says where the baseline came from, for the report.
	Source string
	// Strict turns the frozen-appVersion warnings into errors.
	Strict bool
	// ImageTagKeys are the values keys holding the default image tag
	// (dotted globs, "**" for any depth); nil means [DefaultImageTagKeys].
	ImageTagKeys []string
	// KubeVersion is the Kubernetes version both charts are rendered for;
	// "" means Helm's default, or the nearest v1.N.0 both charts'
	// kubeVersion accept when the default is outside one of them.
	KubeVersion string
	// Values are merged over both charts' defaults before rendering
	// (`helm template -f`), for charts that need values to render.
	Values map[string]any
	// SkipSchemaValidation renders without validating values against
	// values.schema.json.
	SkipSchemaValidation bool
}

// Check compares cur (the chart being released) with base (the last
// published version) and checks the release discipline. The returned
// error is for inputs that cannot be compared at all; everything the
// chart does wrong is in the report.
func Check(ctx context.Context, base, cur *chart.Chart, opts Options) (*Report, error) {
	keys := opts.ImageTagKeys
	if keys == nil {
		keys = DefaultImageTagKeys
	}
	if err := checkImageTagKeys(keys); err != nil {
		return nil, err
	}
	r := &Report{Chart: cur.Metadata.Name, Current: cur.Metadata.Version, Baseline: base.Metadata.Version, Source: opts.Source}
	lines := indexLines(cur.ChartYAML())

	r.Changes = append(r.Changes, diffMetadata(base, cur, lines)...)
	r.Changes = append(r.Changes, diffFiles(base, cur)...)

	bvals, err := parseValues(base.Values())
	if err != nil {
		return nil, fmt.Errorf("baseline values.yaml: %w", err)
	}
	cvals, err := parseValues(cur.Values())
	if err != nil {
		return nil, fmt.Errorf("values.yaml: %w", err)
	}
	if !bytes.Equal(base.Values(), cur.Values()) {
		vc := diffValues(bvals, cvals, base.Values(), cur.Values())
		if len(vc) == 0 {
			vc = []Change{{Severity: Patch, Area: AreaValues, Message: "values.yaml changed (comments or formatting only)", File: chart.ValuesfileName, Cosmetic: true}}
		}
		r.Changes = append(r.Changes, vc...)
	}
	if !bytes.Equal(base.Schema(), cur.Schema()) {
		sc, err := diffSchema(base.Schema(), cur.Schema())
		if err != nil {
			r.Problems = append(r.Problems, Problem{Level: LevelError, Rule: RuleRenderFailed, Message: err.Error(), File: chart.SchemafileName})
		}
		r.Changes = append(r.Changes, sc...)
	}

	if err := compareRendered(ctx, r, base, cur, opts); err != nil {
		return nil, err
	}
	lockRule(r, cur)

	r.finish() // Required, from the changes
	if err := discipline(r, base, cur, lines); err != nil {
		return nil, err
	}
	appVersionRules(r, bvals, cvals, base, cur, keys, opts.Strict)
	r.finish()
	return r, nil
}

// lockRule checks that the chart's lock file matches Chart.yaml's dependencies.
func lockRule(r *Report, cur *chart.Chart) {
	if err := chart.CheckLock(cur.Metadata, cur.Lock); err != nil {
		var le *chart.LockError
		file := chart.LockfileName
		if errors.As(err, &le) {
			file = le.File
		}
		r.Problems = append(r.Problems, Problem{Level: LevelError, Rule: RuleLockOutOfSync, Message: err.Error(), File: file})
	}
}

// compareRendered renders both charts (concurrently) and compares their
// resources; rendering failures become problems.
func compareRendered(ctx context.Context, r *Report, base, cur *chart.Chart, opts Options) error {
	kv, note := pickKubeVersion(opts.KubeVersion, base.Metadata.KubeVersion, cur.Metadata.KubeVersion)
	if note != "" {
		r.Notes = append(r.Notes, note)
	}
	ropts := func(v string) render.Options {
		return render.Options{KubeVersion: v, Values: cloneValues(opts.Values), SkipSchemaValidation: opts.SkipSchemaValidation}
	}
	var (
		wg           sync.WaitGroup
		bres, cres   *render.Result
		berr, cerr   error
		bctx, cancel = context.WithCancel(ctx)
	)
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		bres, berr = render.Render(bctx, base, ropts(kv[0]))
	}()
	cres, cerr = render.Render(ctx, cur, ropts(kv[1]))
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	switch {
	case errors.Is(cerr, render.ErrUnavailable):
		r.Problems = append(r.Problems, Problem{Level: LevelWarning, Rule: RuleResourcesNotCompared,
			Message: "resources not compared: " + cerr.Error()})
	case berr == nil && cerr == nil:
		r.Changes = append(r.Changes, diffResources(bres, cres, base, cur)...)
		r.Notes = append(r.Notes, fmt.Sprintf("resources: helm template with default values, Kubernetes %s: %d in the baseline, %d now", cres.KubeVersion, len(bres.Resources)+len(bres.CRDs), len(cres.Resources)+len(cres.CRDs)))
	case berr != nil && cerr != nil:
		r.Problems = append(r.Problems, Problem{Level: LevelWarning, Rule: RuleResourcesNotCompared,
			Message: fmt.Sprintf("resources not compared: neither chart renders with default values (pass the values they need with --values): %v", cerr)})
	case cerr != nil:
		r.Problems = append(r.Problems, Problem{Level: LevelError, Rule: RuleRenderFailed,
			Message: fmt.Sprintf("helm template with default values fails, and it worked for %s: %v", base.Metadata.Version, cerr)})
	default:
		r.Problems = append(r.Problems, Problem{Level: LevelWarning, Rule: RuleResourcesNotCompared,
			Message: fmt.Sprintf("resources not compared: the baseline does not render with default values: %v", berr)})
	}
	for _, missing := range missingSubcharts(cur) {
		r.Problems = append(r.Problems, Problem{Level: LevelWarning, Rule: RuleDependencyNotVendored, File: chart.ChartfileName,
			Message: fmt.Sprintf("dependency %s is not in charts/: its resources were not rendered; run `chartroom dependency build` first", missing)})
	}
	return nil
}

// missingSubcharts lists dependencies with no chart of that name in charts/.
func missingSubcharts(ch *chart.Chart) []string {
	have := map[string]bool{}
	for _, d := range ch.Dependencies {
		if d.Metadata != nil {
			have[d.Metadata.Name] = true
		}
	}
	var out []string
	for _, d := range ch.Metadata.Dependencies {
		if d != nil && !have[d.Name] {
			out = append(out, d.Name)
		}
	}
	return out
}

func cloneValues(v map[string]any) map[string]any {
	if v == nil {
		return nil
	}
	out := make(map[string]any, len(v))
	for k, x := range v {
		if m, ok := x.(map[string]any); ok {
			x = cloneValues(m)
		}
		out[k] = x
	}
	return out
}

// pickKubeVersion chooses the Kubernetes version to render each chart
// for: the one asked for, else Helm's default when both charts accept it,
// else the v1.N.0 nearest the default that both (or each) accept.
func pickKubeVersion(asked, baseConstraint, curConstraint string) ([2]string, string) {
	if asked != "" {
		return [2]string{asked, asked}, ""
	}
	def := render.DefaultKubeVersion()
	accepts := func(c, v string) bool {
		if c == "" {
			return true
		}
		cs, err := semver.NewConstraint(c)
		sv, err2 := semver.NewVersion(v)
		return err == nil && err2 == nil && cs.Check(sv)
	}
	if accepts(baseConstraint, def) && accepts(curConstraint, def) {
		return [2]string{def, def}, ""
	}
	dv, _ := semver.NewVersion(def)
	nearest := func(ok func(string) bool) string {
		for d := 0; d <= 60; d++ {
			for _, m := range []int64{int64(dv.Minor()) + int64(d), int64(dv.Minor()) - int64(d)} {
				if m < 0 {
					continue
				}
				v := fmt.Sprintf("v1.%d.0", m)
				if ok(v) {
					return v
				}
			}
		}
		return def
	}
	both := nearest(func(v string) bool { return accepts(baseConstraint, v) && accepts(curConstraint, v) })
	if accepts(baseConstraint, both) && accepts(curConstraint, both) {
		return [2]string{both, both}, fmt.Sprintf("rendered for Kubernetes %s: a kubeVersion constraint excludes Helm's default %s (choose with --kube-version)", both, def)
	}
	b := nearest(func(v string) bool { return accepts(baseConstraint, v) })
	c := nearest(func(v string) bool { return accepts(curConstraint, v) })
	return [2]string{b, c}, fmt.Sprintf("rendered the baseline for Kubernetes %s and the chart for %s: their kubeVersion constraints share no version", b, c)
}

// appVersionRules checks that appVersion moves with the default image tag. base is nil for
// a first release: appVersion must then equal the tag.
func appVersionRules(r *Report, bvals, cvals map[string]any, base, cur *chart.Chart, keys []string, strict bool) {
	level := LevelWarning
	if strict {
		level = LevelError
	}
	lines := indexLines(cur.Values())
	ctag, ok := findImageTag(cvals, keys, lines)
	if !ok || ctag.value == "" {
		return // no tag, or the chart's templates default it to appVersion
	}
	var btag imageTag
	bok := false
	if base != nil {
		btag, bok = findImageTag(bvals, keys, indexLines(base.Values()))
	}
	app := cur.Metadata.AppVersion
	switch {
	case bok && btag.value != ctag.value && base.Metadata.AppVersion == app:
		r.Problems = append(r.Problems, Problem{Level: level, Rule: RuleFrozenAppVersion, File: chart.ValuesfileName, Line: ctag.line,
			Message: fmt.Sprintf("frozen appVersion: the default image tag %s changed from %q to %q but appVersion stayed %q: set appVersion to %q",
				valuesPath(ctag.segs), btag.value, ctag.value, app, strings.TrimPrefix(ctag.value, "v"))})
	case !sameVersion(ctag.value, app):
		r.Problems = append(r.Problems, Problem{Level: level, Rule: RuleAppVersionTagMismatch, File: chart.ValuesfileName, Line: ctag.line,
			Message: fmt.Sprintf("appVersion %q differs from the default image tag %s %q: make them equal (or leave the tag empty and default it to .Chart.AppVersion in templates)",
				app, valuesPath(ctag.segs), ctag.value)})
	}
}
