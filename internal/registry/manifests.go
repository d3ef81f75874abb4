package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/artifacthub"
	"github.com/chartroom/chartroom/internal/blob"
	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/meta"
)

// Manifest media types chartroom stores (OCI image-spec v1.1 and Docker schema 2).
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// Manifest is a stored manifest.
type Manifest struct {
	Repository   string
	Digest       digest.Digest
	MediaType    string
	ArtifactType string // artifactType, or the config media type of an image manifest
	// ConfigMediaType is the config's media type of an image manifest ("" for an index).
	ConfigMediaType string
	Subject         digest.Digest // "" when the manifest has no subject
	Size            int64
	Content         []byte // nil when read without content
	Created         time.Time
}

// PutManifestRequest is one manifest push.
type PutManifestRequest struct {
	Repository string
	// Reference is the tag or digest in the URL.
	Reference string
	// ContentType is the request's Content-Type.
	ContentType string
	Body        []byte
	// Tags are extra tags to set (the ?tag= parameters of a push by digest).
	Tags []string
	// Actor is who pushes, recorded with chart versions and told to webhooks.
	Actor string
}

// PutManifestResult says what a push stored.
type PutManifestResult struct {
	Digest  digest.Digest
	Subject digest.Digest // "" when the manifest has no subject
	Chart   *ChartVersion // set when the manifest is a chart
}

// manifestDoc is the union of the manifest and index fields chartroom reads.
type manifestDoc struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	ArtifactType  string               `json:"artifactType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Subject       *ocispec.Descriptor  `json:"subject"`
	Annotations   map[string]string    `json:"annotations"`
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrManifestInvalid}, args...)...)
}

// PutManifest validates and stores a manifest, its tags and, for a chart, its chart version.
func (r *Registry) PutManifest(ctx context.Context, req PutManifestRequest) (*PutManifestResult, error) {
	repo := req.Repository
	if err := ValidateName(repo); err != nil {
		return nil, err
	}
	if int64(len(req.Body)) > r.opts.MaxManifestSize {
		return nil, fmt.Errorf("%w: the manifest has %d bytes, the limit is %d", ErrTooLarge, len(req.Body), r.opts.MaxManifestSize)
	}
	// The digest: the one in the URL (any supported algorithm), else sha256.
	d := digest.FromBytes(req.Body)
	tags := req.Tags
	if IsDigest(req.Reference) {
		want, err := ParseDigest(req.Reference)
		if err != nil {
			return nil, err
		}
		if actual := want.Algorithm().FromBytes(req.Body); actual != want {
			return nil, fmt.Errorf("%w: the manifest hashes to %s, not %s", ErrDigestInvalid, actual, want)
		}
		d = want
	} else {
		tags = append([]string{req.Reference}, tags...)
	}
	for _, t := range tags {
		if err := ValidateTag(t); err != nil {
			return nil, err
		}
		if t == artifacthub.Tag {
			if err := r.refuseArtifactHubTag(ctx, repo, "push"); err != nil {
				return nil, err
			}
		}
	}
	if err := r.refuseProxyRepo(ctx, repo, "push to"); err != nil {
		return nil, err
	}
	doc, err := parseManifest(req.ContentType, req.Body)
	if err != nil {
		return nil, err
	}
	if err := r.checkSizes(ctx, repo, doc); err != nil {
		return nil, err
	}
	c := &commit{
		manifest: meta.Manifest{
			Repository:  repo,
			Digest:      d,
			MediaType:   doc.MediaType,
			Annotations: doc.Annotations,
			Content:     req.Body,
		},
		tags:  tags,
		actor: req.Actor,
	}
	m := &c.manifest
	if doc.Subject != nil {
		m.Subject = doc.Subject.Digest
	}
	required := !r.opts.AllowSparseManifests
	switch doc.MediaType {
	case ocispec.MediaTypeImageManifest, MediaTypeDockerManifest:
		m.ConfigMediaType = doc.Config.MediaType
		m.ArtifactType = doc.ArtifactType
		if m.ArtifactType == "" {
			m.ArtifactType = doc.Config.MediaType
		}
		c.references = append(c.references, doc.Config.Digest)
		if required {
			c.blobs = append(c.blobs, doc.Config.Digest)
		}
		for _, l := range doc.Layers {
			c.references = append(c.references, l.Digest)
			if required && !nonDistributable(l.MediaType) {
				c.blobs = append(c.blobs, l.Digest)
			}
		}
	default: // an index
		m.ArtifactType = doc.ArtifactType
		for _, child := range doc.Manifests {
			c.references = append(c.references, child.Digest)
			if required {
				c.manifests = append(c.manifests, child.Digest)
			}
		}
	}
	if doc.Config != nil && doc.Config.MediaType == chart.ConfigMediaType {
		cv, err := r.ociChart(ctx, repo, req.Reference, req.Actor, doc)
		if err != nil {
			return nil, err
		}
		c.chart = cv
		c.blobs = append(c.blobs, doc.Config.Digest) // a chart is never sparse
	}
	if err := r.linkArtifactHubBlobs(ctx, repo, c.blobs); err != nil {
		return nil, err
	}
	res, err := r.commit(ctx, c)
	if err != nil {
		return nil, err
	}
	if signed := signedManifest(tags, doc); signed != "" {
		r.recordCosign(ctx, repo, signed, req.Body, doc)
	}
	return res, nil
}

func nonDistributable(mediaType string) bool {
	return strings.HasPrefix(mediaType, "application/vnd.oci.image.layer.nondistributable.") || mediaType == mediaTypeDockerForeignLayer
}

func uniqueDigests(ds []digest.Digest) []digest.Digest {
	seen := map[digest.Digest]bool{}
	var out []digest.Digest
	for _, d := range ds {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// parseManifest decodes and checks a manifest body against its Content-Type.
func parseManifest(contentType string, body []byte) (*manifestDoc, error) {
	var doc manifestDoc
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&doc); err != nil {
		return nil, invalid("the body is not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, invalid("the body has data after the JSON document")
	}
	mt := contentType
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = strings.TrimSpace(mt[:i])
	}
	if doc.MediaType != "" && mt != "" && doc.MediaType != mt {
		return nil, invalid("mediaType %q does not match the Content-Type %q", doc.MediaType, mt)
	}
	if doc.MediaType == "" {
		doc.MediaType = mt
	}
	if doc.SchemaVersion != 2 {
		return nil, invalid("schemaVersion is %d, expected 2", doc.SchemaVersion)
	}
	switch doc.MediaType {
	case ocispec.MediaTypeImageManifest, MediaTypeDockerManifest:
		if doc.Config == nil {
			return nil, invalid("an image manifest needs a config descriptor")
		}
		if err := checkDescriptors("config", *doc.Config); err != nil {
			return nil, err
		}
		if err := checkDescriptors("layers", doc.Layers...); err != nil {
			return nil, err
		}
		if doc.Manifests != nil {
			return nil, invalid("an image manifest has no manifests list")
		}
	case ocispec.MediaTypeImageIndex, MediaTypeDockerManifestList:
		if err := checkDescriptors("manifests", doc.Manifests...); err != nil {
			return nil, err
		}
		if doc.Config != nil || doc.Layers != nil {
			return nil, invalid("an index has no config or layers")
		}
	case "":
		return nil, invalid("the manifest has no mediaType and the request no Content-Type; set Content-Type to the manifest's media type")
	default:
		return nil, fmt.Errorf("%w: manifest media type %q; supported: OCI image manifest and index, Docker schema 2 manifest and list", ErrManifestInvalid, doc.MediaType)
	}
	if doc.Subject != nil {
		if err := checkDescriptors("subject", *doc.Subject); err != nil {
			return nil, err
		}
	}
	return &doc, nil
}

func checkDescriptors(field string, ds ...ocispec.Descriptor) error {
	for i, d := range ds {
		if err := blob.Validate(d.Digest); err != nil {
			return invalid("%s[%d]: digest %q is not a valid sha256 or sha512 digest", field, i, d.Digest)
		}
		if d.Size < 0 {
			return invalid("%s[%d]: negative size", field, i)
		}
		if d.MediaType == "" {
			return invalid("%s[%d]: mediaType is missing", field, i)
		}
		if d.Data != nil {
			if int64(len(d.Data)) != d.Size || d.Digest.Algorithm().FromBytes(d.Data) != d.Digest {
				return invalid("%s[%d]: the embedded data does not match the descriptor's size and digest", field, i)
			}
		}
	}
	return nil
}

// checkSizes refuses descriptors whose size differs from the content the repository holds
// under their digest: clients trust the size (helm pull fails on a wrong one). Content the
// repository lacks is left to the presence check, which allows it for sparse manifests.
func (r *Registry) checkSizes(ctx context.Context, repo string, doc *manifestDoc) error {
	type ref struct {
		field    string
		d        ocispec.Descriptor
		manifest bool // the descriptor names a manifest, not a blob
	}
	var refs []ref
	if doc.Config != nil {
		refs = append(refs, ref{"config", *doc.Config, false})
	}
	for i, l := range doc.Layers {
		refs = append(refs, ref{fmt.Sprintf("layers[%d]", i), l, false})
	}
	for i, m := range doc.Manifests {
		refs = append(refs, ref{fmt.Sprintf("manifests[%d]", i), m, true})
	}
	if doc.Subject != nil {
		refs = append(refs, ref{"subject", *doc.Subject, true})
	}
	for _, rf := range refs {
		var size int64
		var err error
		kind := "blob"
		if rf.manifest {
			kind = "manifest"
			var m *meta.Manifest
			if m, err = r.db.GetManifest(ctx, repo, rf.d.Digest.String(), false, false); err == nil {
				size = m.Size
			}
		} else {
			size, err = r.db.RepositoryBlob(ctx, repo, rf.d.Digest)
		}
		switch {
		case errors.Is(err, meta.ErrNotFound):
			continue
		case err != nil:
			return fmt.Errorf("check %s of the manifest: %w", rf.field, err)
		case size != rf.d.Size:
			return invalid("%s: the descriptor of %s %s declares size %d, but it has %d bytes; set the descriptor's size to the content's", rf.field, kind, rf.d.Digest, rf.d.Size, size)
		}
	}
	return nil
}

// mapMetaErr turns database errors into domain errors.
func mapMetaErr(err error) error {
	var missing *meta.MissingError
	var chart *meta.ChartConflictError
	var tag *meta.TagConflictError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &missing):
		return fmt.Errorf("%w: %s; push them first", ErrManifestBlobUnknown, missing.Error())
	case errors.As(err, &chart):
		return fmt.Errorf("%w: %s (manifest %s); a published version never changes: publish a new version", ErrImmutable, chart.Error(), chart.Existing.ManifestDigest)
	case errors.As(err, &tag):
		return fmt.Errorf("%w: %s", ErrImmutable, tag.Error())
	case errors.Is(err, meta.ErrNotFound):
		return fmt.Errorf("%w: %v", ErrManifestUnknown, err)
	}
	return err
}

// GetManifest returns the manifest a tag or digest names, with its content when withContent.
func (r *Registry) GetManifest(ctx context.Context, repo, reference string, withContent bool) (*Manifest, error) {
	if err := ValidateName(repo); err != nil {
		return nil, err
	}
	byTag := !IsDigest(reference)
	if byTag {
		if err := ValidateTag(reference); err != nil {
			return nil, err
		}
	} else if _, err := ParseDigest(reference); err != nil {
		return nil, err
	}
	if byTag {
		if m, err := r.artifactHubManifest(ctx, repo, reference, "", withContent); m != nil || err != nil {
			return m, err
		}
	}
	m, err := r.db.GetManifest(ctx, repo, reference, byTag, withContent)
	if errors.Is(err, meta.ErrNotFound) && byTag {
		// A proxy namespace fetches a version its upstream lists at its first pull.
		ns, name := SplitRepository(repo)
		if fetched, ferr := r.fetchProxied(ctx, ns, name, chart.VersionOfOCITag(reference)); ferr != nil {
			return nil, ferr
		} else if fetched != nil {
			m, err = r.db.GetManifest(ctx, repo, reference, byTag, withContent)
		}
	}
	if errors.Is(err, meta.ErrNotFound) && !byTag {
		if m, err := r.artifactHubManifest(ctx, repo, "", digest.Digest(reference), withContent); m != nil || err != nil {
			return m, err
		}
	}
	if err == nil && m.Quarantined && !seesQuarantined(ctx) {
		err = fmt.Errorf("manifest %s:%s: %w", repo, reference, meta.ErrNotFound)
	}
	if err != nil {
		return nil, mapMetaErr(err)
	}
	return &Manifest{Repository: m.Repository, Digest: m.Digest, MediaType: m.MediaType, ArtifactType: m.ArtifactType,
		ConfigMediaType: m.ConfigMediaType, Subject: m.Subject, Size: m.Size, Content: m.Content, Created: m.Created}, nil
}

// DeleteManifest deletes a manifest (reference is a digest) or a tag (reference is a tag).
// Deleting a chart version's manifest or tag leaves a tombstone: the version, and its tag,
// can come back only with the same chart, and webhooks are told (chart.deleted, with actor as
// who deleted it). In a repository with immutable tags, a deleted tag can only ever name the
// same content again.
func (r *Registry) DeleteManifest(ctx context.Context, repo, reference, actor string) error {
	if err := ValidateName(repo); err != nil {
		return err
	}
	if err := r.refuseProxyRepo(ctx, repo, "delete from"); err != nil {
		return err
	}
	if !IsDigest(reference) {
		if err := ValidateTag(reference); err != nil {
			return err
		}
		if reference == artifacthub.Tag {
			if err := r.refuseArtifactHubTag(ctx, repo, "delete"); err != nil {
				return err
			}
		}
		return mapMetaErr(r.db.DeleteTag(ctx, repo, reference, r.tagsImmutable(repo), actor))
	}
	d, err := ParseDigest(reference)
	if err != nil {
		return err
	}
	err = r.db.DeleteManifest(ctx, repo, d, r.tagsImmutable(repo), actor)
	if errors.Is(err, meta.ErrNotFound) {
		if m, aerr := r.artifactHubManifest(ctx, repo, "", d, false); aerr != nil || m != nil {
			if aerr != nil {
				return aerr
			}
			return r.refuseArtifactHubTag(ctx, repo, "delete the manifest of")
		}
	}
	return mapMetaErr(err)
}

// Tags lists repo's tags in lexical order after last, at most n (n ≤ 0: all).
func (r *Registry) Tags(ctx context.Context, repo string, n int, last string) ([]string, error) {
	if err := ValidateName(repo); err != nil {
		return nil, err
	}
	ns, name := SplitRepository(repo)
	p, err := r.proxyOf(ctx, ns)
	if err != nil {
		return nil, err
	}
	if p != nil {
		return r.proxiedTags(ctx, p, repo, name, n, last)
	}
	tags, err := r.db.Tags(ctx, repo, n, last, !seesQuarantined(ctx))
	if errors.Is(err, meta.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s has no content yet", ErrNameUnknown, repo)
	}
	if err != nil {
		return nil, err
	}
	return r.withArtifactHubTag(ctx, repo, tags, n, last)
}

// Catalog lists repositories in lexical order after last, at most n (n ≤ 0: all).
func (r *Registry) Catalog(ctx context.Context, n int, last string) ([]string, error) {
	return r.db.Catalog(ctx, n, last)
}

// Referrers returns descriptors of the manifests in repo whose subject is d, optionally only
// those of artifactType, as the referrers API (OCI Distribution Spec v1.1) lists them.
func (r *Registry) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]ocispec.Descriptor, error) {
	if err := ValidateName(repo); err != nil {
		return nil, err
	}
	if err := blob.Validate(d); err != nil {
		return nil, mapBlobErr(err)
	}
	ms, err := r.db.Referrers(ctx, repo, d, artifactType)
	if err != nil {
		return nil, err
	}
	out := make([]ocispec.Descriptor, 0, len(ms))
	for _, m := range ms {
		out = append(out, ocispec.Descriptor{
			MediaType:    m.MediaType,
			Digest:       m.Digest,
			Size:         m.Size,
			ArtifactType: m.ArtifactType,
			Annotations:  m.Annotations,
		})
	}
	return out, nil
}
