package e2e

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeServerPair writes a certificate for 127.0.0.1 signed by ca (caKey) with common name cn,
// and its key, to certFile and keyFile, each through a rename as renewal tools write them.
func writeServerPair(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn, certFile, keyFile string) {
	t.Helper()
	key, _, der := newTestCert(t, ca, caKey, cn, x509.ExtKeyUsageServerAuth)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for path, block := range map[string]*pem.Block{
		keyFile:  {Type: "PRIVATE KEY", Bytes: kder},
		certFile: {Type: "CERTIFICATE", Bytes: der},
	} {
		if err := os.WriteFile(path+".new", pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
}

// TestServeTLS: `chartroom serve --tls-cert --tls-key` serves HTTPS that helm (v3 and v4)
// logs in to, pushes to and pulls from over both protocols with only --ca-file, and a renewed
// certificate written over the files is served without a restart.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	caKey, caCert, caDER := newTestCert(t, nil, nil, "e2e serve CA", 0)
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeServerPair(t, caCert, caKey, "first", certFile, keyFile)
	srv := StartServer(t, "--tls-cert", certFile, "--tls-key", keyFile)
	host := srv.Host()

	for _, h := range helmVersions {
		t.Run(h.name, func(t *testing.T) {
			helm := need(t, h)
			e := newToolEnv(t)
			work := t.TempDir()
			ca := []string{"--ca-file", caFile}
			e.must(helm, append([]string{"registry", "login", host, "--username", "admin", "--password", srv.Password}, ca...)...)
			demo := tcHelmChart(t, e, helm, work, "demo-"+h.name, "0.1.0")
			e.must(helm, append([]string{"push", demo, "oci://" + host + "/team"}, ca...)...)
			dest := t.TempDir()
			e.must(helm, append([]string{"pull", "oci://" + host + "/team/demo-" + h.name, "--version", "0.1.0", "--destination", dest}, ca...)...)
			tcSameFile(t, filepath.Join(dest, "demo-"+h.name+"-0.1.0.tgz"), demo)
			// The same chart over the classic repository, through helm's own repository client.
			e.must(helm, append([]string{"repo", "add", "team", "https://" + host + "/team",
				"--username", "admin", "--password", srv.Password}, ca...)...)
			dest = t.TempDir()
			e.must(helm, "pull", "team/demo-"+h.name, "--version", "0.1.0", "--destination", dest)
			tcSameFile(t, filepath.Join(dest, "demo-"+h.name+"-0.1.0.tgz"), demo)
		})
	}

	t.Log("a renewed certificate written over the files is served without a restart")
	writeServerPair(t, caCert, caKey, "renewed", certFile, keyFile)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := tls.Dial("tcp", host, &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatalf("TLS handshake: %v", err)
		}
		cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName
		c.Close()
		if cn == "renewed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving %q 15 s after the renewal; log:\n%s", cn, tail(srv.Logs(), 20))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
