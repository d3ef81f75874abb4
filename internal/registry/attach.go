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
func (r *Registry) AttachProvenance(ctx context.Context, req AttachProvenanceRequest) (*ChartVersion, error) {
	if err := r.refuseProxy(ctx, req.Namespace, "attach a provenance file in"); err != nil {
		return nil, err
	}
	if err := checkProvSize("the provenance file", int64(len(req.Prov))); err != nil {
		return nil, err
	}
	st, err := provenance.Parse(req.Prov)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrChartInvalid, err)
	}
	md := st.Metadata
	if md == nil || md.Name == "" || md.Version == "" {
		return nil, fmt.Errorf("%w: the provenance file's signed Chart.yaml has no name or version", ErrChartInvalid)
	}
	c, err := r.liveChartVersion(WithQuarantined(ctx), req.Namespace, md.Name, md.Version)
	if err != nil {
		if errors.Is(err, ErrChartUnknown) {
			return nil, fmt.Errorf("%w; upload the chart first, or the chart and its .prov in one request", err)
		}
		return nil, err
	}
	if err := vouches(st, c.Name, c.Version, c.ChartDigest); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrChartInvalid, err)
	}
	p, err := r.policy(ctx, c.Namespace)
	if err != nil {
		return nil, err
	}
	sig, err := r.provStatus(ctx, c.Namespace, p, req.Prov)
	if err != nil {
		return nil, err
	}
	if p.SignedOnly && sig.Status != SignatureValid {
		return nil, chartInvalid("%s accepts only charts signed by a key it trusts (policy signed-only), and the provenance file does not qualify: %s", namespaceLabel(c.Namespace), sig.Error)
	}
	provDigest := digest.FromBytes(req.Prov)
	switch c.ProvDigest {
	case "":
	case provDigest:
		// The same .prov again: checked again, against the keys trusted now (a key added
		// after it arrived makes it valid).
		if sig.Status == SignatureValid && c.Prov.Status != meta.SignatureValid {
			if _, err := r.db.SetChartSignature(ctx, c.Repository, c.ManifestDigest.String(), false, sig.metaStatus()); err != nil {
				return nil, err
			}
			return r.ChartVersion(WithQuarantined(ctx), c.Namespace, c.Name, c.Version)
		}
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
	err = r.db.AttachChartProvenance(ctx, m, refs, c.Version, c.ManifestDigest, provDigest, sig.metaStatus(), req.Actor)
	if errors.Is(err, meta.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s %s changed while its provenance file was attached (deleted, or given another one): check it and retry", ErrImmutable, c.Name, c.Version)
	}
	if err != nil {
		return nil, err
	}
	return r.ChartVersion(WithQuarantined(ctx), c.Namespace, c.Name, c.Version)
}
