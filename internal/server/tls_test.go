package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 with the given common name and its
// key to certFile and keyFile (through a rename each, as renewal tools do), and returns the
// certificate.
func selfSigned(t *testing.T, cn, certFile, keyFile string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
	writeAtomic(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func writeAtomic(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// servedCN dials addr afresh and returns the common name of the certificate it presents,
// trusting any of pool's.
func servedCN(t *testing.T, addr string, pool *x509.CertPool) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// TestTLSServesAndReloadsRenewedCertificate: with --tls-cert/--tls-key the server speaks
// HTTPS (plain HTTP is refused), a renewed pair is served without a restart, and a renewal
// that cannot be loaded leaves the previous certificate in service.
func TestTLSServesAndReloadsRenewedCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first := selfSigned(t, "first", certFile, keyFile)
	s, logs := newTestServer(t, func(c *Config) { c.TLSCert, c.TLSKey = certFile, keyFile; c.ShutdownDelay = 0 })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve = %v", err)
		}
	}()
	addr := ln.Addr().String()
	pool := x509.NewCertPool()
	pool.AddCert(first)

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Fatalf("GET /healthz over TLS = %d %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP to the TLS port = %d, want 400 (refused)", resp.StatusCode)
		}
	}

	second := selfSigned(t, "second", certFile, keyFile)
	pool.AddCert(second)
	waitForCN(t, addr, pool, "second")
	if !hasLog(logs, t, "TLS certificate reloaded") {
		t.Error("the reload was not logged")
	}

	// A renewal caught half-written: the key no longer matches. The server keeps serving the
	// pair it has and says why.
	if err := os.WriteFile(keyFile, []byte("-----BEGIN EC PRIVATE KEY-----\ntruncated"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !hasLog(logs, t, "TLS certificate changed but cannot be loaded; still serving the one loaded before") {
		if time.Now().After(deadline) {
			t.Fatal("a broken renewal was not reported")
		}
		if cn := servedCN(t, addr, pool); cn != "second" {
			t.Fatalf("after a broken renewal the server presents %q, want the previous certificate", cn)
		}
		time.Sleep(100 * time.Millisecond)
	}
	selfSigned(t, "third", certFile, keyFile)
	// The pool does not trust "third": dial without verification to see what is served.
	waitFor(t, func() bool {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return false
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName == "third"
	}, "the pair written after a broken one is served")
}

func waitForCN(t *testing.T, addr string, pool *x509.CertPool, cn string) {
	t.Helper()
	waitFor(t, func() bool { return servedCN(t, addr, pool) == cn }, "certificate "+cn+" is served")
}

// waitFor polls cond every 100 ms for up to 10 s (the reload looks at the files at most once
// a second, so it is expected within about one).
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func hasLog(logs *syncBuffer, t *testing.T, msg string) bool {
	for _, l := range logs.lines(t) {
		if l["msg"] == msg {
			return true
		}
	}
	return false
}

// TestTLSBadConfigStartsNothing: half a pair, or files that are not a matching certificate
// and key, stop the server before it creates anything.
func TestTLSBadConfigStartsNothing(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	selfSigned(t, "a", certFile, keyFile)
	otherCert, otherKey := filepath.Join(dir, "b.crt"), filepath.Join(dir, "b.key")
	selfSigned(t, "b", otherCert, otherKey)
	for _, tc := range []struct {
		name, cert, key, want string
	}{
		{"cert only", certFile, "", "give both"},
		{"key only", "", keyFile, "give both"},
		{"missing file", filepath.Join(dir, "nope.crt"), keyFile, "tls-cert"},
		{"key of another certificate", certFile, otherKey, "private key does not match"},
		{"not PEM", keyFile, keyFile, "tls-cert/tls-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.DataDir = filepath.Join(t.TempDir(), "data")
			cfg.TLSCert, cfg.TLSKey = tc.cert, tc.key
			_, err := New(context.Background(), cfg, discardLogger())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tc.want)
			}
			if _, err := os.Stat(cfg.DataDir); !os.IsNotExist(err) {
				t.Fatalf("the data directory was created (%v) by a server that could not start", err)
			}
		})
	}
}

// TestPlainHTTPCredentialsWarning: credentials arriving in clear from another machine are
// warned about (at most once a minute, counting the rest); from loopback, or through a proxy
// that terminated TLS, they are not.
func TestPlainHTTPCredentialsWarning(t *testing.T) {
	logs := &syncBuffer{}
	p := &plainCredentials{next: http.NotFoundHandler(), log: jsonLogger(logs)}
	send := func(remote string, header map[string]string) {
		r := httptest.NewRequest(http.MethodGet, "/v2/", nil)
		r.RemoteAddr = remote
		for k, v := range header {
			r.Header.Set(k, v)
		}
		p.ServeHTTP(httptest.NewRecorder(), r)
	}
	warnings := func() int {
		n := 0
		for _, l := range logs.lines(t) {
			if strings.HasPrefix(l["msg"].(string), "CREDENTIALS SENT OVER PLAIN HTTP") {
				n++
			}
		}
		return n
	}
	auth := map[string]string{"Authorization": "Basic YWRtaW46cw=="}
	send("127.0.0.1:5000", auth)
	send("[::1]:5000", auth)
	send("203.0.113.7:5000", nil)
	send("203.0.113.7:5000", map[string]string{"Authorization": "Basic x", "X-Forwarded-Proto": "https"})
	if n := warnings(); n != 0 {
		t.Fatalf("%d warnings for loopback, credential-less or proxied-TLS requests, want 0", n)
	}
	send("203.0.113.7:5000", auth)
	send("203.0.113.8:5000", auth)
	if n := warnings(); n != 1 {
		t.Fatalf("%d warnings for two clear-text requests within a minute, want 1", n)
	}
	if strings.Contains(logs.b.String(), "YWRtaW46cw") {
		t.Fatal("the warning logged the credentials")
	}
}

// TestPlainHTTPOnPublicAddressWarnsAtStart: listening in clear on an address other machines
// can reach is said loudly at start; on loopback it is not.
func TestPlainHTTPOnPublicAddressWarnsAtStart(t *testing.T) {
	for _, tc := range []struct {
		addr string
		warn bool
	}{{"127.0.0.1:0", false}, {"0.0.0.0:0", true}} {
		s, logs := newTestServer(t, func(c *Config) { c.ShutdownDelay = 0 })
		ln, err := net.Listen("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- s.Serve(ctx, ln) }()
		waitFor(t, func() bool { return hasLog(logs, t, "listening") }, "the server listens")
		cancel()
		<-served
		warned := strings.Contains(logs.b.String(), "SERVING PLAIN HTTP")
		if warned != tc.warn {
			t.Errorf("listening on %s: warned = %v, want %v", tc.addr, warned, tc.warn)
		}
	}
}

func jsonLogger(w *syncBuffer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
