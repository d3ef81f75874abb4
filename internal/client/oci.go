package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/chartroom/chartroom/internal/chart"
)

// pushOCI uploads an archive (and its .prov) as the artifact helm push makes, tagged with
// the chart's version. Blobs the repository already has are not sent again.
func (c *Client) pushOCI(ctx context.Context, loc location, a *localArchive, f failure) (*PushResult, error) {
	md := a.chart.Metadata
	repo, err := c.repository(loc.host, loc.repoName(md.Name))
	if err != nil {
		return nil, &Error{Op: f.op, Msg: err.Error()}
	}
	chartDesc := chart.ChartLayer(digest.Digest("sha256:"+a.sha256), a.size)
	var provDesc ocispec.Descriptor
	if a.prov != nil {
		provDesc = chart.ProvLayer(a.prov)
	}
	// helm push gives created the archive file's modification time, in local time.
	created := a.mtime
	if !a.created.IsZero() {
		created = a.created
	}
	art, err := chart.HelmArtifact(md, chartDesc, provDesc, created)
	if err != nil {
		return nil, &Error{Op: f.op, Msg: err.Error()}
	}
	if !a.created.IsZero() && a.created.Nanosecond() != 0 {
		// helm's annotation has whole seconds; a copied date keeps its fraction.
		if art.Manifest, err = withCreated(art.Manifest, a.created); err != nil {
			return nil, &Error{Op: f.op, Msg: err.Error()}
		}
	}
	ctx = auth.AppendRepositoryScope(ctx, repo.Reference, auth.ActionPull, auth.ActionPush)
	blobs := []struct {
		desc ocispec.Descriptor
		open func() io.Reader
		name string
	}{
		{art.ConfigDescriptor, func() io.Reader { return bytes.NewReader(art.Config) }, "config"},
		{chartDesc, a.open, md.ArchiveName()},
	}
	if a.prov != nil {
		blobs = append(blobs, struct {
			desc ocispec.Descriptor
			open func() io.Reader
			name string
		}{provDesc, func() io.Reader { return bytes.NewReader(a.prov) }, md.ArchiveName() + ".prov"})
	}
	for _, b := range blobs {
		exists, err := repo.Exists(ctx, b.desc)
		if err != nil {
			return nil, c.fail(f, err)
		}
		if exists {
			continue
		}
		r, done := io.Reader(nil), func() {}
		if b.desc.MediaType == chart.ChartLayerMediaType {
			r, done = c.track(b.open(), b.name, b.desc.Size)
		} else {
			r = b.open()
		}
		err = repo.Push(ctx, b.desc, r)
		done()
		if err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
			return nil, c.fail(f, err)
		}
	}
	mdesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(art.Manifest), Size: int64(len(art.Manifest))}
	if err := repo.PushReference(ctx, mdesc, bytes.NewReader(art.Manifest), chart.OCITag(md.Version)); err != nil {
		return nil, c.fail(f, err)
	}
	// When the tag already named the same chart in another manifest (helm push of the same
	// archive at another time), the registry keeps it: report the digest pulls will get.
	if tagged, err := repo.Resolve(ctx, chart.OCITag(md.Version)); err == nil {
		mdesc = tagged
	}
	return &PushResult{
		Name: md.Name, Version: md.Version, Ref: loc.ociRef(md.Name, md.Version),
		Digest: chartDesc.Digest.String(), ManifestDigest: mdesc.Digest.String(), Prov: a.prov != nil,
	}, nil
}

// Bounds of a repository's tag list: a registry whose Link: rel="next" never ends, or
// loops, makes pull (without an exact version) and lock fail instead of running until
// interrupted.
const (
	// maxTagPages bounds the pages of a tag list.
	maxTagPages = 1000
	// maxTags bounds the tags of a repository (helm charts have hundreds).
	maxTags = 100_000
	// maxTagLength is the OCI Distribution v1.1 limit: a longer tag is not one.
	maxTagLength = 128
)

// ociVersions lists the chart versions of an OCI repository newest first: its tags that are
// SemVer versions ('_' read as '+'), as helm lists them. A repository that does not exist
// has none. A tag list longer than maxTags tags or maxTagPages pages, or whose next page
// brings no tag not listed before, is an error.
func (c *Client) ociVersions(ctx context.Context, repo *remote.Repository) ([]string, error) {
	var vs []string
	where := "oci://" + repo.Reference.Registry + "/" + repo.Reference.Repository
	seen := map[string]bool{}
	stalled := false // the previous page brought no new tag, yet the registry linked a next one
	repo.TagListMaxPages = maxTagPages
	err := repo.Tags(ctx, "", func(tags []string) error {
		if stalled {
			return &tagListError{fmt.Sprintf("the tag list of %s repeats itself: its next page lists no tag it has not listed before, so it would never end; the registry is broken: pull an exact version (--version X.Y.Z) or tell its administrator", where)}
		}
		fresh := 0
		for _, t := range tags {
			if len(t) > maxTagLength {
				return &tagListError{fmt.Sprintf("the tag list of %s holds a %d-character tag; OCI tags have at most %d: the registry is broken, tell its administrator", where, len(t), maxTagLength)}
			}
			if seen[t] {
				continue
			}
			if len(seen) == maxTags {
				return &tagListError{fmt.Sprintf("%s lists more than %d tags; chartroom stops there: pull an exact version (--version X.Y.Z) or ask the registry's administrator to remove old tags", where, maxTags)}
			}
			seen[t] = true
			fresh++
			v := chart.VersionOfOCITag(t)
			if _, err := chart.ParseVersion(v); err == nil {
				vs = append(vs, v)
			}
		}
		stalled = fresh == 0
		return nil
	})
	if errors.Is(err, errdef.ErrTooManyPages) {
		return nil, &tagListError{fmt.Sprintf("the tag list of %s has more than %d pages; chartroom stops there: pull an exact version (--version X.Y.Z) or tell the registry's administrator", where, maxTagPages)}
	}
	if err != nil && !errors.Is(err, errdef.ErrNotFound) && !isStatus(err, 404) {
		return nil, err
	}
	chart.SortVersions(vs)
	return vs, nil
}

// tagListError is a tag list chartroom refused to read to its end.
type tagListError struct{ msg string }

func (e *tagListError) Error() string { return e.msg }

// ociChart is a chart version's manifest, read.
type ociChart struct {
	repo     *remote.Repository
	manifest ocispec.Descriptor
	chart    ocispec.Descriptor
	prov     *ocispec.Descriptor
}

// ociManifest fetches the manifest a chart version's tag names and finds its layers. It
// refuses artifacts that are not Helm charts.
func (c *Client) ociManifest(ctx context.Context, repo *remote.Repository, tag string) (*ociChart, error) {
	desc, rc, err := repo.FetchReference(ctx, tag)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if desc.Size > maxManifestSize {
		return nil, fmt.Errorf("the manifest of %s:%s has %d bytes; a chart's has a few hundred", repo.Reference.Repository, tag, desc.Size)
	}
	data, err := content.ReadAll(rc, desc)
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("the manifest of %s:%s is not an OCI image manifest: %v", repo.Reference.Repository, tag, err)
	}
	if m.Config.MediaType != chart.ConfigMediaType {
		return nil, fmt.Errorf("%s:%s is not a Helm chart (its config is %q, not %s)", repo.Reference.Repository, tag, m.Config.MediaType, chart.ConfigMediaType)
	}
	out := &ociChart{repo: repo, manifest: desc}
	for i, l := range m.Layers {
		switch l.MediaType {
		case chart.ChartLayerMediaType, chart.LegacyChartLayerMediaType:
			out.chart = l
		case chart.ProvLayerMediaType:
			out.prov = &m.Layers[i]
		}
	}
	if out.chart.Digest == "" {
		return nil, fmt.Errorf("%s:%s is a Helm chart manifest without a chart layer", repo.Reference.Repository, tag)
	}
	return out, nil
}

// fetchBlob streams a blob, verifying its size and digest as it is read.
func (c *Client) fetchBlob(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, into func(io.Reader) error) error {
	rc, err := repo.Fetch(ctx, desc)
	if err != nil {
		return err
	}
	defer rc.Close()
	vr := content.NewVerifyReader(rc, desc)
	if err := into(vr); err != nil {
		return err
	}
	if err := vr.Verify(); err != nil {
		return fmt.Errorf("the download of %s does not match its digest or size (%v): try again", desc.Digest, err)
	}
	return nil
}

// withCreated sets a manifest's org.opencontainers.image.created annotation to t, in
// RFC 3339 with nanoseconds.
func withCreated(manifest []byte, t time.Time) ([]byte, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, err
	}
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[ocispec.AnnotationCreated] = t.Format(time.RFC3339Nano)
	return json.Marshal(m)
}
