package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// certCheckInterval is how often, at most, the certificate files are looked at for a change:
// a handshake after that re-stats them and, when either changed, loads the pair again.
const certCheckInterval = time.Second

// certReloader serves the certificate in --tls-cert/--tls-key and picks up a renewed pair
// (cert-manager, certbot, a mounted secret) without a restart: a handshake that comes more
// than certCheckInterval after the last look stats both files, and loads them again when
// either changed. A pair that fails to load (a renewal caught half-written, a key that does
// not match) is logged and the previous certificate stays in use, so a bad renewal never
// takes the server off the air; the next change is tried again.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string    // the files' sizes and modification times when cert was loaded
	failed  string    // the stamp of the last pair that failed to load, "" if none
	checked time.Time // the last time the files were looked at
}

// newCertReloader loads the pair once: a server configured for TLS that cannot load its
// certificate does not start.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	stamp, err := r.stampFiles()
	if err != nil {
		return nil, err
	}
	cert, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	r.cert, r.stamp, r.checked = cert, stamp, time.Now()
	return r, nil
}

// loadPair loads a PEM certificate chain and its key, with errors that name the flags.
func loadPair(certFile, keyFile string) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls-cert/tls-key: load %s and %s: %w (expected a PEM certificate chain and the PEM private key of its first certificate)",
			certFile, keyFile, err)
	}
	if cert.Leaf == nil && len(cert.Certificate) > 0 {
		cert.Leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	return &cert, nil
}

// stampFiles identifies the current contents of both files by size and modification time.
func (r *certReloader) stampFiles() (string, error) {
	var b strings.Builder
	for _, f := range []struct{ flag, path string }{{"tls-cert", r.certFile}, {"tls-key", r.keyFile}} {
		st, err := os.Stat(f.path)
		if err != nil {
			return "", fmt.Errorf("%s: %w", f.flag, err)
		}
		fmt.Fprintf(&b, "%d/%d;", st.Size(), st.ModTime().UnixNano())
	}
	return b.String(), nil
}

// GetCertificate is tls.Config.GetCertificate.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.checked) >= certCheckInterval {
		r.checked = now
		r.reloadLocked()
	}
	return r.cert, nil
}

func (r *certReloader) reloadLocked() {
	stamp, err := r.stampFiles()
	if err != nil || stamp == r.stamp || stamp == r.failed {
		if err != nil && r.failed != "missing" {
			r.failed = "missing"
			r.log.Error("TLS certificate files cannot be read; still serving the certificate loaded before",
				"err", err)
		}
		return
	}
	cert, err := loadPair(r.certFile, r.keyFile)
	if err != nil {
		r.failed = stamp
		r.log.Error("TLS certificate changed but cannot be loaded; still serving the one loaded before",
			"err", err)
		return
	}
	r.cert, r.stamp, r.failed = cert, stamp, ""
	attrs := []any{"cert", r.certFile}
	if cert.Leaf != nil {
		attrs = append(attrs, "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	r.log.Info("TLS certificate reloaded", attrs...)
}

// tlsConfig is the server's TLS configuration around r: TLS 1.2 at least, HTTP/2 offered.
func (r *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// isLoopback reports whether host (an IP address or a name) is a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// listensOnLoopbackOnly reports whether addr (what the listener is bound to) is reachable from
// this machine only.
func listensOnLoopbackOnly(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// plainCredentialsWarnEvery bounds the warnings about credentials sent over plain HTTP to one
// per this interval (each says how many such requests came since the last one).
const plainCredentialsWarnEvery = time.Minute

// plainCredentials watches for requests that carry credentials over plain HTTP from another
// machine: their passwords and tokens crossed the network readable by anyone on the path.
// It logs a warning (at most one per plainCredentialsWarnEvery, counting the others) unless
// the request says a TLS-terminating proxy received it (X-Forwarded-Proto: https).
type plainCredentials struct {
	next http.Handler
	log  *slog.Logger

	count atomic.Int64
	mu    sync.Mutex
	last  time.Time
}

func (p *plainCredentials) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil && r.Header.Get("Authorization") != "" && !forwardedOverTLS(r) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil || !isLoopback(host) {
			p.warn(r)
		}
	}
	p.next.ServeHTTP(w, r)
}

func forwardedOverTLS(r *http.Request) bool {
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

func (p *plainCredentials) warn(r *http.Request) {
	n := p.count.Add(1)
	p.mu.Lock()
	now := time.Now()
	if !p.last.IsZero() && now.Sub(p.last) < plainCredentialsWarnEvery {
		p.mu.Unlock()
		return
	}
	p.last = now
	p.count.Store(0)
	p.mu.Unlock()
	p.log.Warn("CREDENTIALS SENT OVER PLAIN HTTP: passwords and tokens of requests from other machines cross the network unencrypted; "+
		"serve TLS with --tls-cert and --tls-key, or put a TLS-terminating proxy in front that sets X-Forwarded-Proto: https",
		"remote", r.RemoteAddr, "requests_since_last_warning", n)
}

// errTLSPair is returned when only one of the TLS files is given.
var errTLSPair = errors.New("tls-cert and tls-key: give both (the certificate chain and its private key, PEM files) or neither")
