package registry_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/cosign"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/provenance"
	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/registry/registrytest"
	"github.com/chartroom/chartroom/internal/repoindex"
)

// The namespace policies (signed-only, semver discipline) and the signature status of chart
// versions, through both ways a chart comes in, on a real SQLite file and blob store.

func trustGPG(t *testing.T, e *registrytest.Env, ns string, s *charttest.Signer) string {
	t.Helper()
	var b bytes.Buffer
	if err := s.Entity.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	fp := provenance.Fingerprint(s.Entity)
	if _, err := e.DB.AddTrustedKeys(context.Background(), []meta.TrustedKey{{Namespace: ns, Kind: meta.KeyGPG, Fingerprint: fp, Data: b.Bytes()}}, nil); err != nil {
		t.Fatal(err)
	}
	return fp
}

func trustCosign(t *testing.T, e *registrytest.Env, ns string, k *cosign.KeySigner) string {
	t.Helper()
	pub := k.PublicKey()
	if _, err := e.DB.AddTrustedKeys(context.Background(), []meta.TrustedKey{{Namespace: ns, Kind: meta.KeyCosign, Fingerprint: pub.ID(), Data: pub.PEM()}}, nil); err != nil {
		t.Fatal(err)
	}
	return pub.ID()
}

func cosignSigner(t *testing.T) *cosign.KeySigner {
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

func setPolicy(t *testing.T, e *registrytest.Env, ns string, signedOnly *bool, discipline string) {
	t.Helper()
	var d *string
	if discipline != "" {
		d = &discipline
	}
	if err := e.DB.SetNamespacePolicy(context.Background(), ns, signedOnly, d, nil); err != nil {
		t.Fatal(err)
	}
}

// cosignSign pushes, as `cosign sign --key` does, the signature tag of the manifest d of repo.
func cosignSign(t *testing.T, e *registrytest.Env, repo string, d digest.Digest, s cosign.Signer) {
	t.Helper()
	ctx := context.Background()
	payload, layer, err := cosign.SignLayer(ctx, s, repo, d)
	if err != nil {
		t.Fatal(err)
	}
	manifest, config, err := cosign.SignatureManifest([]ocispec.Descriptor{layer})
	if err != nil {
		t.Fatal(err)
	}
	e.PushBlob(t, repo, layer.MediaType, payload)
	e.PushBlob(t, repo, ocispec.MediaTypeImageConfig, config)
	if _, err := e.PutManifest(ctx, registry.PutManifestRequest{Repository: repo, Reference: cosign.SignatureTag(d),
		ContentType: ocispec.MediaTypeImageManifest, Body: manifest}); err != nil {
		t.Fatal(err)
	}
}

// visible reports what a reader sees of ns/name version: in the index, the version over
// the classic API, its tag in the tag list, its manifest by tag. They must agree.
func visible(t *testing.T, e *registrytest.Env, ns, name, version string) bool {
	t.Helper()
	ctx := context.Background()
	idx, err := e.Index(ctx, ns, registry.IndexYAML, nil)
	if err != nil {
		t.Fatal(err)
	}
	inIndex := slices.ContainsFunc(idx.Entries, func(en repoindex.Entry) bool { return en.Name == name && en.Version == version })
	_, verr := e.ChartVersion(ctx, ns, name, version)
	tags, err := e.Tags(ctx, ns+"/"+name, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	_, merr := e.GetManifest(ctx, ns+"/"+name, chart.OCITag(version), false)
	_, _, _, oerr := e.OpenChart(ctx, ns, name, version, false)
	got := []bool{inIndex, verr == nil, slices.Contains(tags, chart.OCITag(version)), merr == nil, oerr == nil}
	for _, g := range got[1:] {
		if g != got[0] {
			t.Fatalf("%s %s: index %v, API %v (%v), tag list %v, manifest %v (%v), archive %v: readers must see all or nothing", name, version, got[0], got[1], verr, got[2], got[3], merr, got[4])
		}
	}
	if !got[0] {
		for _, err := range []error{verr, oerr} {
			if !errors.Is(err, registry.ErrChartUnknown) {
				t.Fatalf("a quarantined version answers %v; want what a missing one answers (ErrChartUnknown)", err)
			}
		}
		if !errors.Is(merr, registry.ErrManifestUnknown) {
			t.Fatalf("the manifest of a quarantined version answers %v; want ErrManifestUnknown", merr)
		}
		// Who may publish sees it, to sign it.
		if _, err := e.ChartVersion(registry.WithQuarantined(ctx), ns, name, version); err != nil {
			t.Fatalf("a publisher does not see the quarantined version: %v", err)
		}
		if _, err := e.GetManifest(registry.WithQuarantined(ctx), ns+"/"+name, chart.OCITag(version), false); err != nil {
			t.Fatalf("a publisher does not see the quarantined version's manifest: %v", err)
		}
	}
	return got[0]
}

func status(t *testing.T, e *registrytest.Env, ns, name, version string) *registry.ChartVersion {
	t.Helper()
	c, err := e.ChartVersion(registry.WithQuarantined(context.Background()), ns, name, version)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSignedOnly(t *testing.T) {
	trusted := charttest.NewSigner(t, "Trusted Signer")
	stranger := charttest.NewSigner(t, "Stranger")
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			ctx := context.Background()
			e := registrytest.New(t, registry.Options{})
			const ns = "team"
			fp := trustGPG(t, e, ns, trusted)
			on, off := true, false
			setPolicy(t, e, ns, &on, "")

			// Unsigned: published, quarantined.
			v1 := charttest.Archive(t, "myapp", "1.0.0", "")
			if err := p.push(t, e, ruleCase{ns: ns, chart: "myapp", version: "1.0.0", archive: v1}); err != nil {
				t.Fatal(err)
			}
			if visible(t, e, ns, "myapp", "1.0.0") {
				t.Fatal("an unsigned version of a signed-only namespace is visible")
			}
			if c := status(t, e, ns, "myapp", "1.0.0"); !c.Quarantined || c.Prov.Status != registry.SignatureUnsigned {
				t.Fatalf("status = %+v %+v", c.Prov, c.Quarantined)
			}

			// A .prov by a key the namespace does not trust is refused, with the reason.
			v2 := charttest.Archive(t, "myapp", "1.1.0", "")
			err := p.push(t, e, ruleCase{ns: ns, chart: "myapp", version: "1.1.0", archive: v2, prov: stranger.Sign(t, v2, "myapp-1.1.0.tgz")})
			if !errors.Is(err, registry.ErrChartInvalid) || !strings.Contains(err.Error(), "signed-only") || !strings.Contains(err.Error(), "does not trust") {
				t.Fatalf("a .prov by an untrusted key: %v; want ErrChartInvalid naming the policy and the reason", err)
			}
			if _, err := e.AttachProvenance(ctx, registry.AttachProvenanceRequest{Namespace: ns, Prov: stranger.Sign(t, v1, "myapp-1.0.0.tgz")}); !errors.Is(err, registry.ErrChartInvalid) {
				t.Fatalf("attaching an untrusted .prov: %v", err)
			}

			// Signed by a trusted key: visible at once, valid by its fingerprint.
			if err := p.push(t, e, ruleCase{ns: ns, chart: "myapp", version: "1.1.0", archive: v2, prov: trusted.Sign(t, v2, "myapp-1.1.0.tgz")}); err != nil {
				t.Fatal(err)
			}
			if !visible(t, e, ns, "myapp", "1.1.0") {
				t.Fatal("a version signed by a trusted key is quarantined")
			}
			if c := status(t, e, ns, "myapp", "1.1.0"); c.Prov.Status != registry.SignatureValid || c.Prov.Signer != fp || c.Quarantined {
				t.Fatalf("status = %+v, quarantined %v; want valid by %s", c.Prov, c.Quarantined, fp)
			}

			// The quarantined version leaves quarantine when a trusted .prov arrives.
			if _, err := e.AttachProvenance(ctx, registry.AttachProvenanceRequest{Namespace: ns, Prov: trusted.Sign(t, v1, "myapp-1.0.0.tgz")}); err != nil {
				t.Fatal(err)
			}
			if !visible(t, e, ns, "myapp", "1.0.0") {
				t.Fatal("a trusted .prov did not release the version")
			}

			// Removing the key: its signatures are invalid, the versions quarantined again.
			if _, err := e.DB.RemoveTrustedKey(ctx, ns, fp, nil); err != nil {
				t.Fatal(err)
			}
			if visible(t, e, ns, "myapp", "1.1.0") {
				t.Fatal("a version signed only by a key no longer trusted is visible")
			}
			if c := status(t, e, ns, "myapp", "1.1.0"); c.Prov.Status != registry.SignatureInvalid || !strings.Contains(c.Prov.Error, fp) {
				t.Fatalf("status after the key's removal = %+v", c.Prov)
			}

			// Turning the policy off releases every version.
			setPolicy(t, e, ns, &off, "")
			if !visible(t, e, ns, "myapp", "1.0.0") || !visible(t, e, ns, "myapp", "1.1.0") {
				t.Fatal("turning signed-only off did not release the versions")
			}
		})
	}
}

func TestSignedOnlyCosign(t *testing.T) {
	ctx := context.Background()
	e := registrytest.New(t, registry.Options{})
	const ns, repo = "team", "team/myapp"
	trusted, stranger := cosignSigner(t), cosignSigner(t)
	id := trustCosign(t, e, ns, trusted)
	on := true
	setPolicy(t, e, ns, &on, "")
	archive := charttest.Archive(t, "myapp", "1.0.0", "")
	res, err := e.PushChart(t, repo, "1.0.0", configOf(ruleCase{archive: archive}), archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	if visible(t, e, ns, "myapp", "1.0.0") {
		t.Fatal("an unsigned version is visible")
	}
	cosignSign(t, e, repo, res.Digest, stranger)
	if visible(t, e, ns, "myapp", "1.0.0") {
		t.Fatal("a cosign signature by an untrusted key released the version")
	}
	if c := status(t, e, ns, "myapp", "1.0.0"); c.Cosign.Status != registry.SignatureInvalid || c.Cosign.Error == "" {
		t.Fatalf("cosign status = %+v; want invalid, with the reason", c.Cosign)
	}
	cosignSign(t, e, repo, res.Digest, trusted)
	if !visible(t, e, ns, "myapp", "1.0.0") {
		t.Fatal("a cosign signature by a trusted key did not release the version")
	}
	if c := status(t, e, ns, "myapp", "1.0.0"); c.Cosign.Status != registry.SignatureValid || c.Cosign.Signer != id {
		t.Fatalf("cosign status = %+v; want valid by %s", c.Cosign, id)
	}
	// A bad signature after a good one does not undo it.
	cosignSign(t, e, repo, res.Digest, stranger)
	if c := status(t, e, ns, "myapp", "1.0.0"); c.Cosign.Status != registry.SignatureValid {
		t.Fatalf("cosign status after another, bad signature = %+v", c.Cosign)
	}
	// A sigstore bundle referrer counts as well.
	b := charttest.Archive(t, "myapp", "1.1.0", "")
	res, err = e.PushChart(t, repo, "1.1.0", configOf(ruleCase{archive: b}), b, nil)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := cosign.NewBundle(ctx, trusted, res.Digest)
	if err != nil {
		t.Fatal(err)
	}
	bd := e.PushBlob(t, repo, cosign.BundleMediaType, bundle)
	e.PushBlob(t, repo, ocispec.MediaTypeEmptyJSON, cosign.EmptyConfig())
	m, err := e.GetManifest(registry.WithQuarantined(ctx), repo, "1.1.0", false)
	if err != nil {
		t.Fatal(err)
	}
	body, err := cosign.BundleManifest(bd, ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}, m.Created)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.PutManifest(ctx, registry.PutManifestRequest{Repository: repo, Reference: digest.FromBytes(body).String(),
		ContentType: ocispec.MediaTypeImageManifest, Body: body}); err != nil {
		t.Fatal(err)
	}
	if !visible(t, e, ns, "myapp", "1.1.0") {
		t.Fatal("a sigstore bundle by a trusted key did not release the version")
	}
}

// Outside a signed-only namespace nothing is quarantined, and the status is recorded all
// the same.
func TestSignatureStatusWithoutPolicy(t *testing.T) {
	e := registrytest.New(t, registry.Options{})
	s := charttest.NewSigner(t, "Signer")
	a := charttest.Archive(t, "myapp", "1.0.0", "")
	if _, err := e.Publish(t, a, registry.PublishChartRequest{Namespace: "team", Prov: s.Sign(t, a, "myapp-1.0.0.tgz")}); err != nil {
		t.Fatal(err)
	}
	if !visible(t, e, "team", "myapp", "1.0.0") {
		t.Fatal("a version is quarantined without the policy")
	}
	c := status(t, e, "team", "myapp", "1.0.0")
	if c.Prov.Status != registry.SignatureInvalid || !strings.Contains(c.Prov.Error, "trusts no OpenPGP key") || c.Cosign.Status != registry.SignatureUnsigned {
		t.Fatalf("status = %+v %+v", c.Prov, c.Cosign)
	}
}

// valuesChart is chart myapp at version with values.yaml values.
func valuesChart(t *testing.T, version, values string) []byte {
	t.Helper()
	return charttest.Files(t, "myapp", map[string]string{
		"Chart.yaml":          "apiVersion: v2\nname: myapp\nversion: " + version + "\n",
		"values.yaml":         values,
		"templates/conf.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  replicas: {{ .Values.replicas | quote }}\n",
	})
}

func TestSemverDiscipline(t *testing.T) {
	const base = "replicas: 1\nlegacy: true\n"
	const removed = "replicas: 1\n" // a values key removed: a major change
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			e := registrytest.New(t, registry.Options{})
			const ns = "team"
			push := func(version, values string) error {
				return p.push(t, e, ruleCase{ns: ns, chart: "myapp", version: version, archive: valuesChart(t, version, values)})
			}
			if err := push("1.4.2", base); err != nil {
				t.Fatal(err)
			}
			setPolicy(t, e, ns, nil, registry.DisciplineEnforce)
			err := push("1.4.3", removed)
			if !errors.Is(err, registry.ErrBumpTooSmall) || !strings.Contains(err.Error(), "2.0.0") || !strings.Contains(err.Error(), ".legacy") {
				t.Fatalf("1.4.3 removing a values key: %v; want ErrBumpTooSmall naming .legacy and 2.0.0", err)
			}
			if _, err := e.ChartVersion(registry.WithQuarantined(context.Background()), ns, "myapp", "1.4.3"); !errors.Is(err, registry.ErrChartUnknown) {
				t.Fatalf("a refused version was stored: %v", err)
			}
			if err := push("2.0.0", removed); err != nil {
				t.Fatalf("2.0.0 refused: %v", err)
			}
			// Against the highest version below: 1.4.3 is still compared with 1.4.2.
			if err := push("1.5.0", base+"extra: 1\n"); err != nil {
				t.Fatalf("1.5.0 adding a key over 1.4.2: %v", err)
			}
			if err := push("1.5.0", base+"extra: 1\n"); err != nil {
				t.Fatalf("the same 1.5.0 again: %v", err)
			}

			setPolicy(t, e, ns, nil, registry.DisciplineWarn)
			if err := push("2.0.1", "replicas: 1\n"+"other: 2\n"); err != nil {
				t.Fatalf("warn refused: %v", err)
			}
			if c := status(t, e, ns, "myapp", "2.0.1"); !strings.Contains(c.ReleaseFinding, "minor") || !strings.Contains(c.ReleaseFinding, "2.1.0") {
				t.Fatalf("warn recorded %q; want the finding naming the minor bump and 2.1.0", c.ReleaseFinding)
			}
			setPolicy(t, e, ns, nil, registry.DisciplineOff)
			if err := push("2.0.2", "replicas: 2\n"); err != nil {
				t.Fatal(err)
			}
			if c := status(t, e, ns, "myapp", "2.0.2"); c.ReleaseFinding != "" {
				t.Fatalf("off recorded %q", c.ReleaseFinding)
			}
		})
	}
}
