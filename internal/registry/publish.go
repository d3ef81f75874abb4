package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/meta"
)

// DefaultMaxChartSize bounds an uploaded chart archive when Options.MaxChartSize is zero.
const DefaultMaxChartSize = 20 << 20

// maxProvSize bounds a provenance file.
const maxProvSize = 1 << 20

// PublishChartRequest is a chart archive uploaded over the classic repository API.
type PublishChartRequest struct {
	// Namespace receives the chart: it is published as repository <Namespace>/<name>.
	Namespace string
	// Archive is the .tgz.
	Archive io.Reader
	// FileName is the archive's name as the client sent it ("" if none); when given it must
	// be <name>-<version>.tgz of the chart inside.
	FileName string
	// Prov is the provenance file, nil without one.
	Prov []byte
	// Actor is who publishes.
	Actor string
	// RefuseExisting makes an upload of a version that is already published with the same
	// bytes fail with ErrVersionExists instead of succeeding without change (ChartMuseum's
	// API answers 409 to it). A version published with other bytes is always ErrImmutable.
	RefuseExisting bool
}

// PublishChart validates an archive (and its .prov) and publishes it as the OCI manifest
// `helm push` would have made: config = Chart.yaml as JSON, layers = archive (+ provenance),
// tagged with the version. Both protocols then serve the identical bytes.
func (r *Registry) PublishChart(ctx context.Context, req PublishChartRequest) (*meta.ChartVersion, error) {
	if req.Namespace != "" {
		if err := ValidateName(req.Namespace); err != nil {
			return nil, err
		}
	}
	if err := CheckChartNamespace(req.Namespace); err != nil {
		return nil, err
	}
	spool, sum, size, err := r.spoolArchive(req.Archive)
	if err != nil {
		return nil, err
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	c, err := r.validateArchive(ctx, io.NewSectionReader(spool, 0, size))
	if err != nil {
		if errors.Is(err, chart.ErrInvalidArchive) {
			return nil, fmt.Errorf("%w: %v", ErrChartInvalid, err)
		}
		return nil, err
	}
	md := c.Metadata
	archiveName := md.ArchiveName()
	if req.FileName != "" && req.FileName != archiveName {
		return nil, fmt.Errorf("%w: the file is named %q but holds chart %s version %s: name it %s", ErrChartInvalid, req.FileName, md.Name, md.Version, archiveName)
	}
	repo := md.Name
	if req.Namespace != "" {
		repo = req.Namespace + "/" + md.Name
	}
	if err := ValidateName(repo); err != nil {
		return nil, fmt.Errorf("%w: chart name %q cannot be a repository name: %v", ErrChartInvalid, md.Name, err)
	}
	if len(req.Prov) > maxProvSize {
		return nil, fmt.Errorf("%w: the provenance file has %d bytes, at most %d are accepted", ErrChartInvalid, len(req.Prov), maxProvSize)
	}
	if req.Prov != nil {
		if err := checkProvenance(req.Prov, md.Name, md.Version, digest.NewDigestFromBytes(digest.SHA256, sum)); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrChartInvalid, err)
		}
	}
	chartDesc := chart.ChartLayer(digest.NewDigestFromBytes(digest.SHA256, sum), size)
	if err := r.checkPublishable(ctx, req.Namespace, md.Name, md.Version, chartDesc.Digest, req.RefuseExisting); err != nil {
		return nil, err
	}
	var provDesc ocispec.Descriptor
	if req.Prov != nil {
		provDesc = chart.ProvLayer(req.Prov)
	}
	art, err := chart.HelmArtifact(md, chartDesc, provDesc, time.Now().UTC())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrChartInvalid, err)
	}
	if _, err := r.PutBlob(ctx, repo, chartDesc.Digest, size, io.NewSectionReader(spool, 0, size)); err != nil {
		return nil, err
	}
	if _, err := r.PutBlob(ctx, repo, art.ConfigDescriptor.Digest, art.ConfigDescriptor.Size, bytes.NewReader(art.Config)); err != nil {
		return nil, err
	}
	if req.Prov != nil {
		if _, err := r.PutBlob(ctx, repo, provDesc.Digest, provDesc.Size, bytes.NewReader(req.Prov)); err != nil {
			return nil, err
		}
	}
	res, err := r.PutManifest(ctx, PutManifestRequest{
		Repository:  repo,
		Reference:   chart.OCITag(md.Version),
		ContentType: ocispec.MediaTypeImageManifest,
		Body:        art.Manifest,
		Actor:       req.Actor,

		chartVerified: true,
	})
	if err != nil {
		return nil, err
	}
	return res.Chart, nil
}

// checkPublishable answers early, before any blob is written, when the version is taken: by
// other bytes (ErrImmutable, also after a delete: the tombstone keeps the digest), or by these
// very bytes when refuseExisting (ErrVersionExists). It only improves the answer: the database
// constraint still decides races between concurrent publishers.
func (r *Registry) checkPublishable(ctx context.Context, ns, name, version string, d digest.Digest, refuseExisting bool) error {
	existing, err := r.db.GetChartVersion(ctx, ns, name, version)
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("publish %s %s: %w", name, version, err)
	case existing.ChartDigest != d:
		return mapMetaErr(&meta.ChartConflictError{Existing: *existing})
	case refuseExisting && !existing.Deleted:
		return fmt.Errorf("%w: %s %s is already published with these bytes (%s); versions are immutable: publish a new version", ErrVersionExists, name, version, d)
	}
	return nil
}

// spoolArchive copies an upload to a temporary file (bodies are never held whole in
// memory), hashing it and enforcing MaxChartSize.
func (r *Registry) spoolArchive(body io.Reader) (*os.File, []byte, int64, error) {
	if body == nil {
		return nil, nil, 0, fmt.Errorf("%w: no chart archive was sent", ErrChartInvalid)
	}
	max := r.opts.MaxChartSize
	f, err := r.CreateSpool("chartroom-upload-*.tgz")
	if err != nil {
		return nil, nil, 0, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(body, max+1))
	if err == nil && n > max {
		err = fmt.Errorf("%w: the archive exceeds %d bytes; package a smaller chart or raise --max-chart-size", ErrTooLarge, max)
	}
	if err == nil && n == 0 {
		err = fmt.Errorf("%w: the body is empty; send the .tgz made by helm package or chartroom package", ErrChartInvalid)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, nil, 0, err
	}
	return f, h.Sum(nil), n, nil
}

// CreateSpool creates a temporary file in Options.SpoolDir for an upload that must be read
// more than once (the caller closes and removes it). Its name is pattern with the "*"
// replaced, as os.CreateTemp does.
func (r *Registry) CreateSpool(pattern string) (*os.File, error) {
	f, err := os.CreateTemp(r.opts.SpoolDir, pattern)
	if err != nil {
		return nil, fmt.Errorf("spool the upload: %w", err)
	}
	return f, nil
}

// verifyChartLayer reads a pushed chart layer, checks it is a valid archive of the chart
// the config describes, and returns the archive's metadata.
func (r *Registry) verifyChartLayer(ctx context.Context, repo string, c *meta.ChartVersion) (*chart.Metadata, error) {
	rc, _, err := r.OpenBlob(ctx, repo, c.ChartDigest, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: chart layer %s is not in %s; push it before the manifest", ErrManifestBlobUnknown, c.ChartDigest, repo)
	}
	defer rc.Close()
	loaded, err := r.validateArchive(ctx, rc)
	if err != nil {
		if errors.Is(err, chart.ErrInvalidArchive) {
			return nil, invalid("the chart layer is not a valid chart archive: %v", err)
		}
		return nil, err
	}
	if loaded.Metadata.Name != c.Name || loaded.Metadata.Version != c.Version {
		return nil, invalid("the chart layer holds %s %s but the config says %s %s", loaded.Metadata.Name, loaded.Metadata.Version, c.Name, c.Version)
	}
	return loaded.Metadata, nil
}

// validateArchive checks a chart archive with chart.ValidateArchive, which streams it and
// holds only the few files validation reads, once one of the registry's validation slots is
// free: decompression is CPU work, so as many run at once as there are CPUs, and the others
// wait (or give up with ctx). Errors other than chart.ErrInvalidArchive are the stream's or
// ctx's.
func (r *Registry) validateArchive(ctx context.Context, archive io.Reader) (*chart.Validated, error) {
	select {
	case r.validations <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("validate chart archive: waiting for a validation slot: %w", context.Cause(ctx))
	}
	defer func() { <-r.validations }()
	return chart.ValidateArchive(archive, chart.Limits{})
}
