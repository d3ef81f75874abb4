package client

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/chartroom/chartroom/internal/cosign"
)

// VerifyOCIResult is a chart version whose cosign signatures were checked.
type VerifyOCIResult struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Ref is the OCI reference of the version, host/namespace/name:tag.
	Ref string `json:"ref"`
	// ManifestDigest is the digest of the manifest the signatures must sign.
	ManifestDigest string `json:"manifestDigest"`
	// Signatures are every cosign signature found, those that failed included.
	Signatures []CosignChecked `json:"signatures"`
}

// CosignChecked is one signature found and what its check said.
type CosignChecked struct {
	// Form is "tag" (a layer of the sha256-<hex>.sig tag), "bundle" (a sigstore bundle
	// referrer) or "referrer" (a layer of a signature pushed as an OCI 1.1 referrer).
	Form string `json:"form"`
	// Digest is the manifest holding the signature.
	Digest string `json:"digest"`
	// Verified tells whether it checked out; Signer is then the key that made it.
	Verified bool   `json:"verified"`
	Signer   string `json:"signer,omitempty"`
	// Identity is the repository a simple-signing payload names ("" for bundles).
	Identity string `json:"identity,omitempty"`
	// Problem says why it did not check out.
	Problem string `json:"problem,omitempty"`
}

// Verified lists the signatures that checked out.
func (r *VerifyOCIResult) Verified() []CosignChecked {
	var out []CosignChecked
	for _, s := range r.Signatures {
		if s.Verified {
			out = append(out, s)
		}
	}
	return out
}

// VerifyOCI checks the cosign signatures of a chart version of an OCI registry (version is a
// version or constraint, as for [PullOptions.Version]): the layers of its signature tag,
// its sigstore bundle referrers and its OCI 1.1 signature referrers. It succeeds when at
// least one signature verifies with v and signs exactly the version's manifest; otherwise it
// fails with an [*Error] of kind [ErrVerifyFailed] that says what was found and why each
// signature was refused.
func (c *Client) VerifyOCI(ctx context.Context, ref ChartRef, v cosign.Verifier, version string) (*VerifyOCIResult, error) {
	op := "verify " + ref.String()
	t, err := c.ociTarget(ctx, ref, version, op, false)
	if err != nil {
		return nil, err
	}
	res := &VerifyOCIResult{Name: ref.Name, Version: t.version, Ref: ref.loc.ociRef(ref.Name, t.version), ManifestDigest: t.desc.Digest.String()}
	ctx = auth.AppendRepositoryScope(ctx, t.repo.Reference, auth.ActionPull)
	f := t.failure(op, false)
	if err := c.checkTag(ctx, t, v, res); err != nil {
		return nil, c.fail(f, err)
	}
	if err := c.checkReferrers(ctx, t, v, res); err != nil {
		return nil, c.fail(f, err)
	}
	if len(res.Verified()) > 0 {
		return res, nil
	}
	what := fmt.Sprintf("%s %s (%s)", ref.Name, t.version, t.desc.Digest)
	if len(res.Signatures) == 0 {
		return nil, &Error{Op: op, Kind: ErrVerifyFailed, Msg: fmt.Sprintf("%s has no cosign signature (no %s tag, no sigstore bundle referrer): sign it with chartroom sign %s --version %s --key cosign.key, or cosign sign --key cosign.key", what, cosign.SignatureTag(t.desc.Digest), ref, t.version)}
	}
	var why []string
	for _, s := range res.Signatures {
		why = append(why, fmt.Sprintf("%s %s: %s", s.Form, s.Digest, s.Problem))
	}
	return nil, &Error{Op: op, Kind: ErrVerifyFailed, Msg: fmt.Sprintf("no cosign signature of %s checks out with the key given (%s)", what, strings.Join(why, "; "))}
}

// checkTag checks each layer of the target's signature tag.
func (c *Client) checkTag(ctx context.Context, t *ociTarget, v cosign.Verifier, res *VerifyOCIResult) error {
	tag := cosign.SignatureTag(t.desc.Digest)
	layers, err := c.signatureLayers(ctx, t.repo, tag)
	if errors.Is(err, cosign.ErrMalformed) {
		res.Signatures = append(res.Signatures, CosignChecked{Form: formTag, Digest: tag, Problem: oneLine(err)})
		return nil
	}
	if err != nil || len(layers) == 0 {
		return err
	}
	d, err := t.repo.Resolve(ctx, tag)
	if err != nil {
		return err
	}
	return c.checkLayers(ctx, t, v, formTag, d.Digest, layers, res)
}

// checkLayers checks signature layers (of the tag, or of an OCI 1.1 referrer).
func (c *Client) checkLayers(ctx context.Context, t *ociTarget, v cosign.Verifier, form string, holder digest.Digest, layers []ocispec.Descriptor, res *VerifyOCIResult) error {
	for _, l := range layers {
		chk := CosignChecked{Form: form, Digest: holder.String()}
		payload, err := readSmallBlob(ctx, t.repo, l, cosign.MaxPayloadSize)
		if err == nil {
			var ok *cosign.Verified
			if ok, err = cosign.VerifyLayer(ctx, v, l, payload, t.desc.Digest); err == nil {
				chk.Verified, chk.Signer, chk.Identity = true, ok.Signer, ok.Identity
			}
		}
		if err != nil {
			if !isSignatureProblem(err) {
				return err
			}
			chk.Problem = oneLine(err)
		}
		res.Signatures = append(res.Signatures, chk)
	}
	return nil
}

// checkReferrers checks the target's sigstore bundles and OCI 1.1 signature referrers.
func (c *Client) checkReferrers(ctx context.Context, t *ociTarget, v cosign.Verifier, res *VerifyOCIResult) error {
	return c.eachReferrer(ctx, t, func(r ocispec.Descriptor, manifest []byte) error {
		if r.ArtifactType == cosign.ExperimentalSigArtifactType {
			layers, err := cosign.ParseSignatureManifest(manifest)
			if err != nil {
				res.Signatures = append(res.Signatures, CosignChecked{Form: formReferrerSigs, Digest: r.Digest.String(), Problem: oneLine(err)})
				return nil
			}
			return c.checkLayers(ctx, t, v, formReferrerSigs, r.Digest, layers, res)
		}
		chk := CosignChecked{Form: formBundle, Digest: r.Digest.String()}
		layer, err := cosign.BundleLayer(manifest)
		var data []byte
		if err == nil {
			data, err = readSmallBlob(ctx, t.repo, layer, cosign.MaxBundleSize)
		}
		if err == nil {
			var ok *cosign.Verified
			if ok, err = cosign.VerifyBundle(ctx, v, data, t.desc.Digest); err == nil {
				chk.Verified, chk.Signer = true, ok.Signer
			}
		}
		if err != nil {
			if !isSignatureProblem(err) {
				return err
			}
			chk.Problem = oneLine(err)
		}
		res.Signatures = append(res.Signatures, chk)
		return nil
	})
}

// isSignatureProblem tells a signature that does not check out (or a blob that is not one)
// from a failure to talk to the registry.
func isSignatureProblem(err error) bool {
	for _, e := range []error{cosign.ErrBadSignature, cosign.ErrKeyless, cosign.ErrWrongDigest, cosign.ErrMalformed, cosign.ErrNotSignature, errBadBlob} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
