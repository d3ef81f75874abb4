package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/spf13/cobra"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/client"
	"github.com/chartroom/chartroom/internal/release"
	"github.com/chartroom/chartroom/internal/semverbump"
)

// releaser releases charts one by one, with what every chart shares: the client, the
// unlocked keys, the comparison options.
type releaser struct {
	c      *cobra.Command
	ctx    context.Context
	stop   context.CancelFunc
	f      *releaseFlags
	cr     creds
	cl     *client.Client
	signer *signer // nil without --key/--keyring
	cosign cosignSigning
	opts   release.Options
	mtime  time.Time
}

// newReleaser checks and loads everything a release needs before anything is written: the
// keys are unlocked here, so that a wrong passphrase stops the release before it starts.
func newReleaser(c *cobra.Command, f *releaseFlags) (*releaser, error) {
	r := &releaser{c: c, f: f}
	var err error
	if r.opts, err = f.rules.options(); err != nil {
		return nil, err
	}
	if r.mtime, err = sourceDateEpoch(); err != nil {
		return nil, err
	}
	if f.key.changed(c) {
		if r.signer, err = f.key.load(c); err != nil {
			return nil, toolErr(err)
		}
	}
	if f.cosignKey != "" {
		if r.cosign, err = loadCosignSigning(c, f.cosignKey, f.to); err != nil {
			return nil, err
		}
	}
	if r.cr, err = f.client.credentials(c); err != nil {
		return nil, err
	}
	if r.cl, err = f.client.newClient(c, r.cr); err != nil {
		return nil, err
	}
	r.ctx, r.stop = interruptible(c)
	return r, nil
}

func (r *releaser) close() { r.stop() }

// published is a version of the chart found in --to.
type published struct {
	chart *chart.Chart
	pull  *client.PullResult
}

// release runs the steps for one chart directory.
func (r *releaser) release(dir string, res *releaseResult) error {
	tmp, cleanup, err := releaseTemp()
	if err != nil {
		return err
	}
	defer cleanup()
	cur, err := release.LoadChartDir(r.ctx, dir, chart.Limits{})
	if err != nil {
		return fmt.Errorf("release %s: %w", dir, err)
	}
	md := cur.Metadata
	res.Name, res.Version = md.Name, md.Version
	if r.f.appVersion != "" {
		md.AppVersion = r.f.appVersion // compared as it will be released
	}
	ref, err := chartRefIn(r.cl, r.f.to, md.Name)
	if err != nil {
		return err
	}

	// check: against the newest published release, and the version Chart.yaml names (which
	// may be published below it, or be a prerelease).
	base, err := r.fetch(ref, "", filepath.Join(tmp, "newest"))
	if err != nil {
		return err
	}
	var rep *release.Report
	opts := r.opts
	if base != nil {
		opts.Source = base.pull.Source
		if rep, err = release.Check(r.ctx, base.chart, cur, opts); err != nil {
			return fmt.Errorf("check %s: %w", dir, err)
		}
		if rep.SameContent() {
			r.step(res, "check: the same content as %s %s", md.Name, base.chart.Metadata.Version)
			return r.published(base, ref, res)
		}
	}
	if base == nil || base.chart.Metadata.Version != md.Version {
		same, err := r.fetch(ref, md.Version, filepath.Join(tmp, "same"))
		if err != nil {
			return err
		}
		if same != nil {
			srep, err := release.Check(r.ctx, same.chart, cur, opts)
			if err != nil {
				return fmt.Errorf("check %s: %w", dir, err)
			}
			if srep.SameContent() {
				r.step(res, "check: the same content as %s %s", md.Name, md.Version)
				return r.published(same, ref, res)
			}
		}
	}
	if base == nil {
		opts.Source = r.f.to
		rep, err = release.CheckFirstRelease(cur, opts, r.f.to+" has no published version")
		if err != nil {
			return fmt.Errorf("check %s: %w", dir, err)
		}
		r.step(res, "check: first release (%s has no release version of %s)", r.f.to, md.Name)
	} else {
		r.step(res, "check: %d change(s) since %s, %s bump required", len(rep.Changes), rep.Baseline, rep.Required)
	}

	// bump: the version to release.
	version, err := r.version(cur, base, rep, opts)
	if err != nil {
		return err
	}
	res.Version = version
	if err := r.writeVersion(dir, md.Name, version, res); err != nil {
		return err
	}

	// lock --check, offline.
	file, err := r.cl.CheckLock(r.ctx, dir)
	var le *chart.LockError
	switch {
	case errors.As(err, &le):
		return checkFailed("%s is out of sync with Chart.yaml: %s: run `chartroom lock %s` and commit it", file, oneLine(le), dir)
	case err != nil:
		return clientError(err)
	case file == "":
		r.step(res, "lock --check: no dependencies")
	default:
		r.step(res, "lock --check: %s matches Chart.yaml", file)
	}

	// package, reproducibly, into the temporary directory.
	popts := chart.PackageOptions{ModTime: r.mtime}
	if r.f.dryRun {
		popts.Version, popts.AppVersion = version, r.f.appVersion // Chart.yaml was left as it is
	}
	archive, _, err := chart.PackageToDir(r.ctx, dir, filepath.Join(tmp, "dist"), popts)
	if err != nil {
		return packageError(dir, err)
	}
	digest, err := fileDigest(archive)
	if err != nil {
		return err
	}
	res.Digest = "sha256:" + digest
	r.step(res, "package %s (%s)", filepath.Base(archive), res.Digest)

	// sign the .prov before the push: the archive and its .prov arrive together.
	if r.signer != nil {
		sr, err := r.signer.signFile(r.c, archive)
		if err != nil {
			return err
		}
		r.step(res, "sign %s.prov by %s (%s)", filepath.Base(archive), sr.Signer, sr.Fingerprint)
		res.Signatures = append(res.Signatures, releaseSignature{Kind: "prov", Signer: sr.Signer, Fingerprint: sr.Fingerprint, Added: true})
	}

	if r.f.dryRun {
		r.step(res, "push %s to %s", filepath.Base(archive), r.f.to)
		if r.cosign != nil {
			r.step(res, "sign %s %s with the cosign key", md.Name, version)
		}
		r.step(res, "pull %s %s back and verify it", md.Name, version)
		res.Status, res.Where = statusWouldRelease, r.f.to
		return nil
	}
	pushed, err := r.cl.Push(r.ctx, archive, r.f.to)
	if err != nil {
		return clientError(err)
	}
	res.Where, res.ManifestDigest = pushed.Ref, pushed.ManifestDigest
	if pushed.ManifestDigest != "" {
		res.Where = "oci://" + pushed.Ref // as pull names it
	}
	r.step(res, "push %s", res.Where)
	if err := r.cosignSign(ref, version, res); err != nil {
		return err
	}
	if err := r.verify(ref, version, res); err != nil {
		return err
	}
	res.Status = statusReleased
	return nil
}

// fetch downloads version ("" for the newest release) of ref into dir; nil when --to has
// no such version.
func (r *releaser) fetch(ref client.ChartRef, version, dir string) (*published, error) {
	ch, pr, err := pullChart(r.ctx, r.cl, ref, version, dir)
	if errors.Is(err, client.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &published{chart: ch, pull: pr}, nil
}

// version is the version to release: Chart.yaml's when the check accepts it, else the one
// --bump gives (which the check must accept).
func (r *releaser) version(cur *chart.Chart, base *published, rep *release.Report, opts release.Options) (string, error) {
	md := cur.Metadata
	for _, p := range rep.Problems {
		if p.Level == release.LevelError && !isVersionRule(p.Rule) {
			return "", checkFailed("check %s %s: %s", md.Name, md.Version, checkSummary(rep))
		}
	}
	if !versionProblem(rep) {
		return md.Version, nil
	}
	since := "its first release"
	if base != nil {
		since = fmt.Sprintf("%d change(s) since %s require a %s bump", len(rep.Changes), rep.Baseline, rep.Required)
	}
	switch r.f.bump {
	case "":
		return "", checkFailed("%s %s cannot be released: %s; %s: set version %s in Chart.yaml (chartroom bump auto), or pass --bump auto",
			md.Name, md.Version, since, checkSummary(rep), rep.Suggested)
	case "auto":
		return rep.Suggested, nil
	}
	from := md.Version
	if base != nil {
		from = base.chart.Metadata.Version
	}
	v, err := chart.ParseVersion(from)
	if err != nil {
		return "", checkFailed("--bump %s: %s: %w; pass --bump auto", r.f.bump, from, err)
	}
	to, err := semverbump.Bump(v, semverbump.Kind(r.f.bump), "")
	if err != nil {
		return "", fmt.Errorf("--bump %s: %w", r.f.bump, err)
	}
	// The check decides whether the bump is enough, as for a version written by hand.
	again := *cur
	amd := *md
	amd.Version = to
	again.Metadata = &amd
	var arep *release.Report
	if base == nil {
		arep, err = release.CheckFirstRelease(&again, opts, "")
	} else {
		arep, err = release.Check(r.ctx, base.chart, &again, opts)
	}
	if err != nil {
		return "", err
	}
	if versionProblem(arep) {
		return "", checkFailed("%s: --bump %s gives %s, which is not enough: %s; pass --bump auto (%s)", md.Name, r.f.bump, to, checkSummary(arep), rep.Suggested)
	}
	return to, nil
}

// writeVersion writes the version (and --app-version) into Chart.yaml, as chartroom bump
// does, when they differ from it; with --dry-run it only says so.
func (r *releaser) writeVersion(dir, name, version string, res *releaseResult) error {
	raw, err := os.ReadFile(filepath.Join(dir, chart.ChartfileName))
	if err != nil {
		return fmt.Errorf("release %s: %w", dir, unwrapPathError(err))
	}
	fields, err := topLevelScalars(raw)
	if err != nil {
		return fmt.Errorf("release: %s", positioned(dir, err))
	}
	value := func(k string) string {
		if n := fields[k]; n != nil {
			return n.Value
		}
		return ""
	}
	oldVersion, oldApp := value("version"), value("appVersion")
	setApp := r.f.appVersion != "" && r.f.appVersion != oldApp
	if version == oldVersion && !setApp {
		r.step(res, "bump: %s %s is the version to release", name, version)
		return nil
	}
	what := fmt.Sprintf("%s → %s", oldVersion, version)
	if setApp {
		what += fmt.Sprintf(" (appVersion %s → %s)", orNone(oldApp), r.f.appVersion)
	}
	file := filepath.Join(dir, chart.ChartfileName)
	if r.f.dryRun {
		r.step(res, "bump %s %s: would write %s", name, what, file)
		return nil
	}
	if _, err := bumpChart(r.c, dir, "", "", r.f.appVersion, setApp, version); err != nil {
		return err
	}
	r.step(res, "bump %s %s: wrote %s", name, what, file)
	return nil
}

// published finishes a chart whose content is already published as p: it adds the .prov
// asked for when p has none, and verifies.
func (r *releaser) published(p *published, ref client.ChartRef, res *releaseResult) error {
	md := p.chart.Metadata
	res.Version, res.Digest, res.Where, res.ManifestDigest = md.Version, p.pull.Digest, p.pull.Source, p.pull.ManifestDigest
	res.Status = statusPublished
	if r.signer != nil && p.pull.ProvPath == "" {
		// Sign the published archive's own bytes, and attach the .prov to the version.
		sr, err := r.signer.signFile(r.c, p.pull.Path)
		if err != nil {
			return err
		}
		res.Signatures = append(res.Signatures, releaseSignature{Kind: "prov", Signer: sr.Signer, Fingerprint: sr.Fingerprint, Added: true})
		if r.f.dryRun {
			r.step(res, "add the .prov by %s to %s %s", sr.Signer, md.Name, md.Version)
			res.Status = statusWouldSign
			return nil
		}
		prov, err := os.ReadFile(sr.Prov)
		if err != nil {
			return err
		}
		if err := r.cl.AttachProvenance(r.ctx, prov, r.f.to); err != nil {
			return clientError(err)
		}
		r.step(res, "add the .prov by %s to %s %s", sr.Signer, md.Name, md.Version)
		res.Status = statusSignatureAdded
	}
	if r.cosign != nil {
		if r.f.dryRun {
			r.step(res, "cosign sign %s %s (nothing is added when the key signed it already)", md.Name, md.Version)
			return nil
		}
		if err := r.cosignSign(ref, md.Version, res); err != nil {
			return err
		}
		for _, s := range res.Signatures {
			if s.Kind == "cosign" && s.Added {
				res.Status = statusSignatureAdded
			}
		}
	}
	return r.verify(ref, md.Version, res)
}

// verify pulls the version back with a client of its own (nothing cached) and checks it is
// what was released: the digest, and the .prov by the signing key. It records the
// signatures found.
func (r *releaser) verify(ref client.ChartRef, version string, res *releaseResult) error {
	cl, err := r.f.client.newClient(r.c, r.cr)
	if err != nil {
		return err
	}
	ref, err = chartRefIn(cl, r.f.to, ref.Name)
	if err != nil {
		return err
	}
	tmp, cleanup, err := releaseTemp()
	if err != nil {
		return err
	}
	defer cleanup()
	opts := client.PullOptions{Version: version, DestDir: tmp}
	if r.signer != nil {
		opts.Verify = keyringVerifier(openpgp.EntityList{r.signer.entity})
	}
	pr, err := cl.Pull(r.ctx, ref, opts)
	if err != nil {
		return clientError(err)
	}
	if res.Digest != "" && pr.Digest != res.Digest {
		return checkFailed("%s %s in %s is %s, not the archive released (%s): a published version never changes; bump the version", res.Name, version, r.f.to, pr.Digest, res.Digest)
	}
	res.Digest = pr.Digest
	if pr.ManifestDigest != "" {
		res.ManifestDigest = pr.ManifestDigest
	}
	if r.signer == nil && pr.ProvPath != "" && !hasSignature(res, "prov") {
		res.Signatures = append(res.Signatures, releaseSignature{Kind: "prov", Signer: "(not verified: give --key/--keyring to check it)"})
	}
	if r.signer != nil && !hasSignature(res, "prov") {
		res.Signatures = append(res.Signatures, releaseSignature{Kind: "prov", Signer: pr.SignedBy, Fingerprint: fmt.Sprintf("%X", r.signer.entity.PrimaryKey.Fingerprint)})
	}
	msg := "pull back: " + pr.Digest + " as released"
	if pr.Verified {
		msg += ", .prov verified (signed by " + pr.SignedBy + ")"
	}
	r.step(res, "%s", msg)
	if r.cosign != nil {
		sigs, err := r.cosign.Verify(r.ctx, cl, ref, version)
		if err != nil {
			return err
		}
		for _, s := range sigs {
			if !hasSignature(res, s.Kind) {
				res.Signatures = append(res.Signatures, s)
			}
		}
		r.step(res, "cosign signature verified")
	}
	return nil
}

// cosignSign signs the published version with the cosign key, when one was given.
func (r *releaser) cosignSign(ref client.ChartRef, version string, res *releaseResult) error {
	if r.cosign == nil {
		return nil
	}
	sigs, err := r.cosign.Sign(r.ctx, r.cl, ref, version)
	if err != nil {
		return err
	}
	res.Signatures = append(res.Signatures, sigs...)
	r.step(res, "cosign sign %s %s", ref.Name, version)
	return nil
}

func hasSignature(res *releaseResult, kind string) bool {
	for _, s := range res.Signatures {
		if s.Kind == kind {
			return true
		}
	}
	return false
}
