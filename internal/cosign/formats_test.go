package cosign

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func newSigner(t *testing.T) *KeySigner {
	t.Helper()
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewKeySigner(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const testRepo = "charts.example.com/team/myapp"

var (
	manifestA = digest.FromString("manifest a")
	manifestB = digest.FromString("manifest b")
)

// The payload is cosign's, byte for byte (sigstore/pkg/signature/payload: json.Marshal of
// SimpleContainerImage with no annotations).
func TestPayloadBytes(t *testing.T) {
	got, err := NewPayload(testRepo, manifestA)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"critical":{"identity":{"docker-reference":"charts.example.com/team/myapp"},"image":{"docker-manifest-digest":"` + manifestA.String() + `"},"type":"cosign container image signature"},"optional":null}`
	if string(got) != want {
		t.Fatalf("payload\n%s\nwant\n%s", got, want)
	}
	p, err := ParsePayload(got)
	if err != nil || p.Critical.Image.DockerManifestDigest != manifestA.String() || p.Critical.Identity.DockerReference != testRepo {
		t.Fatalf("parsed %+v, %v", p, err)
	}
	if _, err := ParsePayload([]byte(`{"critical":{"type":"atomic container signature"}}`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("another type: %v", err)
	}
}

func TestSignatureTag(t *testing.T) {
	if got, want := SignatureTag(manifestA), "sha256-"+manifestA.Encoded()+".sig"; got != want {
		t.Fatalf("%s, want %s", got, want)
	}
}

func TestSignLayerVerifyLayer(t *testing.T) {
	ctx := context.Background()
	s := newSigner(t)
	other := newSigner(t)
	payload, layer, err := SignLayer(ctx, s, testRepo, manifestA)
	if err != nil {
		t.Fatal(err)
	}
	if layer.MediaType != SimpleSigningMediaType || layer.Digest != digest.FromBytes(payload) || layer.Size != int64(len(payload)) {
		t.Fatalf("layer %+v", layer)
	}
	// The annotation is a base64 ASN.1 ECDSA signature of SHA-256(payload): what cosign checks.
	sig, err := base64.StdEncoding.DecodeString(layer.Annotations[SignatureAnnotation])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(payload)
	if !ecdsa.VerifyASN1(s.PublicKey().ECDSA(), sum[:], sig) {
		t.Fatal("the annotation does not verify as ECDSA-SHA256 over the payload")
	}
	v, err := VerifyLayer(ctx, s.Verifier(), layer, payload, manifestA)
	if err != nil || v.Signer != s.PublicKey().ID() || v.Identity != testRepo {
		t.Fatalf("verify: %+v, %v", v, err)
	}
	tampered := []byte(strings.Replace(string(payload), "team", "evil", 1))
	noSig := layer
	noSig.Annotations = map[string]string{}
	wrongType := layer
	wrongType.MediaType = "application/octet-stream"
	for _, tc := range []struct {
		name    string
		v       Verifier
		layer   ocispec.Descriptor
		payload []byte
		d       digest.Digest
		want    error
	}{
		{"another key", other.Verifier(), layer, payload, manifestA, ErrBadSignature},
		{"a tampered payload", s.Verifier(), layer, tampered, manifestA, ErrBadSignature},
		{"a signature of another manifest", s.Verifier(), layer, payload, manifestB, ErrWrongDigest},
		{"no signature annotation", s.Verifier(), noSig, payload, manifestA, ErrMalformed},
		{"another media type", s.Verifier(), wrongType, payload, manifestA, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := VerifyLayer(ctx, tc.v, tc.layer, tc.payload, tc.d); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// A verifier trusting several keys accepts either.
	if _, err := VerifyLayer(ctx, NewKeyVerifier(other.PublicKey(), s.PublicKey()), layer, payload, manifestA); err != nil {
		t.Fatalf("two trusted keys: %v", err)
	}
}

func TestSignatureManifest(t *testing.T) {
	ctx := context.Background()
	s := newSigner(t)
	_, l1, _ := SignLayer(ctx, s, testRepo, manifestA)
	_, l2, _ := SignLayer(ctx, newSigner(t), testRepo, manifestA)
	manifest, config, err := SignatureManifest([]ocispec.Descriptor{l1, l2})
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		t.Fatal(err)
	}
	if m.MediaType != ocispec.MediaTypeImageManifest || m.Config.MediaType != ocispec.MediaTypeImageConfig ||
		m.Config.Digest != digest.FromBytes(config) || len(m.Layers) != 2 || m.Layers[1].Annotations[SignatureAnnotation] == "" {
		t.Fatalf("manifest %s", manifest)
	}
	var img ocispec.Image
	if err := json.Unmarshal(config, &img); err != nil || img.RootFS.Type != "layers" || len(img.RootFS.DiffIDs) != 2 || img.RootFS.DiffIDs[0] != l1.Digest {
		t.Fatalf("config %s (%v)", config, err)
	}
	layers, err := ParseSignatureManifest(manifest)
	if err != nil || len(layers) != 2 {
		t.Fatalf("parse: %v %v", layers, err)
	}
	if _, _, err := SignatureManifest(make([]ocispec.Descriptor, MaxSignatureLayers+1)); err == nil {
		t.Error("more layers than cosign reads were accepted")
	}
}

func TestBundle(t *testing.T) {
	ctx := context.Background()
	s := newSigner(t)
	b, err := NewBundle(ctx, s, manifestA)
	if err != nil {
		t.Fatal(err)
	}
	// The JSON form of a protobuf-specs bundle v0.3, as cosign writes it offline: the key's
	// hint as verification material, a DSSE envelope of an in-toto statement, no tlog entries.
	var doc struct {
		MediaType            string `json:"mediaType"`
		VerificationMaterial struct {
			PublicKey struct {
				Hint string `json:"hint"`
			} `json:"publicKey"`
			TlogEntries []any `json:"tlogEntries"`
		} `json:"verificationMaterial"`
		DSSEEnvelope struct {
			Payload     []byte `json:"payload"`
			PayloadType string `json:"payloadType"`
			Signatures  []struct {
				Sig []byte `json:"sig"`
			} `json:"signatures"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.MediaType != BundleMediaType || doc.VerificationMaterial.PublicKey.Hint != s.PublicKey().Hint() ||
		doc.VerificationMaterial.TlogEntries != nil || doc.DSSEEnvelope.PayloadType != InTotoPayloadType || len(doc.DSSEEnvelope.Signatures) != 1 {
		t.Fatalf("bundle %s", b)
	}
	wantStatement := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + manifestA.Encoded() + `"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1"}`
	if string(doc.DSSEEnvelope.Payload) != wantStatement {
		t.Fatalf("statement\n%s\nwant\n%s", doc.DSSEEnvelope.Payload, wantStatement)
	}
	// The DSSE signature signs the pre-authentication encoding.
	paeWant := "DSSEv1 28 application/vnd.in-toto+json " + itoa(len(wantStatement)) + " " + wantStatement
	sum := sha256.Sum256([]byte(paeWant))
	if !ecdsa.VerifyASN1(s.PublicKey().ECDSA(), sum[:], doc.DSSEEnvelope.Signatures[0].Sig) {
		t.Fatal("the DSSE signature does not verify over PAE")
	}
	v, err := VerifyBundle(ctx, s.Verifier(), b, manifestA)
	if err != nil || v.Signer != s.PublicKey().ID() {
		t.Fatalf("verify: %+v %v", v, err)
	}

	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		json.Unmarshal(b, &m)
		f(m)
		out, _ := json.Marshal(m)
		return out
	}
	env := func(m map[string]any) map[string]any { return m["dsseEnvelope"].(map[string]any) }
	statementB := strings.Replace(wantStatement, manifestA.Encoded(), manifestB.Encoded(), 1)
	attestation := strings.Replace(wantStatement, SignPredicateType, "https://slsa.dev/provenance/v1", 1)
	signed := func(statement string) []byte {
		sig, _ := s.Sign(ctx, pae(InTotoPayloadType, []byte(statement)))
		return edit(func(m map[string]any) {
			env(m)["payload"] = base64.StdEncoding.EncodeToString([]byte(statement))
			env(m)["signatures"] = []any{map[string]any{"sig": base64.StdEncoding.EncodeToString(sig.Sig)}}
		})
	}
	for _, tc := range []struct {
		name string
		v    Verifier
		data []byte
		d    digest.Digest
		want error
	}{
		{"another key", newSigner(t).Verifier(), b, manifestA, ErrBadSignature},
		{"another manifest", s.Verifier(), b, manifestB, ErrWrongDigest},
		{"a tampered statement", s.Verifier(), edit(func(m map[string]any) {
			env(m)["payload"] = base64.StdEncoding.EncodeToString([]byte(statementB))
		}), manifestB, ErrBadSignature},
		{"a signed statement of another manifest", s.Verifier(), signed(statementB), manifestA, ErrWrongDigest},
		{"an attestation", s.Verifier(), signed(attestation), manifestA, ErrNotSignature},
		{"another payload type", s.Verifier(), edit(func(m map[string]any) { env(m)["payloadType"] = "text/plain" }), manifestA, ErrMalformed},
		{"bundle v0.4", s.Verifier(), edit(func(m map[string]any) { m["mediaType"] = "application/vnd.dev.sigstore.bundle.v0.4+json" }), manifestA, ErrMalformed},
		{"no verification material", s.Verifier(), edit(func(m map[string]any) { delete(m, "verificationMaterial") }), manifestA, ErrMalformed},
		{"a message signature", s.Verifier(), edit(func(m map[string]any) {
			delete(m, "dsseEnvelope")
			m["messageSignature"] = map[string]any{"signature": "AAAA"}
		}), manifestA, ErrMalformed},
		{"not JSON", s.Verifier(), []byte("{"), manifestA, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := VerifyBundle(ctx, tc.v, tc.data, tc.d); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// Base64 without padding or URL-safe (protobuf JSON allows both) reads the same.
	raw := edit(func(m map[string]any) {
		p, _ := base64.StdEncoding.DecodeString(env(m)["payload"].(string))
		env(m)["payload"] = base64.RawURLEncoding.EncodeToString(p)
	})
	if _, err := VerifyBundle(ctx, s.Verifier(), raw, manifestA); err != nil {
		t.Errorf("unpadded URL-safe base64: %v", err)
	}
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

func TestBundleManifest(t *testing.T) {
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: manifestA, Size: 512}
	bdesc := ocispec.Descriptor{MediaType: BundleMediaType, Digest: digest.FromString("b"), Size: 1}
	data, err := BundleManifest(bdesc, subject, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	json.Unmarshal(data, &m)
	if m.ArtifactType != BundleMediaType || m.Config.MediaType != ocispec.MediaTypeEmptyJSON || m.Config.Digest != digest.FromBytes(EmptyConfig()) ||
		m.Subject == nil || m.Subject.Digest != manifestA || m.Annotations[ocispec.AnnotationCreated] != "2026-01-02T03:04:05Z" ||
		m.Annotations["dev.sigstore.bundle.predicateType"] != SignPredicateType || m.Annotations["dev.sigstore.bundle.content"] != "dsse-envelope" {
		t.Fatalf("manifest %s", data)
	}
	if l, err := BundleLayer(data); err != nil || l.Digest != bdesc.Digest {
		t.Fatalf("bundle layer %v %v", l, err)
	}
}

// certSigner is a signer whose material is a certificate (the shape of a keyless signer), to
// check that both forms carry it and that a key verifier refuses it as keyless.
type certSigner struct {
	*KeySigner
	cert []byte
}

func (c certSigner) Sign(ctx context.Context, message []byte) (*Signature, error) {
	s, err := c.KeySigner.Sign(ctx, message)
	if err != nil {
		return nil, err
	}
	s.Material = Material{Certificate: c.cert}
	return s, nil
}

func TestCertificateMaterial(t *testing.T) {
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ks, _ := NewKeySigner(key)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"}, EmailAddresses: []string{"jane@example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cs := certSigner{ks, der}
	stranger := newSigner(t).Verifier()

	payload, layer, err := SignLayer(ctx, cs, testRepo, manifestA)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(layer.Annotations[CertificateAnnotation], "BEGIN CERTIFICATE") {
		t.Fatalf("no certificate annotation: %v", layer.Annotations)
	}
	if _, err := VerifyLayer(ctx, stranger, layer, payload, manifestA); !errors.Is(err, ErrKeyless) || !strings.Contains(err.Error(), "jane@example.com") {
		t.Fatalf("a certificate signature with a stranger's key: %v, want ErrKeyless naming the identity", err)
	}
	b, err := NewBundle(ctx, cs, manifestA)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"certificate":{"rawBytes":"`+base64.StdEncoding.EncodeToString(der)+`"}`) {
		t.Fatalf("bundle without the certificate: %s", b)
	}
	if _, err := VerifyBundle(ctx, stranger, b, manifestA); !errors.Is(err, ErrKeyless) {
		t.Fatalf("bundle: %v, want ErrKeyless", err)
	}
	// With the certificate's own key trusted, the signature checks out (cosign verify --key
	// does the same: the key decides, the certificate is not needed).
	if _, err := VerifyBundle(ctx, ks.Verifier(), b, manifestA); err != nil {
		t.Fatal(err)
	}
}
