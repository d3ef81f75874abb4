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

	"github.com/chartroom/chartroom/internal/blob"
	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/meta"
)

// ChartUpload is a chart archive received for publishing (ReceiveChart): written once, as it
// arrived, to a file in Options.SpoolDir, hashed and held to MaxChartSize. PublishChart moves
// the file into the blob store when the blob store can take a file (the filesystem store
// can), so an upload is written to disk once. Close removes what is left.
type ChartUpload struct {
	f      *os.File
	digest digest.Digest
	size   int64
}

// Digest is the archive's sha256.
func (u *ChartUpload) Digest() digest.Digest { return u.digest }

// Size is the archive's length.
func (u *ChartUpload) Size() int64 { return u.size }

// Close removes the spooled file, if PublishChart did not take it.
func (u *ChartUpload) Close() error {
	u.f.Close()
	if err := os.Remove(u.f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// ReceiveChart reads a chart archive upload to its end into the spool directory, hashing it;
// an archive of more than MaxChartSize bytes is ErrTooLarge, an empty one ErrChartInvalid.
// Bodies are never held whole in memory.
func (r *Registry) ReceiveChart(ctx context.Context, body io.Reader) (*ChartUpload, error) {
	if body == nil {
		return nil, chartInvalid("no chart archive was sent")
	}
	f, err := r.CreateSpool("chartroom-upload-*.tgz")
	if err != nil {
		return nil, err
	}
	u := &ChartUpload{f: f}
	h := sha256.New()
	max := r.opts.MaxChartSize
	u.size, err = io.Copy(io.MultiWriter(f, h), io.LimitReader(body, max+1))
	switch {
	case err != nil:
	case u.size > max:
		err = r.chartTooLarge(-1)
	case u.size == 0:
		err = chartInvalid("the body is empty; send the .tgz made by helm package or chartroom package")
	}
	if err != nil {
		u.Close()
		return nil, err
	}
	u.digest = digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil))
	return u, nil
}

// CreateSpool creates a temporary file in Options.SpoolDir (the caller closes and removes
// it). Its name is pattern with the "*" replaced, as os.CreateTemp does.
func (r *Registry) CreateSpool(pattern string) (*os.File, error) {
	f, err := os.CreateTemp(r.opts.SpoolDir, pattern)
	if err != nil {
		return nil, fmt.Errorf("spool the upload: %w", err)
	}
	return f, nil
}

// PublishChartRequest is a chart archive uploaded over the classic repository API.
type PublishChartRequest struct {
	// Namespace receives the chart: it is published as repository <Namespace>/<name>.
	Namespace string
	// Archive is the .tgz, received by ReceiveChart.
	Archive *ChartUpload
	// FileName is the archive's name as the client sent it ("" if none); when given it must
	// be <name>-<version>.tgz of the chart inside.
	FileName string
	// Prov is the provenance file, nil without one.
	Prov []byte
	// Actor is who publishes.
	Actor string
	// Created is the version's date; zero means now (a proxy namespace gives the upstream's).
	Created time.Time
	// RefuseExisting makes an upload of a version that is already published with the same
	// bytes fail with ErrVersionExists instead of succeeding without change (ChartMuseum's
	// API answers 409 to it). A version published with other bytes is always ErrImmutable.
	RefuseExisting bool
}

// PublishChart holds an uploaded archive (and its .prov) to the chart rules and publishes it
// as the OCI manifest `helm push` would have made: config = the archive's Chart.yaml as JSON,
// layers = archive (+ provenance), tagged with the version. Both protocols then serve the
// identical bytes.
func (r *Registry) PublishChart(ctx context.Context, req PublishChartRequest) (*ChartVersion, error) {
	return r.publishChart(ctx, req, false)
}

// publishChart is PublishChart; fromUpstream is a proxy namespace's own fetch, which is the
// only way in to such a namespace.
func (r *Registry) publishChart(ctx context.Context, req PublishChartRequest, fromUpstream bool) (*ChartVersion, error) {
	if req.Namespace != "" {
		if err := ValidateName(req.Namespace); err != nil {
			return nil, err
		}
	}
	up := req.Archive
	if up == nil {
		return nil, chartInvalid("no chart archive was sent")
	}
	provSize := int64(-1)
	if req.Prov != nil {
		provSize = int64(len(req.Prov))
	}
	if err := r.admitChart(req.Namespace, up.size, "the provenance file", provSize); err != nil {
		return nil, err
	}
	md, err := r.loadChart(ctx, io.NewSectionReader(up.f, 0, up.size), "")
	if err != nil {
		return nil, err
	}
	// (After the wait for a validation slot: a cancelled publish says so first.)
	if !fromUpstream {
		if err := r.refuseProxy(ctx, req.Namespace, "publish to"); err != nil {
			return nil, err
		}
	}
	if name := chart.ArchiveName(md.Name, md.Version); req.FileName != "" && req.FileName != name {
		return nil, chartInvalid("the file is named %q but holds chart %s version %s: name it %s", req.FileName, md.Name, md.Version, name)
	}
	repo := joinRepository(req.Namespace, md.Name)
	c, err := r.checkChart(&chartIn{repo: repo, md: md, archive: up.digest, size: up.size,
		prov: req.Prov, provDigest: digest.FromBytes(req.Prov), provName: "the provenance file", actor: req.Actor, created: req.Created})
	if err != nil {
		return nil, err
	}
	if err := r.checkPublishable(ctx, req.Namespace, md.Name, md.Version, up, req.RefuseExisting); err != nil {
		return nil, err
	}
	in := &chartIn{prov: req.Prov, provName: "the provenance file"}
	open := func() (io.ReadCloser, error) {
		return io.NopCloser(io.NewSectionReader(up.f, 0, up.size)), nil
	}
	if err := r.applyPolicies(ctx, in, c, open); err != nil {
		return nil, err
	}
	if c.Images, err = r.chartImages(ctx, md, open); err != nil {
		return nil, err
	}

	chartDesc := chart.ChartLayer(up.digest, up.size)
	var provDesc ocispec.Descriptor
	if req.Prov != nil {
		provDesc = chart.ProvLayer(req.Prov)
	}
	created := time.Now().UTC()
	if !req.Created.IsZero() {
		created = req.Created.UTC()
	}
	art, err := chart.HelmArtifact(md, chartDesc, provDesc, created)
	if err != nil {
		return nil, chartInvalid("%v", err)
	}
	if err := r.putUpload(ctx, repo, up); err != nil {
		return nil, err
	}
	if _, err := r.putSmallBlob(ctx, repo, chart.ConfigMediaType, art.Config); err != nil {
		return nil, err
	}
	if req.Prov != nil {
		if _, err := r.putSmallBlob(ctx, repo, chart.ProvLayerMediaType, req.Prov); err != nil {
			return nil, err
		}
	}
	body := art.Manifest
	annotations := chart.OCIAnnotations(md, created)
	layers := []ocispec.Descriptor{chartDesc}
	if req.Prov != nil {
		layers = append(layers, provDesc)
	}
	configDesc := art.ConfigDescriptor
	cm := &commit{
		manifest: meta.Manifest{
			Repository:      repo,
			Digest:          digest.FromBytes(body),
			MediaType:       ocispec.MediaTypeImageManifest,
			ArtifactType:    chart.ConfigMediaType,
			ConfigMediaType: chart.ConfigMediaType,
			Annotations:     annotations,
			Content:         body,
		},
		tags:  []string{chart.OCITag(md.Version)},
		chart: c,
		actor: req.Actor,
	}
	cm.references = append(cm.references, configDesc.Digest)
	for _, l := range layers {
		cm.references = append(cm.references, l.Digest)
	}
	cm.blobs = cm.references
	res, err := r.commit(ctx, cm)
	if err != nil {
		return nil, err
	}
	return res.Chart, nil
}

// fileBlobStore is a blob store that takes a local file as a blob by moving it into place
// (blob/fs does): an upload spooled to disk is then not written a second time.
type fileBlobStore interface {
	PutFile(ctx context.Context, d digest.Digest, size int64, path string) (blob.Info, error)
}

// putUpload stores an upload's archive as a blob of repo: the spooled file itself when the
// blob store can take it, else a copy.
func (r *Registry) putUpload(ctx context.Context, repo string, up *ChartUpload) error {
	fs, ok := r.blobs.(fileBlobStore)
	if !ok {
		_, err := r.PutBlob(ctx, repo, up.digest, up.size, io.NewSectionReader(up.f, 0, up.size))
		return err
	}
	if err := r.checkBlobSize(up.size); err != nil {
		return err
	}
	info, err := fs.PutFile(ctx, up.digest, up.size, up.f.Name())
	if err != nil {
		return mapBlobErr(err)
	}
	return r.linkBlob(ctx, repo, up.digest, info.Size)
}

// putSmallBlob stores data as a blob of repo and returns its descriptor.
func (r *Registry) putSmallBlob(ctx context.Context, repo, mediaType string, data []byte) (ocispec.Descriptor, error) {
	d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	_, err := r.PutBlob(ctx, repo, d.Digest, d.Size, bytes.NewReader(data))
	return d, err
}

// checkPublishable answers early, before any blob is written, when the version is taken: by
// other bytes (ErrImmutable, also after a delete: the tombstone keeps the digest), or by these
// very bytes when refuseExisting (ErrVersionExists). It only improves the answer: the database
// constraint still decides races between concurrent publishers.
func (r *Registry) checkPublishable(ctx context.Context, ns, name, version string, up *ChartUpload, refuseExisting bool) error {
	existing, err := r.db.GetChartVersion(ctx, ns, name, version)
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("publish %s %s: %w", name, version, err)
	case existing.ChartDigest != up.digest:
		return r.chartConflict(ctx, &meta.ChartConflictError{Existing: *existing}, up.digest, func() (io.ReadCloser, error) {
			return io.NopCloser(io.NewSectionReader(up.f, 0, up.size)), nil
		})
	case refuseExisting && !existing.Deleted:
		return fmt.Errorf("%w: %s %s is already published with these bytes (%s); versions are immutable: publish a new version", ErrVersionExists, name, version, up.digest)
	}
	return nil
}
