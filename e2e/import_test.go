package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chartroom/chartroom/internal/chart/charttest"
)

// chartroom import and mirror against a test server standing in for ChartMuseum (its
// index.yaml with relative charts/… URLs, archives and .prov files behind Basic auth), and
// between two chartroom servers over OCI with the real cosign.

// museumVersion is one chart version the stand-in serves.
type museumVersion struct {
	name, version string
	archive, prov []byte
	created       time.Time
}

func (v *museumVersion) file() string { return v.name + "-" + v.version + ".tgz" }
func (v *museumVersion) digest() string {
	s := sha256.Sum256(v.archive)
	return hex.EncodeToString(s[:])
}

// museum is the stand-in: it serves /index.yaml and /charts/NAME-VERSION.tgz[.prov] as
// ChartMuseum does, to user:pass only (when set).
type museum struct {
	srv        *httptest.Server
	user, pass string

	mu       sync.Mutex
	versions map[string]*museumVersion // by file name
	gets     map[string]int
}

func newMuseum(t *testing.T, user, pass string, versions []*museumVersion) *museum {
	m := &museum{user: user, pass: pass, versions: map[string]*museumVersion{}, gets: map[string]int{}}
	for _, v := range versions {
		m.versions[v.file()] = v
	}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *museum) serve(w http.ResponseWriter, r *http.Request) {
	if m.user != "" {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u+":"+p), []byte(m.user+":"+m.pass)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="chartmuseum"`)
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets[r.URL.Path]++
	if r.URL.Path == "/index.yaml" {
		w.Write(m.index())
		return
	}
	file, ok := strings.CutPrefix(r.URL.Path, "/charts/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if v := m.versions[strings.TrimSuffix(file, ".prov")]; v != nil {
		if strings.HasSuffix(file, ".prov") {
			if v.prov == nil {
				http.NotFound(w, r)
				return
			}
			w.Write(v.prov)
			return
		}
		w.Write(v.archive)
		return
	}
	http.NotFound(w, r)
}

// index is ChartMuseum's index.yaml (JSON is YAML): relative URLs, digests, created dates.
func (m *museum) index() []byte {
	type entry struct {
		APIVersion string   `json:"apiVersion"`
		Name       string   `json:"name"`
		Version    string   `json:"version"`
		URLs       []string `json:"urls"`
		Digest     string   `json:"digest"`
		Created    string   `json:"created"`
	}
	entries := map[string][]entry{}
	for _, v := range m.versions {
		entries[v.name] = append(entries[v.name], entry{APIVersion: "v2", Name: v.name, Version: v.version,
			URLs: []string{"charts/" + v.file()}, Digest: v.digest(), Created: v.created.Format(time.RFC3339Nano)})
	}
	b, _ := json.Marshal(map[string]any{"apiVersion": "v1", "entries": entries, "generated": time.Now().Format(time.RFC3339Nano)})
	return b
}

// signedVersions makes n versions of charts app0…app9, each signed with signer, dated
// a few hours apart in 2021 with nanoseconds.
func signedVersions(t *testing.T, signer *charttest.Signer, n int) []*museumVersion {
	var out []*museumVersion
	base := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	for i := 0; i < n; i++ {
		v := &museumVersion{name: fmt.Sprintf("app%d", i%10), version: fmt.Sprintf("1.%d.%d", i/100, i%100/10),
			created: base.Add(time.Duration(i)*3*time.Hour + time.Duration(i*7919)*time.Microsecond)}
		v.archive = charttest.Archive(t, v.name, v.version, fmt.Sprint("version ", i))
		if signer != nil {
			v.prov = signer.Sign(t, v.archive, v.file())
		}
		out = append(out, v)
	}
	return out
}

// importReport is chartroom import -o json's report.
type importReport struct {
	Imported       int `json:"imported"`
	AlreadyPresent int `json:"alreadyPresent"`
	Failed         int `json:"failed"`
	Changed        int `json:"changedAtSource"`
	Versions       []struct {
		Name, Version, Status, Digest, Why string
	} `json:"versions"`
	Error string `json:"error"`
}

func parseReport(t *testing.T, out string) importReport {
	t.Helper()
	var rep importReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, out)
	}
	return rep
}

// TestImportChartMuseum1000: 1,000 signed versions behind Basic auth are imported, the
// import killed half-way and run again: every version is published once, with the source's
// digest and created date, pullable over both protocols, and helm pull --verify passes.
func TestImportChartMuseum1000(t *testing.T) {
	t.Parallel()
	helm := need(t, helm3)
	signer := charttest.NewSigner(t, "Chart Signer")
	versions := signedVersions(t, signer, 1000)
	src := newMuseum(t, "museum", "s3cret", versions)
	srv := StartServer(t)
	e := newToolEnv(t)
	dstEnv := []string{"CHARTROOM_USERNAME=admin", "CHARTROOM_PASSWORD=" + srv.Password}
	args := []string{"import", src.srv.URL, "--to", srv.Host() + "/team", "--plain-http", "--username", "museum", "--password-stdin"}

	t.Log("without the source's credentials the import fails, saying so")
	r := e.tcRun("", "", dstEnv, "import", src.srv.URL, "--to", srv.Host()+"/team", "--plain-http")
	if r.code != 2 || !strings.Contains(r.stderr, "requires a login") || !strings.Contains(r.stderr, "--username") {
		t.Fatalf("import without credentials: exit %d\n%s", r.code, r.stderr)
	}

	t.Log("the import is killed after about 500 versions")
	cmd := exec.Command(chartroomBin(t), args...)
	cmd.Env = append(append([]string{}, e.env...), dstEnv...)
	cmd.Stdin = strings.NewReader("s3cret\n")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	imported := 0
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "imported ") {
			imported++
		} else if !strings.HasSuffix(sc.Text(), "versions listed") {
			t.Errorf("unexpected line: %s", sc.Text())
		}
		if imported == 500 {
			cmd.Process.Kill()
			break
		}
	}
	cmd.Wait()
	if imported != 500 {
		t.Fatalf("the first run printed %d imported lines before it ended", imported)
	}

	t.Log("run again: it finishes, reporting the first part as already present")
	r = e.tcRun("", "s3cret\n", dstEnv, append(args, "-o", "json")...)
	if r.code != 0 {
		t.Fatalf("second import: exit %d\n%s", r.code, r.stderr)
	}
	rep := parseReport(t, r.stdout)
	if rep.Failed != 0 || rep.Imported+rep.AlreadyPresent != 1000 || rep.AlreadyPresent < 500 || len(rep.Versions) != 1000 {
		t.Fatalf("second run: imported %d, already present %d, failed %d of %d", rep.Imported, rep.AlreadyPresent, rep.Failed, len(rep.Versions))
	}
	t.Logf("second run: imported %d, already present %d", rep.Imported, rep.AlreadyPresent)

	t.Log("a third run imports nothing")
	r = e.tcRun("", "s3cret\n", dstEnv, append(args, "-o", "json")...)
	if rep := parseReport(t, r.stdout); r.code != 0 || rep.AlreadyPresent != 1000 || rep.Imported != 0 {
		t.Fatalf("third run: exit %d, imported %d, already present %d", r.code, rep.Imported, rep.AlreadyPresent)
	}

	t.Log("the destination's index lists every version once, with the source's digest and date")
	c := adminClient(srv)
	idx := repoGetIndex(t, c, "team")
	seen := map[string]bool{}
	for name, es := range idx.Entries {
		for _, e := range es {
			key := name + "-" + e.Version + ".tgz"
			if seen[key] {
				t.Errorf("%s listed twice", key)
			}
			seen[key] = true
			v := src.versions[key]
			if v == nil {
				t.Errorf("the index lists %s, which the source does not have", key)
				continue
			}
			if e.Digest != v.digest() {
				t.Errorf("%s: digest %s, the source's %s", key, e.Digest, v.digest())
			}
			if got, err := time.Parse(time.RFC3339Nano, e.Created); err != nil || !got.Equal(v.created) {
				t.Errorf("%s: created %s, the source's %s", key, e.Created, v.created.Format(time.RFC3339Nano))
			}
		}
	}
	if len(seen) != 1000 {
		t.Fatalf("the index lists %d versions, want 1000", len(seen))
	}
	indexYAML := string(repoGet(t, c, "/team/index.yaml", http.StatusOK))
	if v := versions[123]; !strings.Contains(indexYAML, v.created.Format(time.RFC3339Nano)) {
		t.Errorf("index.yaml does not say %s's created date %s", v.file(), v.created.Format(time.RFC3339Nano))
	}
	for i := 0; i < 10; i++ {
		var tags struct{ Tags []string }
		resp, body, err := c.do("GET", "/v2/team/app"+fmt.Sprint(i)+"/tags/list", nil, nil)
		if err != nil || resp.StatusCode != 200 || json.Unmarshal(body, &tags) != nil || len(tags.Tags) != 100 {
			t.Errorf("tags of team/app%d: %v %s", i, err, body)
		}
	}

	t.Log("every 50th version pulls over both protocols with the source's bytes; a sample verifies")
	e.must(helm, "registry", "login", srv.Host(), "--username", "admin", "--password", srv.Password, "--insecure")
	pubring := filepath.Join(t.TempDir(), "pubring.gpg")
	var pub bytes.Buffer
	if err := signer.Entity.Serialize(&pub); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubring, pub.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i += 50 {
		v := versions[i]
		for _, proto := range []string{"oci", "classic"} {
			dest := t.TempDir()
			pull := []string{"pull", "oci://" + srv.Host() + "/team/" + v.name, "--version", v.version, "--plain-http", "--destination", dest}
			if proto == "classic" {
				pull = []string{"pull", v.name, "--repo", srv.URL("/team"), "--version", v.version, "--username", "admin", "--password", srv.Password, "--destination", dest}
			}
			if i%250 == 0 {
				pull = append(pull, "--verify", "--keyring", pubring)
			}
			e.must(helm, pull...)
			got, err := os.ReadFile(filepath.Join(dest, v.file()))
			if err != nil || !bytes.Equal(got, v.archive) {
				t.Errorf("%s over %s: not the source's bytes (%v)", v.file(), proto, err)
			}
		}
	}
	if n := src.gets["/charts/"+versions[0].file()]; n > 2 {
		t.Errorf("the source's %s was downloaded %d times; resumed runs should skip it", versions[0].file(), n)
	}
}

// TestMirrorDetectsChangedSource: a one-shot mirror copies a static repository; when the
// source then serves other bytes under a copied version, the next run reports it as
// changed at the source (exit 1) and the destination keeps serving the first bytes.
func TestMirrorDetectsChangedSource(t *testing.T) {
	t.Parallel()
	versions := signedVersions(t, nil, 3)
	src := newMuseum(t, "", "", versions)
	srv := StartServer(t)
	e := newToolEnv(t)
	dstEnv := []string{"CHARTROOM_USERNAME=admin", "CHARTROOM_PASSWORD=" + srv.Password}
	args := []string{"mirror", src.srv.URL, "--to", srv.Host() + "/upstream", "--plain-http", "-o", "json"}

	r := e.tcRun("", "", dstEnv, args...)
	if rep := parseReport(t, r.stdout); r.code != 0 || rep.Imported != 3 {
		t.Fatalf("first mirror: exit %d, imported %d\n%s", r.code, rep.Imported, r.stderr)
	}
	r = e.tcRun("", "", dstEnv, args...)
	if rep := parseReport(t, r.stdout); r.code != 0 || rep.AlreadyPresent != 3 {
		t.Fatalf("mirror in sync: exit %d, already present %d\n%s", r.code, rep.AlreadyPresent, r.stderr)
	}

	t.Log("the source replaces app1 1.0.0 with other bytes")
	v := versions[1]
	original := v.archive
	src.mu.Lock()
	v.archive = charttest.Archive(t, v.name, v.version, "tampered")
	src.mu.Unlock()
	r = e.tcRun("", "", dstEnv, args...)
	rep := parseReport(t, r.stdout)
	if r.code != 1 || rep.Changed != 1 || rep.AlreadyPresent != 2 {
		t.Fatalf("mirror after the change: exit %d, changed %d, already present %d\n%s", r.code, rep.Changed, rep.AlreadyPresent, r.stdout)
	}
	for _, got := range rep.Versions {
		if got.Name == v.name && got.Version == v.version {
			if got.Status != "changed at the source" || !strings.Contains(got.Why, sha256Hex(original)) {
				t.Errorf("%s %s: %s (%s)", got.Name, got.Version, got.Status, got.Why)
			}
		}
	}
	if body := repoGet(t, adminClient(srv), "/upstream/charts/"+v.file(), http.StatusOK); !bytes.Equal(body, original) {
		t.Fatal("the destination no longer serves the bytes it first copied")
	}
	t.Log("in text form the alarm is printed")
	r = e.tcRun("", "", dstEnv, args[:len(args)-2]...)
	if r.code != 1 || !strings.Contains(r.stdout, "Changed at the source: 1") || !strings.Contains(r.stdout, v.name+" "+v.version+": differs from the destination") {
		t.Fatalf("mirror text report: exit %d\n%s", r.code, r.stdout)
	}
	t.Log("import says the same as a failure")
	r = e.tcRun("", "", dstEnv, "import", src.srv.URL, "--to", srv.Host()+"/upstream", "--plain-http", "-o", "json")
	if rep := parseReport(t, r.stdout); r.code != 1 || rep.Failed != 1 || rep.Changed != 0 {
		t.Fatalf("import after the change: exit %d, failed %d\n%s", r.code, rep.Failed, r.stdout)
	}
}

// TestImportOCICopiesCosignSignatures: charts signed with the real cosign on one chartroom
// (a .sig tag and a sigstore bundle referrer) are imported over OCI into another, byte for
// byte: cosign verify --key passes on the destination.
func TestImportOCICopiesCosignSignatures(t *testing.T) {
	t.Parallel()
	fx := newCosignFixture(t, "team")
	sign := []string{"sign", "--key", fx.key("co.key"), "--tlog-upload=false", "--allow-http-registry", "--yes"}
	fx.e.mustIn(fx.dir, fx.cosign, append(sign, fx.host+"/team/demo:0.1.0")...)
	fx.e.mustIn(fx.dir, fx.cosign, append(sign, "--new-bundle-format", fx.host+"/team/demo:0.2.0")...)

	dst := StartServer(t)
	fx.e.tcMust("login", dst.Host(), "--username", "admin", "--password", dst.Password, "--plain-http")
	fx.e.must(fx.cosign, "login", dst.Host(), "--username", "admin", "--password", dst.Password)
	r := fx.e.tcRun("", "", nil, "import", "oci://"+fx.host+"/team", "--to", dst.Host()+"/copy", "--plain-http",
		"--username", "admin", "--password", fx.srv.Password, "-o", "json")
	rep := parseReport(t, r.stdout)
	if r.code != 0 || rep.Imported != 2 {
		t.Fatalf("import over OCI: exit %d, imported %d\n%s%s", r.code, rep.Imported, r.stdout, r.stderr)
	}
	for v, d := range fx.digests {
		status, _, got, err := adminClient(dst).getManifest("copy/demo", v)
		if err != nil || status != 200 || got != d {
			t.Errorf("copy/demo:%s is %s (%d, %v), the source's %s", v, got, status, err, d)
		}
	}
	verify := func(version string, extra ...string) {
		t.Helper()
		args := append([]string{"verify", "--key", fx.key("co.pub"), "--insecure-ignore-tlog", "--allow-http-registry"}, extra...)
		out, err := fx.e.runIn(fx.dir, fx.cosign, append(args, dst.Host()+"/copy/demo:"+version)...)
		if err != nil || !strings.Contains(out, `"docker-manifest-digest":"`+fx.digests[version]+`"`) {
			t.Fatalf("cosign verify on the destination, %s: %v\n%s", version, err, out)
		}
	}
	verify("0.1.0")
	verify("0.2.0", "--new-bundle-format", "--trusted-root", fx.trustedRoot)

	t.Log("again: everything already present")
	r = fx.e.tcRun("", "", nil, "import", "oci://"+fx.host+"/team", "--to", dst.Host()+"/copy", "--plain-http",
		"--username", "admin", "--password", fx.srv.Password, "-o", "json")
	if rep := parseReport(t, r.stdout); r.code != 0 || rep.AlreadyPresent != 2 {
		t.Fatalf("second import: exit %d, already present %d", r.code, rep.AlreadyPresent)
	}
}
