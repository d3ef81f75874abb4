package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/provenance"
)

// The rules a chart version passes, whichever protocol brings it: OCI (PutManifest) and the
// classic upload API (PublishChart) both call admitChart before they read the archive, then
// loadChart, then checkChart, so that a rule added here holds for both.

// DefaultMaxChartSize bounds a chart archive when Options.MaxChartSize is zero.
const DefaultMaxChartSize = 20 << 20

// MaxProvSize bounds a provenance file (a .prov made by helm package --sign is a few KB).
const MaxProvSize = 1 << 20

// chartInvalid is a chart refused for its content: ErrChartInvalid with what is wrong.
func chartInvalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrChartInvalid}, args...)...)
}

// admitChart is what is refused before a chart archive is read: a reserved namespace, an
// archive of more than MaxChartSize bytes, a provenance file (provName, of provSize bytes; -1
// without one) of more than MaxProvSize.
func (r *Registry) admitChart(ns string, size int64, provName string, provSize int64) error {
	if err := CheckChartNamespace(ns); err != nil {
		return err
	}
	if size > r.opts.MaxChartSize {
		return r.chartTooLarge(size)
	}
	return checkProvSize(provName, provSize)
}

// chartTooLarge refuses a chart archive of size bytes (-1: unknown, more than MaxChartSize).
func (r *Registry) chartTooLarge(size int64) error {
	has := fmt.Sprintf("has %d bytes, more than the %d", size, r.opts.MaxChartSize)
	if size < 0 {
		has = fmt.Sprintf("has more than the %d bytes", r.opts.MaxChartSize)
	}
	return fmt.Errorf("%w: the chart archive %s a chart may have (--max-chart-size); package a smaller chart or raise the limit", ErrTooLarge, has)
}

// loadChart reads a chart archive with chart.ValidateArchive (streaming: only the few files
// validation reads are held), once one of the registry's validation slots is free:
// decompression is CPU work, so as many run at once as there are CPUs and the others wait
// (or give up with ctx). An archive validation refuses is ErrChartInvalid, its message
// prefixed with prefix; other errors are the stream's or ctx's.
func (r *Registry) loadChart(ctx context.Context, archive io.Reader, prefix string) (*chart.Metadata, error) {
	select {
	case r.validations <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("validate chart archive: waiting for a validation slot: %w", context.Cause(ctx))
	}
	defer func() { <-r.validations }()
	v, err := chart.ValidateArchive(archive, chart.Limits{})
	if errors.Is(err, chart.ErrInvalidArchive) {
		return nil, chartInvalid("%s%v", prefix, err)
	}
	if err != nil {
		return nil, err
	}
	return v.Metadata, nil
}

// chartIn is a chart version on its way in, its archive loaded.
type chartIn struct {
	repo string
	// md is the archive's Chart.yaml; archive and size its digest and length.
	md      *chart.Metadata
	archive digest.Digest
	size    int64
	// prov is the provenance file (nil without one), stored as blob provDigest; provName
	// names it in messages.
	prov       []byte
	provDigest digest.Digest
	provName   string
	// config is the chart config (Chart.yaml as JSON) an OCI client pushed; nil when the
	// registry makes it from md.
	config []byte
	actor  string
	// created is when the version was made, as its manifest's
	// org.opencontainers.image.created annotation says (see [manifestCreated]); zero means
	// now, its arrival.
	created time.Time
}

// checkChart holds the rules on a loaded chart and returns the chart version to store, its
// metadata and index entries taken from the archive.
func (r *Registry) checkChart(in *chartIn) (*meta.ChartVersion, error) {
	ns, name := SplitRepository(in.repo)
	md := in.md
	if err := ValidateName(in.repo); err != nil {
		return nil, chartInvalid("chart name %q cannot be a repository name: %v", md.Name, err)
	}
	if md.Name != name {
		return nil, chartInvalid("chart %q pushed to repository %s: the last part of the repository must be the chart's name (push to %s)", md.Name, in.repo, joinRepository(ns, md.Name))
	}
	if in.archive.Algorithm() != digest.SHA256 {
		return nil, chartInvalid("the chart archive's digest is %s; chart archives are addressed by sha256 (chart repository indexes name them so)", in.archive.Algorithm())
	}
	if in.created.IsZero() {
		in.created = time.Now().UTC()
	}
	c := &meta.ChartVersion{
		Repository:  in.repo,
		Namespace:   ns,
		Name:        md.Name,
		Version:     md.Version,
		ChartDigest: in.archive,
		ChartSize:   in.size,
		Created:     in.created,
		PushedBy:    in.actor,
	}
	if !in.created.IsZero() {
		c.Created = in.created.UTC()
	}
	// What the index and `helm show chart` say comes from the archive's Chart.yaml; a config
	// that says otherwise is refused, naming the field.
	if err := renderEntries(c, md); err != nil {
		return nil, chartInvalid("the archive's Chart.yaml: %v", err)
	}
	if in.config != nil {
		if err := compareChartConfig(in.config, c.Metadata); err != nil {
			return nil, err
		}
	}
	if in.prov != nil {
		if err := checkProv(in.prov, md.Name, md.Version, in.archive); err != nil {
			return nil, chartInvalid("%s is not a valid .prov of the chart archive %s (%s-%s.tgz): %v", in.provName, in.archive, md.Name, md.Version, err)
		}
		c.ProvDigest = in.provDigest
	}
	return c, nil
}

// checkProv is the keyless check of a provenance file (the server has no keyring, so it cannot
// tell who signed): a clear-signed message whose signature block holds OpenPGP signature
// packets and whose signed text is a Helm provenance statement (provenance.Parse), for chart
// name version, listing <name>-<version>.tgz with the archive's digest. Errors wrap
// provenance.ErrMalformed or provenance.ErrDigestMismatch.
func checkProv(prov []byte, name, version string, archive digest.Digest) error {
	st, err := provenance.Parse(prov)
	if err != nil {
		return err
	}
	return vouches(st, name, version, archive)
}

// checkProvSize refuses a provenance file (what names it in messages) of more than
// MaxProvSize bytes.
func checkProvSize(what string, size int64) error {
	if size > MaxProvSize {
		return chartInvalid("%s is larger than the %d bytes a .prov may have (one made by helm package --sign is a few kilobytes)", what, MaxProvSize)
	}
	return nil
}

// vouches checks that a parsed .prov is for chart name version and its archive's digest.
func vouches(st *provenance.Statement, name, version string, archive digest.Digest) error {
	if md := st.Metadata; md.Name != name || md.Version != version {
		return fmt.Errorf("%w: the provenance file's signed Chart.yaml is for %q version %q, not %s %s: use the .prov made for this chart version", provenance.ErrDigestMismatch, md.Name, md.Version, name, version)
	}
	return st.CheckFile(name+"-"+version+".tgz", archive.Encoded())
}

// joinRepository is the repository of chart name in namespace ns.
func joinRepository(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}
