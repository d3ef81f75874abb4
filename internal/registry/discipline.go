package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/release"
)

// DefaultReleaseCheckTimeout bounds the semver discipline's analysis of one publish when
// Options.ReleaseCheckTimeout is zero. `chartroom check` of a 200-template chart with a
// 5,000-line values.yaml takes under 2 s (bench/check); this leaves room for a busy server.
const DefaultReleaseCheckTimeout = 20 * time.Second

// applyPolicies holds a chart version on its way in (c, of chart in, whose archive open
// reads) to its namespace's policies: the .prov's signature is checked against the keys the
// namespace trusts (refused when invalid in a signed-only namespace), and the semver
// discipline (warn or enforce) compares the version with the highest one published below it.
// Without policies and without a .prov it costs one read of the namespace's policies.
func (r *Registry) applyPolicies(ctx context.Context, in *chartIn, c *meta.ChartVersion, open func() (io.ReadCloser, error)) error {
	p, err := r.policy(ctx, c.Namespace)
	if err != nil {
		return fmt.Errorf("publish %s %s: %w", c.Name, c.Version, err)
	}
	if in.prov != nil {
		st, err := r.provStatus(ctx, c.Namespace, p, in.prov)
		if err != nil {
			return fmt.Errorf("publish %s %s: %w", c.Name, c.Version, err)
		}
		if p.SignedOnly && st.Status != SignatureValid {
			return chartInvalid("%s accepts only charts signed by a key it trusts (policy signed-only), and %s does not qualify: %s", namespaceLabel(c.Namespace), in.provName, st.Error)
		}
		c.Prov = st.metaStatus()
	}
	if p.SemverDiscipline != DisciplineWarn && p.SemverDiscipline != DisciplineEnforce {
		return nil
	}
	finding, err := r.checkDiscipline(ctx, c, open)
	if errors.Is(err, ErrTooLarge) && p.SemverDiscipline == DisciplineWarn {
		finding, err = "not checked: "+err.Error(), nil
	}
	if err != nil {
		return err
	}
	if finding != "" && p.SemverDiscipline == DisciplineEnforce {
		return fmt.Errorf("%w: %s (semver discipline enforce in %s)", ErrBumpTooSmall, finding, namespaceLabel(c.Namespace))
	}
	c.ReleaseFinding = finding
	return nil
}

// checkDiscipline runs chartroom check's analysis (internal/release) of chart version c
// against the highest version of the chart published below it, and returns what is wrong
// with its bump ("" when nothing, when it is the first version, or when it is already
// published with these bytes). The analysis renders both charts (Options.Render): it waits
// for one of the registry's validation slots and is bounded by Options.ReleaseCheckTimeout.
func (r *Registry) checkDiscipline(ctx context.Context, c *meta.ChartVersion, open func() (io.ReadCloser, error)) (string, error) {
	cur, err := semver.StrictNewVersion(c.Version)
	if err != nil {
		return "", nil // the chart rules refused it already; nothing to compare
	}
	rows, _, err := r.db.ChartVersions(ctx, c.Namespace, c.Name, true)
	if err != nil {
		return "", fmt.Errorf("publish %s %s: %w", c.Name, c.Version, err)
	}
	var base *meta.ChartVersion
	var baseVersion *semver.Version
	for i := range rows {
		v, err := semver.NewVersion(rows[i].Version)
		if err != nil {
			continue
		}
		if rows[i].Version == c.Version && rows[i].ChartDigest == c.ChartDigest {
			return "", nil // published already: this push changes nothing
		}
		if v.LessThan(cur) && (baseVersion == nil || v.GreaterThan(baseVersion)) {
			base, baseVersion = &rows[i], v
		}
	}
	if base == nil {
		return "", nil
	}
	select {
	case r.validations <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("check the release of %s %s: waiting for a validation slot: %w", c.Name, c.Version, context.Cause(ctx))
	}
	defer func() { <-r.validations }()
	timeout := r.opts.ReleaseCheckTimeout
	actx, cancel := context.WithTimeoutCause(ctx, timeout, errReleaseCheckTimeout)
	defer cancel()

	baseArchive, err := readArchive(func() (io.ReadCloser, error) {
		rc, _, err := r.OpenBlob(actx, base.Repository, base.ChartDigest, 0)
		return rc, err
	})
	if err == nil {
		_, err = chart.ValidateArchive(bytes.NewReader(baseArchive), chart.Limits{})
	}
	if err != nil {
		return "", fmt.Errorf("check the release of %s %s: load %s: %w", c.Name, c.Version, base.Version, err)
	}
	curArchive, err := readArchive(open)
	if err != nil {
		return "", err
	}
	if _, err := chart.ValidateArchive(bytes.NewReader(curArchive), chart.Limits{}); err != nil {
		return "", chartInvalid("%v", err)
	}
	rep, err := r.opts.Render.Check(actx, baseArchive, curArchive, release.Options{Source: "published " + base.Version})
	if errors.Is(context.Cause(actx), errReleaseCheckTimeout) {
		return "", fmt.Errorf("%w: the semver discipline's analysis of %s %s against %s takes more than %s; make the chart smaller, or ask an admin to set the namespace's discipline to warn or off",
			ErrTooLarge, c.Name, c.Version, base.Version, timeout)
	}
	if errors.Is(err, ErrTooLarge) {
		// Stopped by the renderer's memory limit.
		return "", fmt.Errorf("the semver discipline's analysis of %s %s against %s: %w; make the chart's templates use less memory, or ask an admin to set the namespace's discipline to warn or off",
			c.Name, c.Version, base.Version, err)
	}
	if err != nil {
		// The charts cannot be compared at all (a baseline that is not a version): nothing
		// the publisher can fix by bumping.
		r.log.Warn("semver discipline: charts not compared", "chart", c.Name, "version", c.Version, "baseline", base.Version, "error", err)
		return "", nil
	}
	for _, pr := range rep.Problems {
		if pr.Rule == release.RuleBumpTooSmall {
			return fmt.Sprintf("%s %s: %s", c.Name, c.Version, strings.ReplaceAll(pr.Message, "\n  ", "; ")), nil
		}
	}
	return "", nil
}

var errReleaseCheckTimeout = errors.New("the release check took too long")
