package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"html"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// installBlock is one install command block of a chart page: <pre id="install-…"><code>…</code></pre>.
var installBlock = regexp.MustCompile(`(?s)<pre id="(install-[a-z-]+)"><code>(.*?)</code></pre>`)

// TestInstallCommandsFromTheUI: the helm commands a chart page tells people to copy work as
// they are. chartroom serves HTTPS (a test CA) with a namespace open to anonymous readers; the
// test reads /ui/chart/<ns>/<chart> as an anonymous visitor, takes the "helm (OCI)" and "helm (chart
// repository)" command lines from the page, and runs them verbatim with helm v3 and v4 against
// the fake Kubernetes API server (kubeapi_test.go), adding only --ca-file (the test CA, which a
// real certificate would not need) to the commands that reach chartroom.
func TestInstallCommandsFromTheUI(t *testing.T) {
	work := t.TempDir()
	caKey, caCert, caDER := newTestCert(t, nil, nil, "e2e UI CA", 0)
	caFile := filepath.Join(work, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(work, "tls.crt"), filepath.Join(work, "tls.key")
	writeServerPair(t, caCert, caKey, "chartroom", certFile, keyFile)
	srv := StartServer(t, "--tls-cert", certFile, "--tls-key", keyFile)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: time.Minute}

	t.Log("publish demo 0.1.0 (a Deployment whose image shows the app version) into the public namespace pub")
	helm := need(t, helm3)
	e := newToolEnv(t)
	dir := repoChartDir(t, filepath.Join(work, "src"), "demo", "0.1.0", "4.2")
	if err := os.WriteFile(filepath.Join(dir, "templates", "deployment.yaml"), []byte(proxyDeployment), 0o644); err != nil {
		t.Fatal(err)
	}
	e.must(helm, "package", dir, "--destination", work)
	archive, err := os.ReadFile(filepath.Join(work, "demo-0.1.0.tgz"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL("/api/pub/charts"), bytes.NewReader(archive))
	req.SetBasicAuth("admin", srv.Password)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	chartroomIn(t, "", "namespace", "set", "pub", "--anonymous-read", "--data-dir", srv.DataDir)

	t.Log("the chart page, as an anonymous visitor sees it")
	var page string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, err := client.Get(srv.URL("/ui/chart/pub/demo"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if page = string(b); resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) { // the server reads anonymous read within a second
			t.Fatalf("GET /ui/chart/pub/demo anonymously: %d\n%s", resp.StatusCode, page)
		}
	}
	commands := map[string][]string{}
	for _, m := range installBlock.FindAllStringSubmatch(page, -1) {
		commands[m[1]] = strings.Split(strings.TrimSpace(html.UnescapeString(m[2])), "\n")
	}
	for _, id := range []string{"install-oci", "install-repo"} {
		if len(commands[id]) == 0 {
			t.Fatalf("the chart page has no %s block:\n%s", id, page)
		}
		for _, line := range commands[id] {
			if !strings.HasPrefix(line, "helm ") {
				t.Fatalf("%s shows %q; want only helm command lines", id, line)
			}
		}
	}
	if got, want := commands["install-oci"][0], "helm install demo oci://"+srv.Host()+"/pub/demo --version 0.1.0"; got != want {
		t.Errorf("install-oci = %q; want %q", got, want)
	}

	for _, h := range helmVersions {
		t.Run(h.name, func(t *testing.T) {
			helm := need(t, h)
			e := newToolEnv(t)
			kube := newFakeKube(t)
			kube.Use(e)
			for _, id := range []string{"install-oci", "install-repo"} {
				t.Logf("the %s commands, verbatim", id)
				for _, line := range commands[id] {
					args := strings.Fields(line)[1:]
					// Those that reach chartroom trust the test CA.
					if args[0] == "install" && strings.HasPrefix(args[2], "oci://") || args[0] == "repo" && args[1] == "add" {
						args = append(args, "--ca-file", caFile)
					}
					e.must(helm, args...)
				}
				if img := kube.Image("default", "demo-demo"); img != "registry.example/demo:4.2" {
					t.Errorf("%s: Deployment demo-demo has image %q; want registry.example/demo:4.2", id, img)
				}
				rel, _, ok := kube.Release("default", "demo", 1)
				if !ok || rel.Info.Status != "deployed" || rel.Chart.Metadata.Version != "0.1.0" {
					t.Errorf("%s: release Secret found %v, %+v; want demo 0.1.0 deployed", id, ok, rel)
				}
				e.must(helm, "uninstall", "demo")
				if kube.Object("apps", "deployments", "default", "demo-demo") != nil {
					t.Errorf("%s: helm uninstall left the Deployment", id)
				}
			}
			if u := kube.Unknown(); len(u) > 0 {
				t.Errorf("helm asked the fake cluster for what it does not serve: %v", u)
			}
		})
	}
}
