package cosign

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The signature tag's formats (cosign v2: pkg/oci/static, pkg/oci/empty,
// sigstore/pkg/signature/payload).
const (
	// SimpleSigningMediaType is a signature layer's media type: its blob is the payload.
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// SignatureAnnotation holds a layer's base64 signature of its payload.
	SignatureAnnotation = "dev.cosignproject.cosign/signature"
	// CertificateAnnotation holds a keyless signature's PEM certificate.
	CertificateAnnotation = "dev.sigstore.cosign/certificate"
	// ExperimentalSigArtifactType is the artifact type of signature layers pushed as an OCI
	// referrer (cosign sign --registry-referrers-mode=oci-1-1).
	ExperimentalSigArtifactType = "application/vnd.dev.cosign.artifact.sig.v1+json"
	// PayloadType is the simple-signing payload's critical.type.
	PayloadType = "cosign container image signature"
	// MaxSignatureLayers bounds the layers of a signature manifest, as cosign bounds them.
	MaxSignatureLayers = 1000
	// MaxPayloadSize bounds a simple-signing payload (cosign's are a few hundred bytes).
	MaxPayloadSize = 64 << 10
)

// SignatureTag is the tag of the signatures of the manifest d: "sha256-<hex>.sig".
func SignatureTag(d digest.Digest) string {
	return d.Algorithm().String() + "-" + d.Encoded() + ".sig"
}

// Payload is a simple-signing payload (containers/image's signature format, as cosign writes
// it): what a signature layer signs.
type Payload struct {
	Critical struct {
		Identity struct {
			// DockerReference is the repository the signer named ("host/namespace/name").
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			// DockerManifestDigest is the signed manifest's digest.
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// NewPayload is the payload cosign signs for the manifest d of repository
// ("host/namespace/name"): the same JSON, byte for byte.
func NewPayload(repository string, d digest.Digest) ([]byte, error) {
	var p Payload
	p.Critical.Identity.DockerReference = repository
	p.Critical.Image.DockerManifestDigest = d.String()
	p.Critical.Type = PayloadType
	return json.Marshal(p)
}

// ParsePayload reads a simple-signing payload of cosign's type.
func ParsePayload(data []byte) (*Payload, error) {
	var p Payload
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%w: the payload is not JSON: %v", ErrMalformed, err)
	}
	if p.Critical.Type != PayloadType {
		return nil, fmt.Errorf("%w: the payload's type is %q, not %q", ErrMalformed, p.Critical.Type, PayloadType)
	}
	return &p, nil
}

// SignLayer signs the manifest d of repository: it returns the payload (the layer's blob)
// and the layer's descriptor, whose annotations carry the signature.
func SignLayer(ctx context.Context, s Signer, repository string, d digest.Digest) ([]byte, ocispec.Descriptor, error) {
	payload, err := NewPayload(repository, d)
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	sig, err := s.Sign(ctx, payload)
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	ann := map[string]string{SignatureAnnotation: base64.StdEncoding.EncodeToString(sig.Sig)}
	if len(sig.Material.Certificate) > 0 {
		ann[CertificateAnnotation] = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: sig.Material.Certificate}))
	}
	return payload, ocispec.Descriptor{
		MediaType:   SimpleSigningMediaType,
		Digest:      digest.FromBytes(payload),
		Size:        int64(len(payload)),
		Annotations: ann,
	}, nil
}

// Verified is a signature that checked out.
type Verified struct {
	// Signer is who made it, as the Verifier names them (a key ID).
	Signer string
	// Identity is the repository a signature layer's payload names ("" for bundles).
	Identity string
}

// VerifyLayer checks one signature layer (its descriptor, as listed in the signature
// manifest, and its blob, payload) against the manifest d it should sign: the payload is
// verified with v, then read, and must name d — what `cosign verify` checks (with its default
// --check-claims). The repository the payload names is not checked, as cosign does not.
func VerifyLayer(ctx context.Context, v Verifier, layer ocispec.Descriptor, payload []byte, d digest.Digest) (*Verified, error) {
	if layer.MediaType != SimpleSigningMediaType {
		return nil, fmt.Errorf("%w: a layer of media type %q, not %s", ErrMalformed, layer.MediaType, SimpleSigningMediaType)
	}
	b64 := layer.Annotations[SignatureAnnotation]
	if b64 == "" {
		return nil, fmt.Errorf("%w: the layer has no %s annotation", ErrMalformed, SignatureAnnotation)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: the %s annotation is not base64: %v", ErrMalformed, SignatureAnnotation, err)
	}
	sig := Signature{Sig: raw}
	if c := layer.Annotations[CertificateAnnotation]; c != "" {
		if block, _ := pem.Decode([]byte(c)); block != nil {
			sig.Material.Certificate = block.Bytes
		}
	}
	signer, err := v.Verify(ctx, payload, sig)
	if err != nil {
		return nil, err
	}
	p, err := ParsePayload(payload)
	if err != nil {
		return nil, err
	}
	if p.Critical.Image.DockerManifestDigest != d.String() {
		return nil, fmt.Errorf("%w: it signs %s (%s), not %s", ErrWrongDigest, p.Critical.Image.DockerManifestDigest, p.Critical.Identity.DockerReference, d)
	}
	return &Verified{Signer: signer, Identity: p.Critical.Identity.DockerReference}, nil
}

// SignatureManifest is the manifest of a signature tag holding layers (each made by
// [SignLayer], or kept from the tag's previous manifest), and its config: an OCI image
// manifest and image config, as cosign writes them (the config's rootfs lists the layers).
func SignatureManifest(layers []ocispec.Descriptor) (manifest, config []byte, err error) {
	if len(layers) > MaxSignatureLayers {
		return nil, nil, fmt.Errorf("a signature manifest holds at most %d signatures; this one would hold %d", MaxSignatureLayers, len(layers))
	}
	diffIDs := make([]digest.Digest, len(layers))
	history := make([]ocispec.History, len(layers))
	var epoch time.Time // cosign's: the zero time, unless --record-creation-timestamp
	for i, l := range layers {
		diffIDs[i] = l.Digest
		history[i] = ocispec.History{Created: &epoch}
	}
	img := ocispec.Image{
		Created:  &epoch,
		History:  history,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
		Platform: ocispec.Platform{},
	}
	if config, err = json.Marshal(img); err != nil {
		return nil, nil, err
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{
			MediaType: ocispec.MediaTypeImageConfig,
			Digest:    digest.FromBytes(config),
			Size:      int64(len(config)),
		},
		Layers: layers,
	}
	if m.Layers == nil {
		m.Layers = []ocispec.Descriptor{}
	}
	if manifest, err = json.Marshal(m); err != nil {
		return nil, nil, err
	}
	return manifest, config, nil
}

// ParseSignatureManifest reads a signature manifest (of the tag, or an OCI 1.1 referrer) and
// returns its layers.
func ParseSignatureManifest(data []byte) ([]ocispec.Descriptor, error) {
	var m ocispec.Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: the signature manifest is not JSON: %v", ErrMalformed, err)
	}
	if m.SchemaVersion != 2 || m.Config.Digest == "" {
		return nil, fmt.Errorf("%w: the signature manifest is not an image manifest", ErrMalformed)
	}
	if len(m.Layers) > MaxSignatureLayers {
		return nil, fmt.Errorf("%w: the signature manifest lists %d layers; cosign writes at most %d", ErrMalformed, len(m.Layers), MaxSignatureLayers)
	}
	return m.Layers, nil
}
