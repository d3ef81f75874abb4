package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/artifacthub"
	"github.com/chartroom/chartroom/internal/meta"
)

// A namespace's Artifact Hub repository metadata (set with chartroom namespace set, stored in
// the database) is served both ways Artifact Hub looks for it: as the file
// /<namespace>/artifacthub-repo.yml of the classic repository (ArtifactHubRepo), and as the
// tag artifacthub.io of every chart repository of the namespace, the artifact `oras push
// <repo>:artifacthub.io --config /dev/null:<config type> artifacthub-repo.yml:<layer type>`
// would make. That artifact is not stored: it is made from the setting whenever it is asked
// for, so that it follows every change of the setting and every chart repository at once.
// Its manifest (by tag and by digest), its tag in tags/list and its two blobs are served like
// stored ones; the tag cannot be pushed or deleted over OCI while the setting exists; a
// manifest pushed to the repository that references one of its blobs finds it there.

// ArtifactHubFile is the name of a namespace's Artifact Hub repository metadata file in its
// classic repository, next to index.yaml.
const ArtifactHubFile = artifacthub.FileName

// ArtifactHubRepo returns namespace ns's Artifact Hub repository metadata file and when it was
// set; ErrMetadataUnknown when none is set.
func (r *Registry) ArtifactHubRepo(ctx context.Context, ns string) ([]byte, time.Time, error) {
	if ns != "" {
		if err := ValidateName(ns); err != nil {
			return nil, time.Time{}, err
		}
	}
	s, err := r.artifactHubSetting(ctx, ns)
	if err != nil {
		return nil, time.Time{}, err
	}
	if s == nil {
		return nil, time.Time{}, fmt.Errorf("%w: %s has no Artifact Hub repository metadata; an administrator sets it with chartroom namespace set %s --artifacthub-repo-id <ID> --owner '<name> <email>'",
			ErrMetadataUnknown, namespaceLabel(ns), namespaceArg(ns))
	}
	return s.ArtifactHubRepo, s.Updated, nil
}

// namespaceArg is ns as chartroom namespace takes it.
func namespaceArg(ns string) string {
	if ns == "" {
		return "/"
	}
	return ns
}

// artifactHubSetting reads namespace ns's settings: nil when it has no Artifact Hub metadata.
func (r *Registry) artifactHubSetting(ctx context.Context, ns string) (*meta.NamespaceSettings, error) {
	s, err := r.db.GetNamespaceSettings(ctx, ns)
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case s.ArtifactHubRepo == nil:
		return nil, nil
	}
	return s, nil
}

// artifactHubArtifact is the artifacthub.io artifact of a chart repository.
type artifactHubArtifact struct {
	manifest []byte
	digest   digest.Digest
	created  time.Time
	blobs    map[digest.Digest][]byte // the config (empty) and the layer (the file)
}

// artifactHubArtifact returns repo's artifacthub.io artifact: nil when its namespace has no
// Artifact Hub metadata or repo holds no live chart version.
func (r *Registry) artifactHubArtifact(ctx context.Context, repo string) (*artifactHubArtifact, error) {
	ns, _ := SplitRepository(repo)
	s, err := r.artifactHubSetting(ctx, ns)
	if err != nil || s == nil {
		return nil, err
	}
	charts, err := r.db.HasLiveChart(ctx, repo)
	if err != nil || !charts {
		return nil, err
	}
	file := s.ArtifactHubRepo
	layer := ocispec.Descriptor{MediaType: artifacthub.LayerMediaType, Digest: digest.FromBytes(file), Size: int64(len(file)),
		Annotations: map[string]string{ocispec.AnnotationTitle: artifacthub.FileName}}
	config := ocispec.Descriptor{MediaType: artifacthub.ConfigMediaType, Digest: emptyDigest, Size: 0}
	body, err := json.Marshal(ocispec.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageManifest,
		Config:      config,
		Layers:      []ocispec.Descriptor{layer},
		Annotations: map[string]string{ocispec.AnnotationCreated: s.Updated.UTC().Format(time.RFC3339)},
	})
	if err != nil {
		return nil, err
	}
	return &artifactHubArtifact{manifest: body, digest: digest.FromBytes(body), created: s.Updated,
		blobs: map[digest.Digest][]byte{config.Digest: {}, layer.Digest: file}}, nil
}

// manifestOf is the artifact's manifest as GetManifest answers it.
func (a *artifactHubArtifact) manifestOf(repo string, withContent bool) *Manifest {
	m := &Manifest{Repository: repo, Digest: a.digest, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: artifacthub.ConfigMediaType, ConfigMediaType: artifacthub.ConfigMediaType,
		Size: int64(len(a.manifest)), Created: a.created}
	if withContent {
		m.Content = a.manifest
	}
	return m
}

// artifactHubManifest returns repo's artifacthub.io manifest when reference names it: the
// tag, or (d non-empty) its digest. nil when it does not.
func (r *Registry) artifactHubManifest(ctx context.Context, repo, tag string, d digest.Digest, withContent bool) (*Manifest, error) {
	if tag != "" && tag != artifacthub.Tag {
		return nil, nil
	}
	a, err := r.artifactHubArtifact(ctx, repo)
	if err != nil || a == nil || (d != "" && d != a.digest) {
		return nil, err
	}
	return a.manifestOf(repo, withContent), nil
}

// artifactHubBlob returns blob d of repo's artifacthub.io artifact; nil when it has none.
func (r *Registry) artifactHubBlob(ctx context.Context, repo string, d digest.Digest) ([]byte, error) {
	a, err := r.artifactHubArtifact(ctx, repo)
	if err != nil || a == nil {
		return nil, err
	}
	return a.blobs[d], nil
}

// withArtifactHubTag adds the artifacthub.io tag to a page of repo's tags (at most n after
// last, n ≤ 0: all, in lexical order) when the repository serves it.
func (r *Registry) withArtifactHubTag(ctx context.Context, repo string, tags []string, n int, last string) ([]string, error) {
	const tag = artifacthub.Tag
	if (last != "" && tag <= last) || slices.Contains(tags, tag) {
		return tags, nil
	}
	a, err := r.artifactHubArtifact(ctx, repo)
	if err != nil || a == nil {
		return tags, err
	}
	i, _ := slices.BinarySearch(tags, tag)
	tags = slices.Insert(tags, i, tag)
	if n > 0 && len(tags) > n {
		tags = tags[:n]
	}
	return tags, nil
}

// refuseArtifactHubTag refuses to push or delete (what) the artifacthub.io tag of repo while
// its namespace has Artifact Hub metadata, which that tag serves.
func (r *Registry) refuseArtifactHubTag(ctx context.Context, repo, what string) error {
	ns, _ := SplitRepository(repo)
	s, err := r.artifactHubSetting(ctx, ns)
	if err != nil || s == nil {
		return err
	}
	return fmt.Errorf("%w: %s tag %s of %s: the tag serves the Artifact Hub repository metadata of %s, set with chartroom namespace set; change it there (chartroom namespace set %s --artifacthub-repo-id … --owner …, or --artifacthub-repo-file FILE), or remove it with --no-artifacthub to push your own",
		ErrImmutable, what, artifacthub.Tag, repo, namespaceLabel(ns), namespaceArg(ns))
}

// linkArtifactHubBlobs makes the blobs of repo's artifacthub.io artifact that a manifest
// pushed to repo requires (need) stored blobs of repo: a client that found them there (a HEAD
// before its upload) and so did not upload them must find them when its manifest arrives.
func (r *Registry) linkArtifactHubBlobs(ctx context.Context, repo string, need []digest.Digest) error {
	ns, _ := SplitRepository(repo)
	if s, err := r.artifactHubSetting(ctx, ns); err != nil || s == nil {
		return err
	}
	a, err := r.artifactHubArtifact(ctx, repo)
	if err != nil || a == nil {
		return err
	}
	for _, d := range need {
		b, ok := a.blobs[d]
		if !ok {
			continue
		}
		if _, err := r.db.RepositoryBlob(ctx, repo, d); !errors.Is(err, meta.ErrNotFound) {
			continue
		}
		if _, err := r.PutBlob(ctx, repo, d, int64(len(b)), bytes.NewReader(b)); err != nil {
			return err
		}
	}
	return nil
}

// memBlob is a blob served from memory: read, seek (ranges) and close as a stored one is.
type memBlob struct{ *bytes.Reader }

func (memBlob) Close() error { return nil }

var _ io.ReadSeekCloser = memBlob{}
