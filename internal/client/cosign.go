package client

import (
	"bytes"
	"context"
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
	"github.com/chartroom/chartroom/internal/cosign"
)

// CosignForms says which forms of cosign signature [Client.SignOCI] writes.
type CosignForms int

// The forms of a cosign signature in a registry.
const (
	// CosignFormBoth writes both forms; the zero value.
	CosignFormBoth CosignForms = iota
	// CosignFormTag writes the signature tag sha256-<hex>.sig (cosign sign's default in v2).
	CosignFormTag
	// CosignFormBundle writes a sigstore bundle as an OCI referrer (cosign sign
	// --new-bundle-format, cosign 3's default).
	CosignFormBundle
)

func (f CosignForms) tag() bool    { return f != CosignFormBundle }
func (f CosignForms) bundle() bool { return f != CosignFormTag }

// Names of the forms in results.
const (
	formTag          = "tag"
	formBundle       = "bundle"
	formReferrerSigs = "referrer"
)

// maxReferrerPages bounds the pages of a manifest's referrer list read for signatures.
const maxReferrerPages = 100

// SignOCIOptions tune [Client.SignOCI].
type SignOCIOptions struct {
	// Version is a version or constraint, as for [PullOptions.Version].
	Version string
	// Forms are the forms written; the zero value writes both.
	Forms CosignForms
	// Now gives the bundle referrer's creation time; nil means time.Now.
	Now func() time.Time
}

// SignOCIResult is a chart version signed in its registry.
type SignOCIResult struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Ref is the OCI reference of the version, host/namespace/name:tag.
	Ref string `json:"ref"`
	// ManifestDigest is the digest of the signed manifest.
	ManifestDigest string `json:"manifestDigest"`
	// Signatures are the signatures written (or found already there), one per form.
	Signatures []CosignWritten `json:"signatures"`
}

// CosignWritten is one signature [Client.SignOCI] wrote, or found already there.
type CosignWritten struct {
	// Form is "tag" (the sha256-<hex>.sig tag) or "bundle" (a sigstore bundle referrer).
	Form string `json:"form"`
	// Tag is the signature tag ("" for a bundle).
	Tag string `json:"tag,omitempty"`
	// Digest is the manifest holding the signature.
	Digest string `json:"digest"`
	// Already tells that the same signer had signed this manifest in this form before:
	// nothing was written.
	Already bool `json:"already"`
}

// SignOCI signs a chart version of an OCI registry with signer in cosign's forms (opts.Forms):
// a layer added to the signature tag's manifest, and a sigstore bundle pushed as a referrer.
// A form in which the same signer already signed the manifest is left as it is, so signing
// twice changes nothing.
func (c *Client) SignOCI(ctx context.Context, ref ChartRef, signer cosign.Signer, opts SignOCIOptions) (*SignOCIResult, error) {
	op := "sign " + ref.String()
	target, err := c.ociTarget(ctx, ref, opts.Version, op, true)
	if err != nil {
		return nil, err
	}
	res := &SignOCIResult{Name: ref.Name, Version: target.version, Ref: ref.loc.ociRef(ref.Name, target.version), ManifestDigest: target.desc.Digest.String()}
	f := target.failure(op, true)
	if opts.Forms.tag() {
		w, err := c.signTag(ctx, target, signer)
		if err != nil {
			return nil, c.fail(f, err)
		}
		res.Signatures = append(res.Signatures, *w)
	}
	if opts.Forms.bundle() {
		now := time.Now
		if opts.Now != nil {
			now = opts.Now
		}
		w, err := c.signBundle(ctx, target, signer, now())
		if err != nil {
			return nil, c.fail(f, err)
		}
		res.Signatures = append(res.Signatures, *w)
	}
	return res, nil
}

// ociTarget is a chart version's manifest, the subject of cosign signatures.
type ociTarget struct {
	repo    *remote.Repository
	loc     location
	name    string
	version string
	desc    ocispec.Descriptor
}

// repository is the name cosign's payloads give it: host/namespace/name.
func (t *ociTarget) repository() string { return t.loc.host + "/" + t.loc.repoName(t.name) }

func (t *ociTarget) failure(op string, write bool) failure {
	return failure{op: op, host: t.loc.host, oci: true, write: write, scope: "oci://" + t.repository()}
}

// ociTarget resolves ref's version (want, or the one written in ref) to its manifest.
func (c *Client) ociTarget(ctx context.Context, ref ChartRef, want, op string, write bool) (*ociTarget, error) {
	if !ref.loc.oci {
		return nil, &Error{Op: op, Msg: fmt.Sprintf("%s is not an OCI reference: cosign signatures live in OCI registries; write oci://HOST/NAMESPACE/NAME", ref)}
	}
	if ref.Version != "" {
		if want != "" && want != ref.Version {
			return nil, &Error{Op: op, Msg: fmt.Sprintf("the reference says version %s but --version says %s: give one", ref.Version, want)}
		}
		want = ref.Version
	}
	v, err := c.resolve(ctx, ref.loc, ref.Name, want, op)
	if err != nil {
		return nil, err
	}
	repo, err := c.repository(ref.loc.host, ref.loc.repoName(ref.Name))
	if err != nil {
		return nil, &Error{Op: op, Msg: err.Error()}
	}
	repo.ReferrerListMaxPages = maxReferrerPages
	t := &ociTarget{repo: repo, loc: ref.loc, name: ref.Name, version: v}
	f := t.failure(op, write)
	f.notFound = fmt.Sprintf("%s has no version %s: it may have been deleted", ref, v)
	m, err := c.ociManifest(ctx, repo, chart.OCITag(v))
	if err != nil {
		return nil, c.fail(f, err)
	}
	t.desc = ocispec.Descriptor{MediaType: m.manifest.MediaType, Digest: m.manifest.Digest, Size: m.manifest.Size}
	return t, nil
}

// signTag adds signer's signature to the manifest of the target's signature tag, unless
// the signer's signature is there already.
func (c *Client) signTag(ctx context.Context, t *ociTarget, signer cosign.Signer) (*CosignWritten, error) {
	repo := t.repo
	ctx = auth.AppendRepositoryScope(ctx, repo.Reference, auth.ActionPull, auth.ActionPush)
	tag := cosign.SignatureTag(t.desc.Digest)
	layers, err := c.signatureLayers(ctx, repo, tag)
	if err != nil {
		return nil, err
	}
	payload, layer, err := cosign.SignLayer(ctx, signer, t.repository(), t.desc.Digest)
	if err != nil {
		return nil, err
	}
	for _, l := range layers {
		if l.Digest != layer.Digest {
			continue // another payload: another repository name, or annotations
		}
		if _, err := cosign.VerifyLayer(ctx, signer.Verifier(), l, payload, t.desc.Digest); err == nil {
			d, err := repo.Resolve(ctx, tag)
			if err != nil {
				return nil, err
			}
			return &CosignWritten{Form: formTag, Tag: tag, Digest: d.Digest.String(), Already: true}, nil
		}
	}
	manifest, config, err := cosign.SignatureManifest(append(layers, layer))
	if err != nil {
		return nil, err
	}
	if err := c.pushSmall(ctx, repo, layer, payload); err != nil {
		return nil, err
	}
	if err := c.pushSmall(ctx, repo, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))}, config); err != nil {
		return nil, err
	}
	mdesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manifest), Size: int64(len(manifest))}
	if err := repo.PushReference(ctx, mdesc, bytes.NewReader(manifest), tag); err != nil {
		return nil, err
	}
	return &CosignWritten{Form: formTag, Tag: tag, Digest: mdesc.Digest.String()}, nil
}

// signatureLayers reads the layers of the signature manifest tag names; none when the tag
// does not exist.
func (c *Client) signatureLayers(ctx context.Context, repo *remote.Repository, tag string) ([]ocispec.Descriptor, error) {
	desc, rc, err := repo.FetchReference(ctx, tag)
	if errors.Is(err, errdef.ErrNotFound) || isStatus(err, 404) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := readManifest(rc, desc)
	if err != nil {
		return nil, fmt.Errorf("the signature manifest %s: %w", tag, err)
	}
	layers, err := cosign.ParseSignatureManifest(data)
	if err != nil {
		return nil, fmt.Errorf("the signature manifest %s: %w", tag, err)
	}
	return layers, nil
}

// readManifest reads a manifest of at most maxManifestSize bytes, checking its digest.
func readManifest(rc io.Reader, desc ocispec.Descriptor) ([]byte, error) {
	if desc.Size > maxManifestSize {
		return nil, fmt.Errorf("%d bytes, more than a manifest may have (%d)", desc.Size, maxManifestSize)
	}
	return content.ReadAll(rc, desc)
}

// signBundle pushes signer's sigstore bundle for the target as a referrer, unless a bundle
// of the signer's already signs it.
func (c *Client) signBundle(ctx context.Context, t *ociTarget, signer cosign.Signer, now time.Time) (*CosignWritten, error) {
	repo := t.repo
	ctx = auth.AppendRepositoryScope(ctx, repo.Reference, auth.ActionPull, auth.ActionPush)
	var already string
	err := c.eachBundle(ctx, t, func(d digest.Digest, data []byte) error {
		if _, err := cosign.VerifyBundle(ctx, signer.Verifier(), data, t.desc.Digest); err == nil {
			already = d.String()
			return errStopWalk
		}
		return nil
	}, func(digest.Digest, error) {})
	if err != nil && !errors.Is(err, errStopWalk) {
		return nil, err
	}
	if already != "" {
		return &CosignWritten{Form: formBundle, Digest: already, Already: true}, nil
	}
	b, err := cosign.NewBundle(ctx, signer, t.desc.Digest)
	if err != nil {
		return nil, err
	}
	bdesc := ocispec.Descriptor{MediaType: cosign.BundleMediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	cfg := cosign.EmptyConfig()
	manifest, err := cosign.BundleManifest(bdesc, t.desc, now)
	if err != nil {
		return nil, err
	}
	if err := c.pushSmall(ctx, repo, bdesc, b); err != nil {
		return nil, err
	}
	if err := c.pushSmall(ctx, repo, ocispec.Descriptor{MediaType: ocispec.MediaTypeEmptyJSON, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}, cfg); err != nil {
		return nil, err
	}
	mdesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manifest), Size: int64(len(manifest))}
	if err := repo.Push(ctx, mdesc, bytes.NewReader(manifest)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return nil, err
	}
	return &CosignWritten{Form: formBundle, Digest: mdesc.Digest.String()}, nil
}

// errStopWalk ends a walk of referrers early.
var errStopWalk = errors.New("stop")

// pushSmall uploads a blob held in memory unless the repository has it.
func (c *Client) pushSmall(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, data []byte) error {
	exists, err := repo.Exists(ctx, desc)
	if err != nil {
		return err
	}
	if exists {
		return nil
	}
	if err := repo.Push(ctx, desc, bytes.NewReader(data)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return err
	}
	return nil
}

// errBadBlob is a signature's blob that is missing, or whose bytes do not match its
// descriptor: a broken signature rather than a registry failure.
var errBadBlob = errors.New("broken signature blob")

// readSmallBlob fetches a blob of at most limit bytes, verifying its size and digest.
func readSmallBlob(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, limit int64) ([]byte, error) {
	if desc.Size > limit || desc.Size < 0 {
		return nil, fmt.Errorf("%w: the blob %s has %d bytes, more than %d", errBadBlob, desc.Digest, desc.Size, limit)
	}
	rc, err := repo.Blobs().Fetch(ctx, desc)
	if errors.Is(err, errdef.ErrNotFound) || isStatus(err, 404) {
		return nil, fmt.Errorf("%w: the blob %s is missing", errBadBlob, desc.Digest)
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := content.ReadAll(rc, desc)
	for _, e := range []error{content.ErrMismatchedDigest, content.ErrTrailingData, content.ErrInvalidDescriptorSize, io.ErrUnexpectedEOF} {
		if errors.Is(err, e) {
			return nil, fmt.Errorf("%w: the blob %s does not match its digest and size: %v", errBadBlob, desc.Digest, err)
		}
	}
	return data, err
}

// eachBundle calls fn with each sigstore bundle referring to the target, and skip with each
// bundle referrer it could not read (a malformed manifest or blob); a registry error ends
// the walk.
func (c *Client) eachBundle(ctx context.Context, t *ociTarget, fn func(manifest digest.Digest, bundle []byte) error, skip func(digest.Digest, error)) error {
	return c.eachReferrer(ctx, t, func(r ocispec.Descriptor, manifest []byte) error {
		if r.ArtifactType != cosign.BundleMediaType {
			return nil
		}
		layer, err := cosign.BundleLayer(manifest)
		if err != nil {
			skip(r.Digest, err)
			return nil
		}
		data, err := readSmallBlob(ctx, t.repo, layer, cosign.MaxBundleSize)
		if err != nil {
			if errors.Is(err, errBadBlob) {
				skip(r.Digest, err)
				return nil
			}
			return err
		}
		return fn(r.Digest, data)
	})
}

// eachReferrer calls fn with each referrer of the target whose artifact type is a cosign
// signature's, and its manifest.
func (c *Client) eachReferrer(ctx context.Context, t *ociTarget, fn func(ocispec.Descriptor, []byte) error) error {
	var refs []ocispec.Descriptor
	err := t.repo.Referrers(ctx, t.desc, "", func(page []ocispec.Descriptor) error {
		for _, r := range page {
			if r.ArtifactType == cosign.BundleMediaType || r.ArtifactType == cosign.ExperimentalSigArtifactType {
				refs = append(refs, r)
			}
			if len(refs) > cosign.MaxSignatureLayers {
				return fmt.Errorf("%s has more than %d signature referrers; chartroom stops there: ask the registry's administrator to remove old ones", t.repository(), cosign.MaxSignatureLayers)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range refs {
		if r.Size > maxManifestSize {
			continue
		}
		rc, err := t.repo.Manifests().Fetch(ctx, r)
		if err != nil {
			return err
		}
		data, err := content.ReadAll(rc, r)
		rc.Close()
		if err != nil {
			return err
		}
		if err := fn(r, data); err != nil {
			return err
		}
	}
	return nil
}
