package client

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/chartroom/chartroom/internal/cosign"
)

func newCosignSigner(t *testing.T) *cosign.KeySigner {
	t.Helper()
	key, err := cosign.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := cosign.NewKeySigner(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// cosignFixture is a server with myapp 1.0.0 and 2.0.0 published in namespace team.
type cosignFixture struct {
	srv *testServer
	c   *Client
	ref ChartRef
}

func newCosignFixture(t *testing.T) *cosignFixture {
	t.Helper()
	srv := newTestServer(t)
	c := newTestEnv(t).admin(t)
	for _, v := range []string{"1.0.0", "2.0.0"} {
		if _, err := c.Push(context.Background(), testArchive(t, t.TempDir(), "myapp", v, "a"), srv.oci("team")); err != nil {
			t.Fatal(err)
		}
	}
	ref, err := c.ParseChartRef([]string{srv.oci("team") + "/myapp"}, "")
	if err != nil {
		t.Fatal(err)
	}
	return &cosignFixture{srv: srv, c: c, ref: ref}
}

func TestSignVerifyOCI(t *testing.T) {
	ctx := context.Background()
	fx := newCosignFixture(t)
	alice, bob := newCosignSigner(t), newCosignSigner(t)
	aliceOnly := cosign.NewKeyVerifier(alice.PublicKey())

	// Nothing signed yet: verification fails and says how to sign.
	_, err := fx.c.VerifyOCI(ctx, fx.ref, aliceOnly, "1.0.0")
	oneLineError(t, err, ErrVerifyFailed, "has no cosign signature", "chartroom sign")

	res, err := fx.c.SignOCI(ctx, fx.ref, alice, SignOCIOptions{Version: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Signatures) != 2 || res.Signatures[0].Form != "tag" || res.Signatures[1].Form != "bundle" ||
		res.Signatures[0].Already || res.Signatures[1].Already || res.Ref != fx.srv.host+"/team/myapp:1.0.0" {
		t.Fatalf("sign: %+v", res)
	}
	if want := cosign.SignatureTag(digest.Digest(res.ManifestDigest)); res.Signatures[0].Tag != want {
		t.Errorf("tag %s, want %s", res.Signatures[0].Tag, want)
	}
	v, err := fx.c.VerifyOCI(ctx, fx.ref, aliceOnly, "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Signatures) != 2 || len(v.Verified()) != 2 || v.Signatures[0].Signer != alice.PublicKey().ID() || v.Signatures[0].Identity != fx.srv.host+"/team/myapp" {
		t.Fatalf("verify: %+v", v)
	}

	// Signing again writes nothing; another signer adds a layer and a bundle beside alice's.
	again, err := fx.c.SignOCI(ctx, fx.ref, alice, SignOCIOptions{Version: "1.0.0"})
	if err != nil || !again.Signatures[0].Already || !again.Signatures[1].Already || again.Signatures[0].Digest != res.Signatures[0].Digest {
		t.Fatalf("sign again: %+v %v", again, err)
	}
	if _, err := fx.c.SignOCI(ctx, fx.ref, bob, SignOCIOptions{Version: "1.0.0"}); err != nil {
		t.Fatal(err)
	}
	v, err = fx.c.VerifyOCI(ctx, fx.ref, aliceOnly, "1.0.0")
	if err != nil || len(v.Signatures) != 4 || len(v.Verified()) != 2 {
		t.Fatalf("verify with bob's signatures beside: %+v %v", v, err)
	}
	for _, s := range v.Signatures {
		if !s.Verified && !strings.Contains(s.Problem, "does not verify with the trusted key") {
			t.Errorf("bob's signature refused for %q", s.Problem)
		}
	}

	// A stranger's key verifies nothing.
	_, err = fx.c.VerifyOCI(ctx, fx.ref, cosign.NewKeyVerifier(newCosignSigner(t).PublicKey()), "1.0.0")
	oneLineError(t, err, ErrVerifyFailed, "no cosign signature of myapp 1.0.0", "does not verify with the trusted key")

	// Another version is not signed by 1.0.0's signatures.
	_, err = fx.c.VerifyOCI(ctx, fx.ref, aliceOnly, "2.0.0")
	oneLineError(t, err, ErrVerifyFailed, "myapp 2.0.0", "has no cosign signature")
}

func TestSignOCIForms(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		forms CosignForms
		want  string
	}{{CosignFormTag, "tag"}, {CosignFormBundle, "bundle"}} {
		t.Run(tc.want, func(t *testing.T) {
			fx := newCosignFixture(t)
			s := newCosignSigner(t)
			res, err := fx.c.SignOCI(ctx, fx.ref, s, SignOCIOptions{Version: "1.0.0", Forms: tc.forms})
			if err != nil || len(res.Signatures) != 1 || res.Signatures[0].Form != tc.want {
				t.Fatalf("sign: %+v %v", res, err)
			}
			v, err := fx.c.VerifyOCI(ctx, fx.ref, s.Verifier(), "1.0.0")
			if err != nil || len(v.Signatures) != 1 || v.Signatures[0].Form != tc.want || !v.Signatures[0].Verified {
				t.Fatalf("verify: %+v %v", v, err)
			}
		})
	}
}

// A signature copied from another version, or whose payload was changed, is refused: the
// first signs another manifest, the second does not verify.
func TestVerifyOCIRefusesTampering(t *testing.T) {
	ctx := context.Background()
	fx := newCosignFixture(t)
	s := newCosignSigner(t)
	if _, err := fx.c.SignOCI(ctx, fx.ref, s, SignOCIOptions{Version: "1.0.0"}); err != nil {
		t.Fatal(err)
	}
	t1, err := fx.c.ociTarget(ctx, fx.ref, "1.0.0", "test", true)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := fx.c.ociTarget(ctx, fx.ref, "2.0.0", "test", true)
	if err != nil {
		t.Fatal(err)
	}
	wctx := auth.AppendRepositoryScope(ctx, t1.repo.Reference, auth.ActionPull, auth.ActionPush)

	// 1.0.0's signature tag manifest pushed as 2.0.0's.
	desc, rc, err := t1.repo.FetchReference(wctx, cosign.SignatureTag(t1.desc.Digest))
	if err != nil {
		t.Fatal(err)
	}
	sigManifest, _ := readManifest(rc, desc)
	rc.Close()
	if err := t1.repo.PushReference(wctx, desc, bytes.NewReader(sigManifest), cosign.SignatureTag(t2.desc.Digest)); err != nil {
		t.Fatal(err)
	}
	// 1.0.0's bundle pushed as a referrer of 2.0.0.
	var bundleManifest []byte
	if err := fx.c.eachReferrer(wctx, t1, func(_ ocispec.Descriptor, m []byte) error { bundleManifest = m; return nil }); err != nil || bundleManifest == nil {
		t.Fatalf("1.0.0's bundle referrer: %v", err)
	}
	var m ocispec.Manifest
	json.Unmarshal(bundleManifest, &m)
	m.Subject = &ocispec.Descriptor{MediaType: t2.desc.MediaType, Digest: t2.desc.Digest, Size: t2.desc.Size}
	moved, _ := json.Marshal(m)
	if err := t1.repo.Push(wctx, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(moved), Size: int64(len(moved))}, bytes.NewReader(moved)); err != nil {
		t.Fatal(err)
	}
	_, err = fx.c.VerifyOCI(ctx, fx.ref, s.Verifier(), "2.0.0")
	oneLineError(t, err, ErrVerifyFailed, "tag ", "bundle ", "the signature is for another manifest", t1.desc.Digest.String())

	// 1.0.0's signature layer with its payload changed (another repository named), signature kept.
	layers, err := cosign.ParseSignatureManifest(sigManifest)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := readSmallBlob(wctx, t1.repo, layers[0], cosign.MaxPayloadSize)
	if err != nil {
		t.Fatal(err)
	}
	evil := bytes.Replace(payload, []byte("/team/myapp"), []byte("/evil/myapp"), 1)
	l := layers[0]
	l.Digest, l.Size = digest.FromBytes(evil), int64(len(evil))
	if err := fx.c.pushSmall(wctx, t1.repo, l, evil); err != nil {
		t.Fatal(err)
	}
	tm, cfg, _ := cosign.SignatureManifest([]ocispec.Descriptor{l})
	if err := fx.c.pushSmall(wctx, t1.repo, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}, cfg); err != nil {
		t.Fatal(err)
	}
	if err := t1.repo.PushReference(wctx, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(tm), Size: int64(len(tm))}, bytes.NewReader(tm), cosign.SignatureTag(t1.desc.Digest)); err != nil {
		t.Fatal(err)
	}
	v, err := fx.c.VerifyOCI(ctx, fx.ref, s.Verifier(), "1.0.0")
	if err != nil {
		t.Fatal(err) // the bundle still checks out
	}
	if len(v.Signatures) != 2 || v.Signatures[0].Verified || !strings.Contains(v.Signatures[0].Problem, "does not verify") || !v.Signatures[1].Verified {
		t.Fatalf("tampered tag beside a good bundle: %+v", v)
	}
}

// Signing refuses what is not an OCI chart reference, and a version that does not exist.
func TestSignOCIRefuses(t *testing.T) {
	ctx := context.Background()
	fx := newCosignFixture(t)
	s := newCosignSigner(t)
	_, err := fx.c.SignOCI(ctx, fx.ref, s, SignOCIOptions{Version: "9.9.9"})
	oneLineError(t, err, ErrNotFound, "no version 9.9.9")
	classic, err := fx.c.ParseChartRef([]string{fx.srv.repo("team"), "myapp"}, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = fx.c.SignOCI(ctx, classic, s, SignOCIOptions{Version: "1.0.0"})
	oneLineError(t, err, nil, "not an OCI reference")
}
