package registry

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/cosign"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/provenance"
)

// Every chart version records the status of its signatures (see SignatureStatus): its .prov,
// checked when it comes in (with the chart over either protocol, a provenance layer of helm
// push included, or attached after it), and its cosign signatures, checked when they come in
// (a manifest tagged sha256-<hex>.sig, or a sigstore bundle pushed as a referrer), each against
// the keys its namespace trusts at that moment. In a signed-only namespace a version without a
// valid signature is quarantined until one arrives.

// maxSignatureLayer bounds a cosign signature payload or bundle read to verify it.
const maxSignatureLayer = cosign.MaxBundleSize

// sigTag is the tag cosign gives the signatures of a manifest: sha256-<hex>.sig.
var sigTag = regexp.MustCompile(`^sha256-([0-9a-f]{64})\.sig$`)

// provStatus checks who signed a .prov against the keys namespace ns trusts.
func (r *Registry) provStatus(ctx context.Context, ns string, p meta.NamespacePolicy, prov []byte) (SignatureStatus, error) {
	keys, err := r.trustedKeys(ctx, ns, p)
	if err != nil {
		return SignatureStatus{}, err
	}
	if len(keys.gpg) == 0 {
		return SignatureStatus{Status: SignatureInvalid, Error: fmt.Sprintf("%s trusts no OpenPGP key: add the signer's public key with chartroom trust add %s --gpg-keyring FILE", namespaceLabel(ns), nsArg(ns))}, nil
	}
	signer, err := provenance.VerifySignature(prov, keys.gpg)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, provenance.ErrUnknownKey) {
			msg = fmt.Sprintf("the .prov is signed by a key %s does not trust (chartroom trust list %s)", namespaceLabel(ns), nsArg(ns))
		}
		return SignatureStatus{Status: SignatureInvalid, Error: msg}, nil
	}
	return SignatureStatus{Status: SignatureValid, Signer: provenance.Fingerprint(signer)}, nil
}

// nsArg is namespace ns as a command line names it.
func nsArg(ns string) string {
	if ns == "" {
		return "/"
	}
	return ns
}

// signedManifest returns the manifest whose cosign signatures a pushed manifest holds: the
// one its sha256-<hex>.sig tag names, or the subject of a signature referrer (a sigstore
// bundle, or cosign's OCI 1.1 signature artifact); "" for any other manifest.
func signedManifest(tags []string, doc *manifestDoc) digest.Digest {
	for _, t := range tags {
		if m := sigTag.FindStringSubmatch(t); m != nil {
			return digest.NewDigestFromEncoded(digest.SHA256, m[1])
		}
	}
	if doc.Subject != nil && (doc.ArtifactType == cosign.BundleMediaType || doc.ArtifactType == cosign.ExperimentalSigArtifactType ||
		len(doc.Layers) == 1 && strings.HasPrefix(doc.Layers[0].MediaType, "application/vnd.dev.sigstore.bundle")) {
		return doc.Subject.Digest
	}
	return ""
}

// recordCosign checks the cosign signatures manifest body (pushed to repo) holds for the
// manifest signed, when that manifest publishes a chart version, and records their status on
// the version. A signature that does not check out leaves a valid status as it was. Failures
// to read are logged: the signature's push stands.
func (r *Registry) recordCosign(ctx context.Context, repo string, signed digest.Digest, body []byte, doc *manifestDoc) {
	m, err := r.db.GetManifest(ctx, repo, signed.String(), false, false)
	if err != nil || m.ConfigMediaType != chart.ConfigMediaType {
		return // not a chart version (an image, or not here): nothing to record
	}
	ns, _ := SplitRepository(repo)
	st, err := r.cosignStatus(ctx, repo, ns, signed, body, doc)
	if err == nil {
		_, err = r.db.SetChartSignature(ctx, repo, signed.String(), true, st.metaStatus())
	}
	if err != nil {
		r.log.Warn("record a cosign signature", "repository", repo, "signed", signed, "error", err)
	}
}

// cosignStatus checks the signatures of manifest body against namespace ns's cosign keys.
func (r *Registry) cosignStatus(ctx context.Context, repo, ns string, signed digest.Digest, body []byte, doc *manifestDoc) (SignatureStatus, error) {
	p, err := r.policy(ctx, ns)
	if err != nil {
		return SignatureStatus{}, err
	}
	keys, err := r.trustedKeys(ctx, ns, p)
	if err != nil {
		return SignatureStatus{}, err
	}
	if len(keys.cosign) == 0 {
		return SignatureStatus{Status: SignatureInvalid, Error: fmt.Sprintf("%s trusts no cosign key: add the signer's public key with chartroom trust add %s --cosign-key cosign.pub", namespaceLabel(ns), nsArg(ns))}, nil
	}
	v := cosign.NewKeyVerifier(keys.cosign...)
	var firstErr error
	try := func(ver *cosign.Verified, err error) (SignatureStatus, bool) {
		if err == nil {
			return SignatureStatus{Status: SignatureValid, Signer: ver.Signer}, true
		}
		if firstErr == nil {
			firstErr = err
		}
		return SignatureStatus{}, false
	}
	if doc.ArtifactType == cosign.BundleMediaType || len(doc.Layers) == 1 && strings.HasPrefix(doc.Layers[0].MediaType, "application/vnd.dev.sigstore.bundle") {
		layer, err := cosign.BundleLayer(body)
		if err == nil {
			var data []byte
			if data, err = r.readSmallBlob(ctx, repo, layer.Digest, maxSignatureLayer); err != nil {
				return SignatureStatus{}, err
			}
			if st, ok := try(cosign.VerifyBundle(ctx, v, data, signed)); ok {
				return st, nil
			}
		} else {
			firstErr = err
		}
	} else {
		layers, err := cosign.ParseSignatureManifest(body)
		if err != nil {
			firstErr = err
		}
		for _, l := range layers {
			payload, err := r.readSmallBlob(ctx, repo, l.Digest, maxSignatureLayer)
			if err != nil {
				return SignatureStatus{}, err
			}
			if st, ok := try(cosign.VerifyLayer(ctx, v, l, payload, signed)); ok {
				return st, nil
			}
		}
	}
	msg := "no signature"
	if firstErr != nil {
		msg = firstErr.Error()
	}
	if errors.Is(firstErr, cosign.ErrBadSignature) {
		msg = fmt.Sprintf("the cosign signature was not made by a key %s trusts (chartroom trust list %s), or what it signs changed", namespaceLabel(ns), nsArg(ns))
	}
	return SignatureStatus{Status: SignatureInvalid, Error: msg}, nil
}
