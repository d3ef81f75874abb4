package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// tlsFiles are the PEM files of a test authority, a client certificate it signed and that
// certificate's key.
type tlsFiles struct{ ca, cert, key string }

// mtlsProxy puts chartroom behind HTTPS that requires a client certificate, as a terminating
// proxy in front of a registry does: a fresh authority signs the proxy's certificate (for
// 127.0.0.1) and a client certificate. It returns the proxy's host:port and the files.
func mtlsProxy(t *testing.T, srv *Server) (string, tlsFiles) {
	t.Helper()
	dir := t.TempDir()
	caKey, caCert, caDER := newTestCert(t, nil, nil, "e2e test CA", 0)
	proxyKey, _, proxyDER := newTestCert(t, caCert, caKey, "e2e proxy", x509.ExtKeyUsageServerAuth)
	clientKey, _, clientDER := newTestCert(t, caCert, caKey, "e2e client", x509.ExtKeyUsageClientAuth)
	files := tlsFiles{filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")}
	keyDER, err := x509.MarshalPKCS8PrivateKey(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	for path, block := range map[string]*pem.Block{
		files.ca:   {Type: "CERTIFICATE", Bytes: caDER},
		files.cert: {Type: "CERTIFICATE", Bytes: clientDER},
		files.key:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	upstream, _ := url.Parse(srv.URL("/"))
	proxy := httptest.NewUnstartedServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(upstream)
		r.Out.Host = r.In.Host // the name the client asked for: the server's links keep it
		r.SetXForwarded()      // X-Forwarded-Proto: https, as terminating proxies send
	}})
	proxy.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are what the test provokes
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	proxy.TLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{proxyDER}, PrivateKey: proxyKey}},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12,
	}
	proxy.StartTLS()
	t.Cleanup(proxy.Close)
	u, _ := url.Parse(proxy.URL)
	return u.Host, files
}

// newTestCert makes a key and a certificate for 127.0.0.1 and localhost with usage, signed by
// parent (self-signed as an authority when parent is nil).
func newTestCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, name string, usage x509.ExtKeyUsage) (*ecdsa.PrivateKey, *x509.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		parent, parentKey = tmpl, key
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert, der
}

// TestToolchainMutualTLS: chartroom and helm, with the same TLS flags, against chartroom
// behind HTTPS that requires a client certificate: a login helm registry login stored over
// mutual TLS serves chartroom, and what either pushes the other pulls byte for byte.
func TestToolchainMutualTLS(t *testing.T) {
	for _, h := range helmVersions {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			helm := need(t, h)
			srv := StartServer(t)
			host, files := mtlsProxy(t, srv)
			e := newToolEnv(t)
			tlsFlags := []string{"--ca-file", files.ca, "--cert-file", files.cert, "--key-file", files.key}
			work := t.TempDir()

			t.Log("helm registry login over mutual TLS; helm push")
			e.must(helm, append([]string{"registry", "login", host, "--username", "admin", "--password", srv.Password}, tlsFlags...)...)
			demo := tcHelmChart(t, e, helm, work, "demo", "0.1.0")
			e.must(helm, append([]string{"push", demo, "oci://" + host + "/team"}, tlsFlags...)...)

			t.Log("chartroom pull with helm's flags and helm's stored login: byte-identical")
			dest := t.TempDir()
			e.tcMust(append([]string{"pull", "oci://" + host + "/team/demo", "--version", "0.1.0", "-d", dest}, tlsFlags...)...)
			tcSameFile(t, filepath.Join(dest, "demo-0.1.0.tgz"), demo)

			t.Log("chartroom push over both transports → helm pull: byte-identical")
			web := tcHelmChart(t, e, helm, work, "web", "1.2.3")
			e.tcMust(append([]string{"push", web, "oci://" + host + "/team"}, tlsFlags...)...)
			dest = t.TempDir()
			e.must(helm, append([]string{"pull", "oci://" + host + "/team/web", "--version", "1.2.3", "--destination", dest}, tlsFlags...)...)
			tcSameFile(t, filepath.Join(dest, "web-1.2.3.tgz"), web)
			api := tcHelmChart(t, e, helm, work, "api", "2.0.0")
			e.tcMust(append([]string{"push", api, "https://" + host + "/team"}, tlsFlags...)...)
			dest = t.TempDir()
			e.must(helm, append([]string{"pull", "api", "--repo", "https://" + host + "/team", "--version", "2.0.0",
				"--username", "admin", "--password", srv.Password, "--destination", dest}, tlsFlags...)...)
			tcSameFile(t, filepath.Join(dest, "api-2.0.0.tgz"), api)

			t.Log("chartroom login over mutual TLS")
			r := e.tcRun("", srv.Password+"\n", nil, append([]string{"login", host, "-u", "admin", "--password-stdin"}, tlsFlags...)...)
			if r.code != 0 {
				t.Fatalf("chartroom login: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}

			t.Log("what goes wrong says what to do")
			e.tcRun("", "", nil, "pull", "oci://"+host+"/team/demo", "--version", "0.1.0", "--ca-file", files.ca, "-d", t.TempDir()).
				wantFailure(t, 2, "requires a client certificate", "pass --cert-file and --key-file")
			e.tcRun("", "", nil, append([]string{"push", web, "oci://" + host + "/team", "--plain-http"}, tlsFlags...)...).
				wantFailure(t, 2, host+" speaks HTTPS: drop --plain-http")
			if out, err := e.run(helm, "pull", "oci://"+host+"/team/demo", "--version", "0.1.0", "--ca-file", files.ca, "--destination", t.TempDir()); err == nil {
				t.Errorf("helm pull without a client certificate succeeded:\n%s", out)
			}
		})
	}
}
