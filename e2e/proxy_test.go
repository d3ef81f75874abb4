package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Proxy namespaces with the real binary and the real helm: a static chart repository served
// by a file server (behind Basic auth, its index.yaml made by chartroom index with URLs
// relative to it), proxied by chartroom serve over HTTPS, installed from the proxy with helm
// v3 and v4 into the fake Kubernetes API server (kubeapi_test.go); then another chartroom
// proxied over OCI.

// staticUpstream is a static chart repository on a file server that can be stopped and
// started again on the same address.
type staticUpstream struct {
	t    *testing.T
	dir  string
	addr string
	srv  *httptest.Server
}

const upstreamUser, upstreamPass = "mirror", "upstream-secret-1"

func newStaticUpstream(t *testing.T, dir string) *staticUpstream {
	u := &staticUpstream{t: t, dir: dir}
	u.start("127.0.0.1:0")
	t.Cleanup(func() { u.stop() })
	return u
}

func (u *staticUpstream) start(addr string) {
	u.t.Helper()
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		u.t.Fatalf("listen on %s again: %v", addr, err)
	}
	files := http.FileServer(http.Dir(u.dir))
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pass, ok := r.BasicAuth(); !ok || user != upstreamUser || pass != upstreamPass {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		files.ServeHTTP(w, r)
	}))
	u.srv.Listener.Close()
	u.srv.Listener = ln
	u.srv.Start()
	u.addr = ln.Addr().String()
}

func (u *staticUpstream) stop() {
	if u.srv != nil {
		u.srv.Close()
		u.srv = nil
	}
}

func (u *staticUpstream) url() string { return "http://" + u.addr + "/stable" }

// proxyStatus is what chartroom proxy status NAMESPACE -o json prints.
type proxyStatus struct {
	Namespace       string `json:"namespace"`
	Upstream        string `json:"upstream"`
	LastRefresh     string `json:"lastRefresh"`
	LastError       string `json:"lastError"`
	Listed          int    `json:"listed"`
	UpstreamChanged []struct {
		Name, Version, Pinned, Upstream string
	} `json:"upstreamChanged"`
}

func getProxyStatus(t *testing.T, srv *Server, ns string) proxyStatus {
	t.Helper()
	var st proxyStatus
	out := chartroomIn(t, "", "proxy", "status", ns, "--data-dir", srv.DataDir, "-o", "json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("proxy status printed %q: %v", out, err)
	}
	return st
}

// awaitProxy polls chartroom proxy status until ok says it is so (the server refreshes every
// --refresh, here 1s).
func awaitProxy(t *testing.T, srv *Server, ns, what string, ok func(proxyStatus) bool) proxyStatus {
	t.Helper()
	var st proxyStatus
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if st = getProxyStatus(t, srv, ns); ok(st) {
			return st
		}
	}
	t.Fatalf("proxy %s: %s did not happen: %+v", ns, what, st)
	return st
}

func TestProxy(t *testing.T) {
	helm := need(t, helm3)
	key := newSigningKey(t)
	e := newToolEnv(t)
	work := t.TempDir()
	repoDir := filepath.Join(work, "upstream")
	stable := filepath.Join(repoDir, "stable")
	if err := os.MkdirAll(stable, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, v := range [][2]string{{"0.1.0", "1.0"}, {"0.2.0", "2.0"}} {
		dir := repoChartDir(t, filepath.Join(work, "src-"+v[0]), "demo", v[0], v[1])
		if err := os.WriteFile(filepath.Join(dir, "templates", "deployment.yaml"), []byte(proxyDeployment), 0o644); err != nil {
			t.Fatal(err)
		}
		e.must(helm, "package", "--sign", "--key", key.name, "--keyring", key.secring, dir, "--destination", stable)
	}
	chartroomIn(t, "", "index", stable)
	original, err := os.ReadFile(filepath.Join(stable, "demo-0.1.0.tgz"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "pinned.tgz"), original, 0o644); err != nil {
		t.Fatal(err)
	}
	up := newStaticUpstream(t, repoDir)

	t.Log("chartroom serves HTTPS with a certificate from a test CA that helm gets with --ca-file")
	caKey, caCert, caDER := newTestCert(t, nil, nil, "e2e proxy CA", 0)
	caFile := filepath.Join(work, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(work, "tls.crt"), filepath.Join(work, "tls.key")
	writeServerPair(t, caCert, caKey, "chartroom", certFile, keyFile)
	srv := StartServer(t, "--tls-cert", certFile, "--tls-key", keyFile)
	host := srv.Host()
	ca := []string{"--ca-file", caFile}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	c := adminClient(srv)
	c.base = "https://" + host
	c.http.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Log("chartroom proxy add: the upstream's credentials from standard input")
	chartroomIn(t, upstreamPass+"\n", "proxy", "add", "up", up.url(), "--refresh", "1s", "--username", upstreamUser, "--password-stdin", "--data-dir", srv.DataDir)
	if out := chartroomIn(t, "", "proxy", "list", "--data-dir", srv.DataDir); !strings.Contains(out, "up\t"+up.url()) {
		t.Fatalf("proxy list = %q", out)
	}
	awaitProxy(t, srv, "up", "a first refresh listing 2 versions", func(st proxyStatus) bool { return st.Listed == 2 })

	t.Log("helm repo add over https://…/up: the upstream's versions, before any is fetched")
	e.must(helm, append([]string{"repo", "add", "proxied", "https://" + host + "/up", "--username", "admin", "--password", srv.Password}, ca...)...)
	if got := searchVersions(t, e.must(helm, "search", "repo", "proxied/demo", "--versions")); len(got) != 2 || got[0][0] != "0.2.0" || got[1][0] != "0.1.0" {
		t.Fatalf("helm search through the proxy = %v; want 0.2.0 and 0.1.0", got)
	}

	t.Log("the first pull fetches from the upstream, with its .prov: helm pull --verify passes")
	pulled := t.TempDir()
	out := e.must(helm, "pull", "proxied/demo", "--version", "0.1.0", "--verify", "--keyring", key.pubring, "--destination", pulled)
	if !strings.Contains(out, "Chart Hash Verified") {
		t.Errorf("helm pull --verify did not verify:\n%s", out)
	}
	sameFile(t, filepath.Join(pulled, "demo-0.1.0.tgz"), filepath.Join(stable, "demo-0.1.0.tgz"))

	for _, h := range helmVersions {
		t.Run("helm install "+h.name, func(t *testing.T) { proxyInstall(t, h, srv, caFile) })
	}

	t.Log("the same bytes and digest over oci://…/up")
	e.must(helm, append([]string{"registry", "login", host, "--username", "admin", "--password", srv.Password}, ca...)...)
	ociPulled := t.TempDir()
	out = e.must(helm, append([]string{"pull", "oci://" + host + "/up/demo", "--version", "0.1.0", "--destination", ociPulled}, ca...)...)
	sameFile(t, filepath.Join(ociPulled, "demo-0.1.0.tgz"), filepath.Join(stable, "demo-0.1.0.tgz"))
	layers := chartLayers(t, c, "up/demo", printedDigest(t, out))
	if layers[chartLayer] != "sha256:"+sha256Hex(original) || indexDigest(repoGetIndex(t, c, "up"), "demo", "0.1.0") != sha256Hex(original) {
		t.Fatalf("OCI layer %s, index digest %s, upstream file sha256:%s", layers[chartLayer], indexDigest(repoGetIndex(t, c, "up"), "demo", "0.1.0"), sha256Hex(original))
	}

	t.Log("pushes into a proxy namespace are refused, saying why")
	out, err = e.run(helm, append([]string{"push", filepath.Join(stable, "demo-0.2.0.tgz"), "oci://" + host + "/up"}, ca...)...)
	wantRefused(t, "helm push into a proxy namespace", out, err, "proxy")

	t.Log("the upstream stopped: cached versions still serve and the index still lists both")
	up.stop()
	awaitProxy(t, srv, "up", "a failed refresh", func(st proxyStatus) bool { return st.LastError != "" })
	pulled = t.TempDir()
	e.must(helm, "pull", "proxied/demo", "--version", "0.1.0", "--destination", pulled)
	sameFile(t, filepath.Join(pulled, "demo-0.1.0.tgz"), filepath.Join(stable, "demo-0.1.0.tgz"))
	if idx := repoGetIndex(t, c, "up"); len(idx.Entries["demo"]) != 2 {
		t.Fatalf("index with the upstream down: %+v; want both versions", idx.Entries)
	}
	if !strings.Contains(srv.Logs(), "keeps serving") {
		t.Error("no warning logged about the stale listing")
	}

	t.Log("the upstream replaces demo 0.1.0 with other bytes: the pinned bytes serve, the version is flagged")
	dir := repoChartDir(t, filepath.Join(work, "src-tampered"), "demo", "0.1.0", "6.6.6")
	os.Remove(filepath.Join(stable, "demo-0.1.0.tgz.prov"))
	e.must(helm, "package", dir, "--destination", stable)
	chartroomIn(t, "", "index", stable)
	tampered := fileSHA256(t, filepath.Join(stable, "demo-0.1.0.tgz"))
	if tampered == sha256Hex(original) {
		t.Fatal("the replaced archive has the same bytes")
	}
	up.start(up.addr)
	st := awaitProxy(t, srv, "up", "the change flagged", func(st proxyStatus) bool { return len(st.UpstreamChanged) == 1 })
	if ch := st.UpstreamChanged[0]; ch.Version != "0.1.0" || ch.Pinned != "sha256:"+sha256Hex(original) || ch.Upstream != "sha256:"+tampered {
		t.Fatalf("proxy status upstreamChanged = %+v; want 0.1.0 pinned %s, upstream %s", ch, sha256Hex(original), tampered)
	}
	if text := chartroomIn(t, "", "proxy", "status", "--data-dir", srv.DataDir); !strings.Contains(text, "UPSTREAM CHANGED demo 0.1.0") {
		t.Errorf("proxy status text lacks the change:\n%s", text)
	}
	e.must(helm, "repo", "update")
	pulled = t.TempDir()
	e.must(helm, "pull", "proxied/demo", "--version", "0.1.0", "--destination", pulled)
	sameFile(t, filepath.Join(pulled, "demo-0.1.0.tgz"), filepath.Join(work, "pinned.tgz"))
	index := string(repoGet(t, c, "/up/index.yaml", http.StatusOK))
	if !strings.Contains(index, "chartroom.io/upstream-changed: sha256:"+tampered) || !strings.Contains(index, "digest: "+sha256Hex(original)) {
		t.Errorf("index.yaml lacks the annotation or the pinned digest:\n%s", index)
	}
	api := string(repoGet(t, c, "/api/up/charts/demo/0.1.0", http.StatusOK))
	if !strings.Contains(api, `"upstreamChanged":"sha256:`+tampered+`"`) {
		t.Errorf("the API's version lacks upstreamChanged: %s", api)
	}
	audit := chartroomIn(t, "", "audit", "--data-dir", srv.DataDir, "--output", "json")
	if !strings.Contains(audit, "proxy.upstream_changed") {
		t.Errorf("the audit log lacks the change:\n%s", audit)
	}
	if !strings.Contains(srv.Logs(), "the pinned bytes keep serving") {
		t.Error("no warning logged about the change")
	}

	t.Log("a mirroring proxy from serve's config file holds every listed version without a pull")
	cfg := filepath.Join(work, "chartroom.yaml")
	conf := "proxies:\n  - namespace: mirrored\n    upstream: " + up.url() + "\n    mirror: true\n    refresh: 1h\n" +
		"    username: " + upstreamUser + "\n    password: " + upstreamPass + "\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	mirrorSrv := StartServer(t, "--config", cfg)
	mc := adminClient(mirrorSrv)
	awaitProxy(t, mirrorSrv, "mirrored", "a first refresh", func(st proxyStatus) bool { return st.LastRefresh != "" })
	// (/api/<ns>/charts/<name> lists the versions held, not those only listed.)
	var held []json.RawMessage
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, body, err := mc.do("GET", "/api/mirrored/charts/demo", nil, nil)
		if err == nil && resp.StatusCode == http.StatusOK && json.Unmarshal(body, &held) == nil && len(held) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mirroring proxy holds %d version(s) (%v); want both", len(held), err)
		}
	}

	t.Log("another chartroom proxied over OCI")
	other := StartServer(t)
	e.must(helm, "registry", "login", other.Host(), "--username", "admin", "--password", other.Password, "--plain-http")
	e.must(helm, "push", filepath.Join(stable, "demo-0.2.0.tgz"), "oci://"+other.Host()+"/team", "--plain-http")
	chartroomIn(t, other.Password+"\n", "proxy", "add", "fromoci", "oci://"+other.Host()+"/team", "--username", "admin", "--password-stdin", "--data-dir", srv.DataDir)
	ociPulled = t.TempDir()
	e.must(helm, append([]string{"pull", "oci://" + host + "/fromoci/demo", "--version", "0.2.0", "--destination", ociPulled}, ca...)...)
	sameFile(t, filepath.Join(ociPulled, "demo-0.2.0.tgz"), filepath.Join(stable, "demo-0.2.0.tgz"))
	e.must(helm, append([]string{"repo", "add", "fromoci", "https://" + host + "/fromoci", "--username", "admin", "--password", srv.Password}, ca...)...)
	pulled = t.TempDir()
	e.must(helm, "pull", "fromoci/demo", "--version", "0.2.0", "--verify", "--keyring", key.pubring, "--destination", pulled)
	sameFile(t, filepath.Join(pulled, "demo-0.2.0.tgz"), filepath.Join(stable, "demo-0.2.0.tgz"))
}

// proxyDeployment is a Deployment template for the proxied charts, whose image shows the
// chart's app version.
const proxyDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
  labels:
    app.kubernetes.io/instance: {{ .Release.Name }}
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ .Release.Name }}
    spec:
      containers:
        - name: demo
          image: "registry.example/demo:{{ .Chart.AppVersion }}"
`

// proxyInstall installs the proxied demo chart with helm h into a fake cluster, over
// https://…/up (demo 0.2.0, whose first fetch from the upstream this is for helm v3) and over
// oci://…/up (demo 0.1.0), checks what the cluster received, and uninstalls both.
func proxyInstall(t *testing.T, h tool, srv *Server, caFile string) {
	helm := need(t, h)
	e := newToolEnv(t)
	kube := newFakeKube(t)
	kube.Use(e)
	host := srv.Host()
	ca := []string{"--ca-file", caFile}
	e.must(helm, append([]string{"repo", "add", "proxied", "https://" + host + "/up", "--username", "admin", "--password", srv.Password}, ca...)...)
	e.must(helm, "install", "web", "proxied/demo", "--version", "0.2.0")
	e.must(helm, append([]string{"registry", "login", host, "--username", "admin", "--password", srv.Password}, ca...)...)
	e.must(helm, append([]string{"install", "api", "oci://" + host + "/up/demo", "--version", "0.1.0"}, ca...)...)

	for _, want := range []struct{ release, version, app string }{{"web", "0.2.0", "2.0"}, {"api", "0.1.0", "1.0"}} {
		if img := kube.Image("default", want.release+"-demo"); img != "registry.example/demo:"+want.app {
			t.Errorf("Deployment %s-demo has image %q; want registry.example/demo:%s", want.release, img, want.app)
		}
		cm := kube.Object("", "configmaps", "default", want.release+"-demo")
		if data, _ := cm["data"].(map[string]any); data["app"] != want.app {
			t.Errorf("ConfigMap %s-demo = %v; want data.app %s", want.release, cm, want.app)
		}
		rel, labels, ok := kube.Release("default", want.release, 1)
		if !ok || rel.Info.Status != "deployed" || labels["status"] != "deployed" || rel.Chart.Metadata.Name != "demo" || rel.Chart.Metadata.Version != want.version {
			t.Errorf("release Secret of %s: found %v, %+v, labels %v; want demo %s deployed", want.release, ok, rel, labels, want.version)
		}
	}
	for _, rel := range []string{"web", "api"} {
		e.must(helm, "uninstall", rel)
		if kube.Object("apps", "deployments", "default", rel+"-demo") != nil || kube.Object("", "configmaps", "default", rel+"-demo") != nil {
			t.Errorf("helm uninstall %s left its objects: %v", rel, kube.Events())
		}
		if _, _, ok := kube.Release("default", rel, 1); ok {
			t.Errorf("helm uninstall %s left its release Secret", rel)
		}
	}
	if u := kube.Unknown(); len(u) > 0 {
		t.Errorf("helm asked the fake cluster for what it does not serve: %v", u)
	}
}
