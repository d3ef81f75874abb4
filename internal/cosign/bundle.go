package cosign

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The bundle's formats (sigstore protobuf-specs bundle v0.3 in its JSON form; cosign v2:
// pkg/cosign/bundle/protobundle.go, pkg/oci/remote/write.go WriteAttestationNewBundleFormat).
const (
	// BundleMediaType is a sigstore bundle v0.3: the bundle's own mediaType, its layer's
	// media type and its referrer's artifact type.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// InTotoPayloadType is the DSSE payload type of an in-toto statement.
	InTotoPayloadType = "application/vnd.in-toto+json"
	// InTotoStatementType is an in-toto statement v1's _type.
	InTotoStatementType = "https://in-toto.io/Statement/v1"
	// SignPredicateType is the predicate type of cosign's image signatures in bundles.
	SignPredicateType = "https://sigstore.dev/cosign/sign/v1"
	// MaxBundleSize bounds a bundle (cosign's are a few kilobytes, a certificate and a
	// transparency-log entry included).
	MaxBundleSize = 1 << 20

	// Annotations of the referrer manifest, as cosign writes them.
	annotationCreated       = ocispec.AnnotationCreated
	annotationContent       = "dev.sigstore.bundle.content"
	annotationPredicateType = "dev.sigstore.bundle.predicateType"
)

// emptyConfig is the referrer manifest's config: the OCI empty descriptor's blob.
var emptyConfig = []byte("{}")

// EmptyConfig returns the config blob of a bundle's referrer manifest, "{}".
func EmptyConfig() []byte { return bytes.Clone(emptyConfig) }

// bundle is a sigstore bundle in protobuf-specs' JSON form (camelCase field names, bytes
// in base64), with what chartroom reads and writes.
type bundle struct {
	MediaType            string               `json:"mediaType"`
	VerificationMaterial verificationMaterial `json:"verificationMaterial"`
	DSSEEnvelope         *dsseEnvelope        `json:"dsseEnvelope,omitempty"`
	MessageSignature     json.RawMessage      `json:"messageSignature,omitempty"`
}

type verificationMaterial struct {
	PublicKey *struct {
		Hint string `json:"hint"`
	} `json:"publicKey,omitempty"`
	Certificate *struct {
		RawBytes string `json:"rawBytes"`
	} `json:"certificate,omitempty"`
	X509CertificateChain      json.RawMessage `json:"x509CertificateChain,omitempty"`
	TlogEntries               json.RawMessage `json:"tlogEntries,omitempty"`
	TimestampVerificationData json.RawMessage `json:"timestampVerificationData,omitempty"`
}

type dsseEnvelope struct {
	Payload     string          `json:"payload"`
	PayloadType string          `json:"payloadType"`
	Signatures  []dsseSignature `json:"signatures"`
}

type dsseSignature struct {
	Sig   string `json:"sig"`
	KeyID string `json:"keyid,omitempty"`
}

// statement is an in-toto statement, as far as a signature's is read.
type statement struct {
	Type          string            `json:"_type"`
	Subject       []statementDigest `json:"subject"`
	PredicateType string            `json:"predicateType"`
}

type statementDigest struct {
	Name   string            `json:"name,omitempty"`
	Digest map[string]string `json:"digest"`
}

// pae is DSSE's pre-authentication encoding: what a DSSE signature signs.
func pae(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(payload)))
	b.WriteByte(' ')
	b.Write(payload)
	return b.Bytes()
}

// NewBundle signs the manifest d as `cosign sign --new-bundle-format` does: an in-toto
// statement (subject: d; predicate type: [SignPredicateType]) in a DSSE envelope, in a bundle
// v0.3 whose verification material is the signer's key hint (or certificate), without
// transparency-log entries.
func NewBundle(ctx context.Context, s Signer, d digest.Digest) ([]byte, error) {
	st, err := json.Marshal(statement{
		Type:          InTotoStatementType,
		Subject:       []statementDigest{{Digest: map[string]string{d.Algorithm().String(): d.Encoded()}}},
		PredicateType: SignPredicateType,
	})
	if err != nil {
		return nil, err
	}
	sig, err := s.Sign(ctx, pae(InTotoPayloadType, st))
	if err != nil {
		return nil, err
	}
	b := bundle{
		MediaType: BundleMediaType,
		DSSEEnvelope: &dsseEnvelope{
			Payload:     base64.StdEncoding.EncodeToString(st),
			PayloadType: InTotoPayloadType,
			Signatures:  []dsseSignature{{Sig: base64.StdEncoding.EncodeToString(sig.Sig)}},
		},
	}
	switch {
	case len(sig.Material.Certificate) > 0:
		b.VerificationMaterial.Certificate = &struct {
			RawBytes string `json:"rawBytes"`
		}{base64.StdEncoding.EncodeToString(sig.Material.Certificate)}
	case sig.Material.KeyHint != "":
		b.VerificationMaterial.PublicKey = &struct {
			Hint string `json:"hint"`
		}{sig.Material.KeyHint}
	default:
		return nil, fmt.Errorf("the signer gave no verification material (key hint or certificate)")
	}
	return json.Marshal(b)
}

// VerifyBundle checks a bundle against the manifest d it should sign: the bundle must be a
// v0.3 one holding a DSSE envelope of an in-toto statement, the envelope's signature must
// verify with v, and the statement must name d among its subjects and be a signature
// ([SignPredicateType]; another predicate type is an attestation: [ErrNotSignature]).
// Transparency-log entries and timestamps in the bundle are not checked (`cosign verify
// --key … --insecure-ignore-tlog`).
func VerifyBundle(ctx context.Context, v Verifier, data []byte, d digest.Digest) (*Verified, error) {
	if len(data) > MaxBundleSize {
		return nil, fmt.Errorf("%w: the bundle has %d bytes, more than %d", ErrMalformed, len(data), MaxBundleSize)
	}
	var b bundle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%w: the bundle is not JSON: %v", ErrMalformed, err)
	}
	if b.MediaType != BundleMediaType && b.MediaType != "application/vnd.dev.sigstore.bundle+json;version=0.3" {
		return nil, fmt.Errorf("%w: a bundle of media type %q; cosign stores v0.3 bundles (%s) in registries", ErrMalformed, b.MediaType, BundleMediaType)
	}
	if b.DSSEEnvelope == nil {
		if len(b.MessageSignature) > 0 {
			return nil, fmt.Errorf("%w: the bundle holds a message signature, which cosign verify does not accept for images; it holds a DSSE envelope", ErrMalformed)
		}
		return nil, fmt.Errorf("%w: the bundle holds no DSSE envelope", ErrMalformed)
	}
	env := b.DSSEEnvelope
	if env.PayloadType != InTotoPayloadType {
		return nil, fmt.Errorf("%w: a DSSE envelope of payload type %q, not %s", ErrMalformed, env.PayloadType, InTotoPayloadType)
	}
	payload, err := decodeBase64(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: the DSSE payload: %v", ErrMalformed, err)
	}
	var m Material
	switch vm := b.VerificationMaterial; {
	case vm.PublicKey != nil:
		m.KeyHint = vm.PublicKey.Hint
	case vm.Certificate != nil:
		if m.Certificate, err = decodeBase64(vm.Certificate.RawBytes); err != nil {
			return nil, fmt.Errorf("%w: the certificate: %v", ErrMalformed, err)
		}
	case len(vm.X509CertificateChain) > 0:
		return nil, fmt.Errorf("%w: a v0.3 bundle with a certificate chain, which v0.3 does not allow", ErrMalformed)
	default:
		return nil, fmt.Errorf("%w: the bundle has no verification material", ErrMalformed)
	}
	if len(env.Signatures) == 0 {
		return nil, fmt.Errorf("%w: the DSSE envelope has no signature", ErrMalformed)
	}
	message := pae(env.PayloadType, payload)
	var signer string
	var firstErr error
	for _, s := range env.Signatures {
		raw, err := decodeBase64(s.Sig)
		if err != nil {
			return nil, fmt.Errorf("%w: a DSSE signature: %v", ErrMalformed, err)
		}
		if signer, err = v.Verify(ctx, message, Signature{Sig: raw, Material: m}); err == nil {
			break
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if signer == "" {
		return nil, firstErr
	}
	var st statement
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, fmt.Errorf("%w: the DSSE payload is not an in-toto statement: %v", ErrMalformed, err)
	}
	if st.Type != InTotoStatementType && st.Type != "https://in-toto.io/Statement/v0.1" {
		return nil, fmt.Errorf("%w: the DSSE payload's _type is %q, not an in-toto statement", ErrMalformed, st.Type)
	}
	if st.PredicateType != SignPredicateType {
		return nil, fmt.Errorf("%w: it attests %q (cosign attest), while a signature's predicate type is %s", ErrNotSignature, st.PredicateType, SignPredicateType)
	}
	var names []string
	for _, sub := range st.Subject {
		if sub.Digest[d.Algorithm().String()] == d.Encoded() {
			return &Verified{Signer: signer}, nil
		}
		for alg, hex := range sub.Digest {
			names = append(names, alg+":"+hex)
		}
	}
	return nil, fmt.Errorf("%w: it signs %v, not %s", ErrWrongDigest, names, d)
}

// decodeBase64 reads protobuf JSON bytes: standard or URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("not base64")
}

// BundleManifest is the referrer manifest cosign pushes for a bundle: an OCI image manifest
// of artifact type [BundleMediaType], the empty config, the bundle as its one layer, subject
// the signed manifest, and cosign's annotations (created: the time given).
func BundleManifest(bundleDesc, subject ocispec.Descriptor, created time.Time) ([]byte, error) {
	cfg := ocispec.Descriptor{
		MediaType: ocispec.MediaTypeEmptyJSON,
		Digest:    digest.FromBytes(emptyConfig),
		Size:      int64(len(emptyConfig)),
	}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: BundleMediaType,
		Config:       cfg,
		Layers:       []ocispec.Descriptor{bundleDesc},
		Subject:      &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations: map[string]string{
			annotationCreated:       created.UTC().Format(time.RFC3339),
			annotationContent:       "dsse-envelope",
			annotationPredicateType: SignPredicateType,
		},
	}
	return json.Marshal(m)
}

// BundleLayer finds the bundle layer of a referrer manifest: its one layer, of a sigstore
// bundle media type (as cosign reads it).
func BundleLayer(manifest []byte) (ocispec.Descriptor, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%w: the referrer manifest is not JSON: %v", ErrMalformed, err)
	}
	if len(m.Layers) != 1 || !strings.HasPrefix(m.Layers[0].MediaType, "application/vnd.dev.sigstore.bundle") {
		return ocispec.Descriptor{}, fmt.Errorf("%w: the referrer manifest does not hold one bundle layer (%s)", ErrMalformed, BundleMediaType)
	}
	return m.Layers[0], nil
}
