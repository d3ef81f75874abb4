package e2e

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cosign signs and verifies charts in OCI registries (sigstore's; pinned in scripts/tools.sh).
var cosignTool = tool{"cosign", "CHARTROOM_COSIGN"}

// cosignEmptyTrustedRoot is a sigstore trusted root that trusts no log, authority or
// timestamp service. cosign 2.6 verifies a sigstore bundle only against a trusted root, which
// it otherwise downloads from sigstore's TUF repository; the tests have no network, and a
// key-based signature verified with --insecure-ignore-tlog needs nothing from it.
const cosignEmptyTrustedRoot = `{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`

// cosignFixture is a server with demo 0.1.0 and 0.2.0 pushed to several namespaces, a
// chartroom key pair (cr.key, cr.pub) and a cosign one (co.key, co.pub), logins for both
// tools, and COSIGN_PASSWORD set for both.
type cosignFixture struct {
	t           *testing.T
	cosign      string
	srv         *Server
	e           *toolEnv
	host, dir   string
	trustedRoot string
	digests     map[string]string // version → manifest digest
}

func newCosignFixture(t *testing.T, namespaces ...string) *cosignFixture {
	t.Helper()
	fx := &cosignFixture{t: t, cosign: need(t, cosignTool), srv: StartServer(t), e: newToolEnv(t), dir: t.TempDir(), digests: map[string]string{}}
	fx.host = fx.srv.Host()
	// cosign's password variable, read by chartroom too.
	fx.e.env = append(fx.e.env, "COSIGN_PASSWORD=e2e key password")
	fx.trustedRoot = filepath.Join(fx.dir, "trusted_root.json")
	if err := os.WriteFile(fx.trustedRoot, []byte(cosignEmptyTrustedRoot), 0o644); err != nil {
		t.Fatal(err)
	}

	fx.e.tcMust("login", fx.host, "--username", "admin", "--password", fx.srv.Password, "--plain-http")
	fx.e.must(fx.cosign, "login", fx.host, "--username", "admin", "--password", fx.srv.Password)
	fx.e.mustIn(fx.dir, chartroomBin(t), "keygen", "--output-key-prefix", "cr")
	fx.e.mustIn(fx.dir, fx.cosign, "generate-key-pair", "--output-key-prefix", "co")

	for _, v := range []string{"0.1.0", "0.2.0"} {
		src := repoChartDir(t, filepath.Join(fx.dir, "src-"+v), "demo", v, "1.0")
		fx.e.tcMust("package", src, "-d", filepath.Join(fx.dir, "dist"))
		for _, ns := range namespaces {
			out := fx.e.tcMust("push", filepath.Join(fx.dir, "dist", "demo-"+v+".tgz"), "oci://"+fx.host+"/"+ns, "--plain-http")
			fx.digests[v] = printedDigest(t, out)
		}
	}
	return fx
}

func (fx *cosignFixture) key(name string) string { return filepath.Join(fx.dir, name) }

// chartroom runs chartroom in the fixture's directory.
func (fx *cosignFixture) chartroom(args ...string) tcResult {
	fx.t.Helper()
	return fx.e.tcRun(fx.dir, "", nil, args...)
}

// cosignVerify runs cosign verify --key pub on ns/demo:version, offline, with extra flags.
func (fx *cosignFixture) cosignVerify(pub, ns, version string, extra ...string) (string, error) {
	fx.t.Helper()
	args := append([]string{"verify", "--key", fx.key(pub), "--insecure-ignore-tlog", "--allow-http-registry"}, extra...)
	return fx.e.runIn(fx.dir, fx.cosign, append(args, fx.host+"/"+ns+"/demo:"+version)...)
}

// wantCosignVerified fails the test unless cosign verify passed for the version's manifest.
func (fx *cosignFixture) wantCosignVerified(out string, err error, version string) {
	fx.t.Helper()
	if err != nil {
		fx.t.Fatalf("cosign verify refused chartroom's signature of %s: %v\n%s", version, err, out)
	}
	if !strings.Contains(out, `"docker-manifest-digest":"`+fx.digests[version]+`"`) {
		fx.t.Fatalf("cosign verify did not report %s's manifest %s:\n%s", version, fx.digests[version], out)
	}
}

func wantCosignRefused(t *testing.T, out string, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("cosign verify accepted it:\n%s", out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("cosign's refusal lacks %q:\n%s", w, out)
		}
	}
}

// verifiedForms runs chartroom verify -o json and returns the forms of the signatures that
// checked out, and the signer of the first.
func (fx *cosignFixture) verifiedForms(ns, version, pub string) ([]string, string) {
	fx.t.Helper()
	r := fx.chartroom("verify", "oci://"+fx.host+"/"+ns+"/demo:"+version, "--key", fx.key(pub), "--plain-http", "-o", "json")
	if r.code != 0 {
		fx.t.Fatalf("chartroom verify refused cosign's signature: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var res struct {
		ManifestDigest string
		Signatures     []struct {
			Form, Signer string
			Verified     bool
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.ManifestDigest != fx.digests[version] {
		fx.t.Fatalf("chartroom verify -o json: %v, digest %s, want %s\n%s", err, res.ManifestDigest, fx.digests[version], r.stdout)
	}
	var forms []string
	signer := ""
	for _, s := range res.Signatures {
		if s.Verified {
			forms = append(forms, s.Form)
			if signer == "" {
				signer = s.Signer
			}
		}
	}
	return forms, signer
}

// keyID is chartroom's name of a public key: "sha256:" and the hex SHA-256 of its DER.
func keyID(t *testing.T, pubPEM string) string {
	t.Helper()
	b, err := os.ReadFile(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	s = strings.TrimPrefix(strings.TrimSpace(s), "-----BEGIN PUBLIC KEY-----")
	s = strings.TrimSuffix(s, "-----END PUBLIC KEY-----")
	der, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(s, "\n", ""))
	if err != nil {
		t.Fatalf("%s: %v", pubPEM, err)
	}
	return "sha256:" + sha256Hex(der)
}

// TestCosignChartroomSignsCosignVerifies: chartroom sign oci://… writes signatures the real
// cosign verify --key accepts, in each form (the sha256-<digest>.sig tag, a sigstore bundle
// referrer, both), with a key cosign generated; cosign refuses them with another key.
func TestCosignChartroomSignsCosignVerifies(t *testing.T) {
	t.Parallel()
	fx := newCosignFixture(t, "tagform", "bundleform", "both")
	for _, ns := range []string{"tagform", "bundleform", "both"} {
		args := []string{"sign", "oci://" + fx.host + "/" + ns + "/demo", "--version", "0.1.0", "--key", fx.key("co.key"), "--plain-http"}
		if ns != "both" {
			args = append(args, "--form", strings.TrimSuffix(ns, "form"))
		}
		if r := fx.chartroom(args...); r.code != 0 {
			t.Fatalf("chartroom sign: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	}

	t.Log("the signature tag: cosign verify's classic form")
	out, err := fx.cosignVerify("co.pub", "tagform", "0.1.0")
	fx.wantCosignVerified(out, err, "0.1.0")
	out, err = fx.cosignVerify("cr.pub", "tagform", "0.1.0")
	wantCosignRefused(t, out, err, "no matching signatures")

	t.Log("the sigstore bundle referrer: cosign verify --new-bundle-format")
	out, err = fx.cosignVerify("co.pub", "bundleform", "0.1.0", "--new-bundle-format", "--trusted-root", fx.trustedRoot)
	fx.wantCosignVerified(out, err, "0.1.0")
	out, err = fx.cosignVerify("cr.pub", "bundleform", "0.1.0", "--new-bundle-format", "--trusted-root", fx.trustedRoot)
	wantCosignRefused(t, out, err, "could not verify envelope")

	t.Log("both forms: cosign finds the bundle and verifies it")
	out, err = fx.cosignVerify("co.pub", "both", "0.1.0", "--trusted-root", fx.trustedRoot)
	fx.wantCosignVerified(out, err, "0.1.0")

	t.Log("the unsigned version is refused by cosign")
	out, err = fx.cosignVerify("co.pub", "tagform", "0.2.0")
	wantCosignRefused(t, out, err, "no signatures found")
}

// TestCosignCosignSignsChartroomVerifies: signatures the real cosign sign --key makes, in
// both forms and with a key chartroom keygen made, pass chartroom verify oci://… --key, and
// are refused with another key, saying so.
func TestCosignCosignSignsChartroomVerifies(t *testing.T) {
	t.Parallel()
	fx := newCosignFixture(t, "tagform", "bundleform")
	sign := []string{"sign", "--key", fx.key("cr.key"), "--tlog-upload=false", "--allow-http-registry", "--yes"}
	fx.e.mustIn(fx.dir, fx.cosign, append(sign, fx.host+"/tagform/demo:0.1.0")...)
	fx.e.mustIn(fx.dir, fx.cosign, append(sign, "--new-bundle-format", fx.host+"/bundleform/demo:0.1.0")...)
	crID := keyID(t, fx.key("cr.pub"))

	for ns, want := range map[string]string{"tagform": "tag", "bundleform": "bundle"} {
		forms, signer := fx.verifiedForms(ns, "0.1.0", "cr.pub")
		if len(forms) != 1 || forms[0] != want || signer != crID {
			t.Errorf("%s: chartroom verify accepted %v by %s; want one %s signature by %s", ns, forms, signer, want, crID)
		}
		fx.chartroom("verify", "oci://"+fx.host+"/"+ns+"/demo", "--version", "0.1.0", "--key", fx.key("co.pub"), "--plain-http").
			wantFailure(t, 1, "no cosign signature of demo 0.1.0", want+" sha256:", "the signature does not verify with the trusted key")
	}
	fx.chartroom("verify", "oci://"+fx.host+"/tagform/demo:0.2.0", "--key", fx.key("cr.pub"), "--plain-http").
		wantFailure(t, 1, "demo 0.2.0", "has no cosign signature", "chartroom sign")
}

// TestCosignTampered: a signature moved onto another manifest (what an attacker who swaps a
// version's content would need) and a signature whose bytes were changed are refused by both
// cosign and chartroom, chartroom naming the problem.
func TestCosignTampered(t *testing.T) {
	t.Parallel()
	fx := newCosignFixture(t, "moved", "bundlemoved", "forged")
	c := adminClient(fx.srv)
	sign := func(ns, form string) {
		r := fx.chartroom("sign", "oci://"+fx.host+"/"+ns+"/demo:0.1.0", "--key", fx.key("cr.key"), "--plain-http", "--form", form)
		if r.code != 0 {
			t.Fatalf("chartroom sign: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	}
	sigTag := func(version string) string {
		return strings.Replace(fx.digests[version], ":", "-", 1) + ".sig"
	}
	getSigManifest := func(ns string) []byte {
		status, body, _, err := c.getManifest(ns+"/demo", sigTag("0.1.0"))
		if err != nil || status != http.StatusOK {
			t.Fatalf("GET the signature manifest: %d %v %s", status, err, body)
		}
		return body
	}

	t.Log("0.1.0's signature tag copied to 0.2.0's: a valid signature of another manifest")
	sign("moved", "tag")
	if _, err := c.pushManifest("moved/demo", sigTag("0.2.0"), mediaTypeManifest, getSigManifest("moved")); err != nil {
		t.Fatal(err)
	}
	out, err := fx.cosignVerify("cr.pub", "moved", "0.2.0")
	wantCosignRefused(t, out, err, "invalid or missing digest in claim")
	fx.chartroom("verify", "oci://"+fx.host+"/moved/demo:0.2.0", "--key", fx.key("cr.pub"), "--plain-http").
		wantFailure(t, 1, "no cosign signature of demo 0.2.0", "the signature is for another manifest", fx.digests["0.1.0"])

	t.Log("0.1.0's bundle referrer made a referrer of 0.2.0")
	sign("bundlemoved", "bundle")
	resp, body, err := c.do("GET", "/v2/bundlemoved/demo/referrers/"+fx.digests["0.1.0"], nil, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET referrers: %v %s", err, body)
	}
	var index struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	if err := json.Unmarshal(body, &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("referrers of 0.1.0: %v %s", err, body)
	}
	status, bm, _, err := c.getManifest("bundlemoved/demo", index.Manifests[0].Digest)
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET the bundle manifest: %d %v", status, err)
	}
	var m map[string]any
	if err := json.Unmarshal(bm, &m); err != nil {
		t.Fatal(err)
	}
	m["subject"].(map[string]any)["digest"] = fx.digests["0.2.0"]
	moved, _ := json.Marshal(m)
	if _, err := c.pushManifest("bundlemoved/demo", digestOf(moved), mediaTypeManifest, moved); err != nil {
		t.Fatal(err)
	}
	out, err = fx.cosignVerify("cr.pub", "bundlemoved", "0.2.0", "--new-bundle-format", "--trusted-root", fx.trustedRoot)
	wantCosignRefused(t, out, err, "does not match any digest in statement")
	fx.chartroom("verify", "oci://"+fx.host+"/bundlemoved/demo:0.2.0", "--key", fx.key("cr.pub"), "--plain-http").
		wantFailure(t, 1, "no cosign signature of demo 0.2.0", "bundle sha256:", "the signature is for another manifest")

	t.Log("the signature in the tag's layer replaced by another one of the same key, over other bytes")
	sign("forged", "tag")
	sm := getSigManifest("forged")
	var sig struct {
		Layers []struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(sm, &sig); err != nil || len(sig.Layers) != 1 {
		t.Fatalf("signature manifest: %v %s", err, sm)
	}
	good := sig.Layers[0].Annotations["dev.cosignproject.cosign/signature"]
	raw, err := base64.StdEncoding.DecodeString(good)
	if err != nil || len(raw) < 16 {
		t.Fatalf("signature annotation %q: %v", good, err)
	}
	raw[len(raw)-1] ^= 0x01 // the last byte of s: a well-formed signature that does not verify
	forged := strings.Replace(string(sm), good, base64.StdEncoding.EncodeToString(raw), 1)
	if _, err := c.pushManifest("forged/demo", sigTag("0.1.0"), mediaTypeManifest, []byte(forged)); err != nil {
		t.Fatal(err)
	}
	out, err = fx.cosignVerify("cr.pub", "forged", "0.1.0")
	wantCosignRefused(t, out, err, "no matching signatures")
	fx.chartroom("verify", "oci://"+fx.host+"/forged/demo:0.1.0", "--key", fx.key("cr.pub"), "--plain-http").
		wantFailure(t, 1, "no cosign signature of demo 0.1.0", "tag sha256:", "the signature does not verify with the trusted key")
}
