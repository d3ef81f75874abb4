package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/provenance"
)

// AttachProvenanceRequest is a provenance file uploaded on its own, after its chart (the
// classic API's POST /api/<namespace>/prov).
type AttachProvenanceRequest struct {
	// Namespace holds the chart version the .prov is for.
	Namespace string
	// Prov is the .prov; its signed Chart.yaml names the version, its files entry the
	// archive and the archive's sha256.
	Prov []byte
	// Actor is who uploads.
	Actor string
}

// AttachProvenance adds a provenance file to a published chart version that has none: the
// version's manifest gains the provenance layer `helm push` would have given it, so OCI and
// the classic repository serve the same .prov. The archive never changes. The .prov must
// vouch for the published archive (ErrChartInvalid); a version that already has this .prov is
// ErrVersionExists, another one ErrImmutable; an unpublished version ErrChartUnknown.
func (r *Registry) AttachProvenance(ctx context.Context, req AttachProvenanceRequest) (*meta.ChartVersion, error) {
	if len(req.Prov) > maxProvSize {
		return nil, fmt.Errorf("%w: the provenance file has %d bytes, at most %d are accepted", ErrChartInvalid, len(req.Prov), maxProvSize)
	}
	st, err := provenance.Parse(req.Prov)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrChartInvalid, err)
	}
	md := st.Metadata
	if md == nil || md.Name == "" || md.Version == "" {
		return nil, fmt.Errorf("%w: the provenance file's signed Chart.yaml has no name or version", ErrChartInvalid)
	}
	c, err := r.ChartVersion(ctx, req.Namespace, md.Name, md.Version)
	if err != nil {
		if errors.Is(err, ErrChartUnknown) {
			return nil, fmt.Errorf("%w; upload the chart first, or the chart and its .prov in one request", err)
		}
		return nil, err
	}
	if err := vouches(st, c.Name, c.Version, c.ChartDigest); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrChartInvalid, err)
	}
	provDigest := digest.FromBytes(req.Prov)
	switch c.ProvDigest {
	case "":
	case provDigest:
		return nil, fmt.Errorf("%w: %s %s already has this provenance file", ErrVersionExists, c.Name, c.Version)
	default:
		return nil, fmt.Errorf("%w: %s %s already has a provenance file (%s); a published version never changes: publish a new version", ErrImmutable, c.Name, c.Version, c.ProvDigest)
	}

	old, err := r.db.GetManifest(ctx, c.Repository, c.ManifestDigest.String(), false, true)
	if err != nil {
		return nil, mapMetaErr(err)
	}
	var doc ocispec.Manifest
	if err := json.Unmarshal(old.Content, &doc); err != nil {
		return nil, fmt.Errorf("attach provenance to %s %s: stored manifest: %w", c.Name, c.Version, err)
	}
	chart.AddProvLayer(&doc, chart.ProvLayer(req.Prov))
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	if _, err := r.PutBlob(ctx, c.Repository, provDigest, int64(len(req.Prov)), bytes.NewReader(req.Prov)); err != nil {
		return nil, err
	}
	refs := []digest.Digest{doc.Config.Digest}
	for _, l := range doc.Layers {
		refs = append(refs, l.Digest)
	}
	m := meta.Manifest{
		Repository:      c.Repository,
		Digest:          digest.FromBytes(body),
		MediaType:       old.MediaType,
		ArtifactType:    old.ArtifactType,
		ConfigMediaType: old.ConfigMediaType,
		Annotations:     doc.Annotations,
		Content:         body,
	}
	err = r.db.AttachChartProvenance(ctx, m, refs, c.Version, c.ManifestDigest, provDigest)
	if errors.Is(err, meta.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s %s changed while its provenance file was attached (deleted, or given another one): check it and retry", ErrImmutable, c.Name, c.Version)
	}
	if err != nil {
		return nil, err
	}
	c.ManifestDigest, c.ProvDigest = m.Digest, provDigest
	return c, nil
}

// checkProvenance is the keyless check every route that stores a .prov makes (the server has
// no keyring, so it cannot tell who signed): prov is a clear-signed message whose signature
// block holds OpenPGP signature packets and whose signed text is a Helm provenance statement
// (provenance.Parse), for chart name version, listing <name>-<version>.tgz with the archive's
// digest. Errors wrap provenance.ErrMalformed or provenance.ErrDigestMismatch.
func checkProvenance(prov []byte, name, version string, archive digest.Digest) error {
	st, err := provenance.Parse(prov)
	if err != nil {
		return err
	}
	return vouches(st, name, version, archive)
}

// vouches checks that a parsed .prov is for chart name version and its archive's digest.
func vouches(st *provenance.Statement, name, version string, archive digest.Digest) error {
	if md := st.Metadata; md.Name != name || md.Version != version {
		return fmt.Errorf("%w: the provenance file's signed Chart.yaml is for %q version %q, not %s %s: use the .prov made for this chart version", provenance.ErrDigestMismatch, md.Name, md.Version, name, version)
	}
	return st.CheckFile(chart.ArchiveName(name, version), archive.Encoded())
}

// verifyProvLayer checks the provenance layer of a chart manifest pushed over OCI, if it has
// one, as the classic API checks an uploaded .prov (checkProvenance): it must vouch for the
// manifest's chart layer, or every later `helm pull --verify` of the version would fail.
func (r *Registry) verifyProvLayer(ctx context.Context, repo string, c *meta.ChartVersion) error {
	if c.ProvDigest == "" {
		return nil
	}
	prov, err := r.readSmallBlob(ctx, repo, c.ProvDigest, maxProvSize)
	if err != nil {
		return err
	}
	if err := checkProvenance(prov, c.Name, c.Version, c.ChartDigest); err != nil {
		return invalid("the provenance layer %s is not a valid .prov of the chart layer %s (%s-%s.tgz): %v", c.ProvDigest, c.ChartDigest, c.Name, c.Version, err)
	}
	return nil
}
