package client

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"strings"
	"time"

	"oras.land/oras-go/v2/registry/remote/errcode"
)

// Diagnostics of TLS failures: a plain-HTTP request sent to an HTTPS server, and a client
// certificate the server refused. Each probes the server again, only after a request failed.

// plainURL is the plain-HTTP URL a failed request went to, nil if the request was not plain
// HTTP or the error does not say.
func plainURL(err error) *url.URL {
	var u *url.URL
	var ue *url.Error
	var oe *errcode.ErrorResponse
	var he *httpStatusError
	switch {
	case errors.As(err, &oe):
		u = oe.URL
	case errors.As(err, &he):
		u = he.url
	case errors.As(err, &ue):
		u, _ = url.Parse(ue.URL)
	}
	if u == nil || u.Scheme != "http" {
		return nil
	}
	return u
}

// unreached reports whether a request failed before any server answered (no such host,
// refused or timed out connection, cancelled): probing the address again tells nothing.
func unreached(err error) bool {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	return errors.As(err, &dnsErr) || errors.As(err, &opErr) && opErr.Op == "dial" ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// certAlert reports whether err is, or hides, a TLS alert of the server about the client's
// certificate, and sets *alert to it. With TLS 1.3 a server checks the client certificate
// after the client's side of the handshake is done: a request whose body is being written
// then fails with "broken pipe" or "connection reset" before the alert is read. For such an
// error on an HTTPS request, a new handshake with the same TLS settings reads the alert.
func (c *Client) certAlert(err error, alert **net.OpError) bool {
	isAlert := func(err error) bool {
		return errors.As(err, alert) && (*alert).Op == "remote error" && strings.Contains((*alert).Err.Error(), "certificate")
	}
	if isAlert(err) {
		return true
	}
	var ue *url.Error
	if c.tlsConf == nil || unreached(err) || !errors.As(err, &ue) {
		return false
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil || u.Scheme != "https" {
		return false
	}
	return isAlert(readTLSAlert(u, c.tlsConf))
}

// readTLSAlert completes a TLS handshake with u's host under conf and waits a moment for the
// server's first record: it returns the error of a server that refuses the client's
// certificate (a TLS alert), nil otherwise.
func readTLSAlert(u *url.URL, conf *tls.Config) error {
	conn, err := dialTLS(u, "443", conf)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	_, err = conn.Read(make([]byte, 1))
	return err
}

// tlsProbeTimeout bounds [speaksTLS] and [readTLSAlert].
const tlsProbeTimeout = 5 * time.Second

// speaksTLS reports whether the server at u's host and port completes a TLS handshake, or
// answers one with a TLS alert: a plain-HTTP request that failed there went to an HTTPS
// server. Nothing is sent but the handshake; the certificate does not matter.
func speaksTLS(u *url.URL) bool {
	conn, err := dialTLS(u, "80", &tls.Config{InsecureSkipVerify: true}) // a probe: nothing is sent
	if err == nil {
		conn.Close()
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "remote error"
}

// dialTLS completes a TLS handshake under conf with u's host and port (defaultPort when u
// names none), within tlsProbeTimeout.
func dialTLS(u *url.URL, defaultPort string, conf *tls.Config) (net.Conn, error) {
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), defaultPort)
	}
	ctx, cancel := context.WithTimeout(context.Background(), tlsProbeTimeout)
	defer cancel()
	return (&tls.Dialer{Config: conf}).DialContext(ctx, "tcp", addr)
}
