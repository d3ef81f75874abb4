package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// policyFixture is a server whose namespace team anonymous callers may read (the readers),
// the admin logged in with helm and cosign (the publisher), and the data directory flags of
// the admin commands.
type policyFixture struct {
	t      *testing.T
	srv    *Server
	helm   string
	pub    *toolEnv // the publisher: helm and cosign logged in as admin
	reader *toolEnv // the reader: no credentials
	admin  *ociClient
	anon   *ociClient
	dd     []string
	work   string
}

func newPolicyFixture(t *testing.T, namespaces ...string) *policyFixture {
	t.Helper()
	f := &policyFixture{t: t, srv: StartServer(t), helm: need(t, helm3), pub: newToolEnv(t), reader: newToolEnv(t), work: t.TempDir()}
	f.dd = []string{"--data-dir", f.srv.DataDir}
	f.admin = adminClient(f.srv)
	f.anon = newOCIClient(f.srv, "", "")
	for _, ns := range namespaces {
		chartroomIn(t, "", append([]string{"namespace", "set", ns, "--anonymous-read"}, f.dd...)...)
		awaitStatus(t, f.srv, "", "", "/"+ns+"/index.yaml", http.StatusOK)
	}
	f.pub.must(f.helm, "registry", "login", f.srv.Host(), "--username", "admin", "--password", f.srv.Password, "--plain-http")
	return f
}

// chartroom runs an admin command on the server's data directory.
func (f *policyFixture) chartroom(args ...string) string {
	f.t.Helper()
	return chartroomIn(f.t, "", append(args, f.dd...)...)
}

// chart writes and packages chart demo at version with values.yaml values (signed with key
// when it is not nil) and returns the archive's path.
func (f *policyFixture) chart(version, values string, key *signingKey) string {
	f.t.Helper()
	src := repoChartDir(f.t, filepath.Join(f.work, "src-"+version+"-"+randomHex(4)), "demo", version, "1.0")
	if values != "" {
		if err := os.WriteFile(filepath.Join(src, "values.yaml"), []byte(values), 0o644); err != nil {
			f.t.Fatal(err)
		}
	}
	dest := filepath.Join(f.work, "dist-"+randomHex(4))
	args := []string{"package", src, "--destination", dest}
	if key != nil {
		args = append(args, "--sign", "--key", key.name, "--keyring", key.secring)
	}
	f.pub.must(f.helm, args...)
	return filepath.Join(dest, "demo-"+version+".tgz")
}

// upload posts an archive (and .prov) to the classic upload API and returns the answer.
func (f *policyFixture) upload(ns, tgz, prov string) (int, string) {
	f.t.Helper()
	files := map[string]string{"chart": tgz}
	if prov != "" {
		files["prov"] = prov
	}
	body, ct := repoMultipart(f.t, files)
	resp, out, err := f.admin.do("POST", repoAPI(ns, "charts"), body, map[string]string{"Content-Type": ct})
	if err != nil {
		f.t.Fatal(err)
	}
	return resp.StatusCode, string(out)
}

// readerSees reports whether a reader finds ns's demo version: in index.yaml, by helm pull
// from the classic repository and by helm pull oci://, which must agree.
func (f *policyFixture) readerSees(ns, version string) bool {
	f.t.Helper()
	idx := repoGetIndex(f.t, f.anon, ns)
	inIndex := slices.ContainsFunc(idx.Entries["demo"], func(v repoIndexVersion) bool { return v.Version == version })
	dest := f.t.TempDir()
	_, classicErr := f.reader.run(f.helm, "pull", "demo", "--repo", f.srv.URL("/"+ns), "--version", version, "--destination", dest)
	_, ociErr := f.reader.run(f.helm, "pull", "oci://"+f.srv.Host()+"/"+ns+"/demo", "--version", version, "--plain-http", "--destination", dest)
	if inIndex != (classicErr == nil) || inIndex != (ociErr == nil) {
		f.t.Fatalf("%s demo %s: in index.yaml %v, helm pull: %v, helm pull oci://: %v; readers must see all or nothing", ns, version, inIndex, classicErr, ociErr)
	}
	return inIndex
}

// versionJSON is what the API says of a version's signatures and policies.
type versionJSON struct {
	Signatures struct {
		Prov, Cosign struct{ Status, Signer, Error string }
	}
	Quarantined    bool
	ReleaseFinding string
}

func (f *policyFixture) version(ns, version string) versionJSON {
	f.t.Helper()
	var v versionJSON
	if err := json.Unmarshal(repoGet(f.t, f.admin, repoAPI(ns, "charts/demo/"+version), http.StatusOK), &v); err != nil {
		f.t.Fatal(err)
	}
	return v
}

// TestPolicySignedOnly: in a signed-only namespace, unsigned versions (pushed with helm push,
// uploaded over the classic API) are absent from index.yaml, helm pull and helm pull oci://
// for readers, and appear once a signature by a trusted key arrives: a cosign signature made
// by the real cosign sign, and a .prov made by helm package --sign. A .prov by a key the
// namespace does not trust is refused with the reason.
func TestPolicySignedOnly(t *testing.T) {
	t.Parallel()
	f := newPolicyFixture(t, "team")
	co := need(t, cosignTool)
	key, stranger := newSigningKey(t), newSigningKey(t)
	f.pub.env = append(f.pub.env, "COSIGN_PASSWORD=e2e key password")
	f.pub.mustIn(f.work, co, "generate-key-pair", "--output-key-prefix", "co")
	f.pub.must(co, "login", f.srv.Host(), "--username", "admin", "--password", f.srv.Password)

	f.chartroom("trust", "add", "team", "--gpg-keyring", key.pubring)
	f.chartroom("trust", "add", "team", "--cosign-key", filepath.Join(f.work, "co.pub"))
	show := f.chartroom("policy", "set", "team", "--signed-only")
	if !strings.Contains(show, "signed-only          on") || !strings.Contains(show, "cosign") || !strings.Contains(show, "gpg") {
		t.Fatalf("policy set printed:\n%s", show)
	}

	t.Log("unsigned versions, over OCI and over the upload API, are quarantined")
	f.pub.must(f.helm, "push", f.chart("0.1.0", "", nil), "oci://"+f.srv.Host()+"/team", "--plain-http")
	signed := f.chart("0.2.0", "", &key)
	if code, out := f.upload("team", signed, ""); code != http.StatusCreated {
		t.Fatalf("upload 0.2.0: %d %s", code, out)
	}
	for _, v := range []string{"0.1.0", "0.2.0"} {
		if f.readerSees("team", v) {
			t.Fatalf("readers see unsigned %s", v)
		}
		if got := f.version("team", v); !got.Quarantined || got.Signatures.Prov.Status != "unsigned" {
			t.Fatalf("the API says of %s: %+v", v, got)
		}
	}

	t.Log("cosign sign with a trusted key releases 0.1.0")
	f.pub.mustIn(f.work, co, "sign", "--key", "co.key", "--tlog-upload=false", "--allow-http-registry", "--yes", f.srv.Host()+"/team/demo:0.1.0")
	if !f.readerSees("team", "0.1.0") {
		t.Fatal("a trusted cosign signature did not release 0.1.0")
	}
	if got := f.version("team", "0.1.0"); got.Quarantined || got.Signatures.Cosign.Status != "valid" || !strings.HasPrefix(got.Signatures.Cosign.Signer, "sha256:") {
		t.Fatalf("the API says of 0.1.0: %+v", got)
	}

	t.Log("a .prov by a key the namespace does not trust is refused")
	other := f.chart("0.3.0", "", &stranger)
	code, out := f.upload("team", other, other+".prov")
	if code != http.StatusBadRequest || !strings.Contains(out, "signed-only") || !strings.Contains(out, "does not trust") {
		t.Fatalf("upload with an untrusted .prov: %d %s; want 400 naming the policy and the reason", code, out)
	}

	t.Log("the trusted .prov of 0.2.0, uploaded after it, releases it; helm pull --verify checks it")
	prov, err := os.ReadFile(signed + ".prov")
	if err != nil {
		t.Fatal(err)
	}
	resp, body, err := f.admin.do("POST", repoAPI("team", "prov"), prov, map[string]string{"Content-Type": "application/octet-stream"})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST the .prov: %v %v %s", err, resp, body)
	}
	if !f.readerSees("team", "0.2.0") {
		t.Fatal("a trusted .prov did not release 0.2.0")
	}
	if got := f.version("team", "0.2.0"); got.Signatures.Prov.Status != "valid" || got.Signatures.Prov.Signer == "" {
		t.Fatalf("the API says of 0.2.0: %+v", got)
	}
	f.reader.must(f.helm, "pull", "demo", "--repo", f.srv.URL("/team"), "--version", "0.2.0", "--verify", "--keyring", key.pubring, "--destination", t.TempDir())

	t.Log("signed-only off: everything is visible again")
	f.chartroom("policy", "set", "team", "--signed-only=false")
	f.pub.must(f.helm, "push", f.chart("0.4.0", "", nil), "oci://"+f.srv.Host()+"/team", "--plain-http")
	if !f.readerSees("team", "0.4.0") {
		t.Fatal("an unsigned version is quarantined without the policy")
	}
}

// TestPolicySemverEnforce: in a namespace whose semver discipline is enforce, 1.4.3 of a
// change that removes a values key is refused (409, naming the change and 2.0.0) and 2.0.0
// is accepted, with helm push and over the upload API.
func TestPolicySemverEnforce(t *testing.T) {
	t.Parallel()
	f := newPolicyFixture(t)
	const base, removed = "greeting: hello\nlegacy: true\n", "greeting: hello\n"
	for _, proto := range []string{"oci", "upload"} {
		ns := "sv" + proto
		publish := func(tgz string) (bool, string) {
			if proto == "oci" {
				out, err := f.pub.run(f.helm, "push", tgz, "oci://"+f.srv.Host()+"/"+ns, "--plain-http")
				return err == nil, out
			}
			code, out := f.upload(ns, tgz, "")
			return code == http.StatusCreated, strings.ReplaceAll(out, `\u003e`, ">") + " (" + http.StatusText(code) + ")"
		}
		if ok, out := publish(f.chart("1.4.2", base, nil)); !ok {
			t.Fatalf("%s: 1.4.2: %s", proto, out)
		}
		f.chartroom("policy", "set", ns, "--semver-discipline", "enforce")
		ok, out := publish(f.chart("1.4.3", removed, nil))
		if ok {
			t.Fatalf("%s: 1.4.3 removing a values key was accepted: %s", proto, out)
		}
		for _, want := range []string{".legacy", "removed", "2.0.0"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: the refusal lacks %q: %s", proto, want, out)
			}
		}
		if proto == "oci" && !strings.Contains(out, "409") && !strings.Contains(out, "Conflict") && !strings.Contains(out, "DENIED") {
			t.Errorf("helm push's refusal is not a 409: %s", out)
		} else if proto == "upload" && !strings.Contains(out, "(Conflict)") {
			t.Errorf("the upload's refusal is not a 409: %s", out)
		}
		if ok, out := publish(f.chart("2.0.0", removed, nil)); !ok {
			t.Fatalf("%s: 2.0.0 refused: %s", proto, out)
		}
	}
}
