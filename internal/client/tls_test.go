package client

import (
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/chartroom/chartroom/internal/server/servertest"
)

// httpsClient is a client over the env's credential files that talks HTTPS (PlainHTTP as
// opts say) with the test credentials.
func httpsClient(t *testing.T, env *testEnv, opts Options) (*Client, error) {
	t.Helper()
	store, err := NewCredentialStore(CredentialPaths{Helm: env.helmConfig, Docker: env.docker})
	if err != nil {
		t.Fatal(err)
	}
	opts.Credentials, opts.RepositoryConfig = store, "-"
	if opts.Username == "" {
		opts.Username, opts.Password = testUser, testPassword
	}
	return New(opts)
}

func mustHTTPSClient(t *testing.T, env *testEnv, opts Options) *Client {
	t.Helper()
	c, err := httpsClient(t, env, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pushPull pushes an archive to both of the server's transports and pulls it back.
func pushPull(t *testing.T, c *Client, host string) {
	t.Helper()
	ctx := context.Background()
	archive := testArchive(t, t.TempDir(), "myapp", "1.0.0", "a")
	for _, dest := range []string{"oci://" + host + "/team", "https://" + host + "/team"} {
		if _, err := c.Push(ctx, archive, dest); err != nil {
			t.Fatalf("push to %s: %v", dest, err)
		}
	}
	for _, args := range [][]string{{"oci://" + host + "/team/myapp"}, {"https://" + host + "/team", "myapp"}} {
		ref, err := c.ParseChartRef(args, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Pull(ctx, ref, PullOptions{Version: "1.0.0", DestDir: t.TempDir()}); err != nil {
			t.Fatalf("pull %v: %v", args, err)
		}
	}
}

// The TLS options as helm has them: --ca-file, --insecure-skip-tls-verify, and a client
// certificate (--cert-file, --key-file) for a server that requires one, against the real
// server behind HTTPS.
func TestTLSOptions(t *testing.T) {
	ctx := context.Background()
	t.Run("server certificate", func(t *testing.T) {
		srv := servertest.StartTLS(t, testPassword, false)
		env := newTestEnv(t)
		pushPull(t, mustHTTPSClient(t, env, Options{CAFile: srv.CAFile}), srv.Host)
		pushPull(t, mustHTTPSClient(t, env, Options{InsecureSkipTLSVerify: true}), srv.Host)

		_, err := mustHTTPSClient(t, env, Options{}).Push(ctx, testArchive(t, t.TempDir(), "myapp", "1.0.0", "a"), "oci://"+srv.Host+"/team")
		oneLineError(t, err, ErrUnreachable, "signed by an unknown authority", "--ca-file")
	})

	t.Run("mutual TLS", func(t *testing.T) {
		srv := servertest.StartTLS(t, testPassword, true)
		other := servertest.StartTLS(t, testPassword, false) // another authority's client certificate
		env := newTestEnv(t)
		c := mustHTTPSClient(t, env, Options{CAFile: srv.CAFile, CertFile: srv.CertFile, KeyFile: srv.KeyFile})
		pushPull(t, c, srv.Host)
		if _, err := c.Login(ctx, srv.Host, testUser, testPassword); err != nil {
			t.Fatalf("login over mutual TLS: %v", err)
		}

		archive := testArchive(t, t.TempDir(), "myapp", "1.0.0", "a")
		for _, dest := range []string{"oci://" + srv.Host + "/team", "https://" + srv.Host + "/team"} {
			_, err := mustHTTPSClient(t, env, Options{CAFile: srv.CAFile}).Push(ctx, archive, dest)
			oneLineError(t, err, ErrUnreachable, srv.Host+" requires a client certificate", "pass --cert-file and --key-file")
			_, err = mustHTTPSClient(t, env, Options{CAFile: srv.CAFile, CertFile: other.CertFile, KeyFile: other.KeyFile}).Push(ctx, archive, dest)
			oneLineError(t, err, ErrUnreachable, srv.Host+" refused the client certificate of --cert-file "+other.CertFile)
		}
	})

	t.Run("key pair", func(t *testing.T) {
		srv := servertest.StartTLS(t, testPassword, true)
		env := newTestEnv(t)
		for _, opts := range []Options{{CertFile: srv.CertFile}, {KeyFile: srv.KeyFile}} {
			if _, err := httpsClient(t, env, opts); err == nil || !strings.Contains(err.Error(), "--cert-file and --key-file go together") {
				t.Errorf("%+v: %v", opts, err)
			}
		}
		if _, err := httpsClient(t, env, Options{CertFile: srv.CertFile, KeyFile: srv.CAFile}); err == nil || !strings.Contains(err.Error(), "--key-file "+srv.CAFile) {
			t.Errorf("a certificate as the key: %v", err)
		}
	})
}

// Plain HTTP sent to an HTTPS server says to drop --plain-http (or to use https://), not
// "400 Bad Request" or "connection reset": against Go's TLS server, which answers 400, and
// against one that drops the connection.
func TestPlainHTTPToHTTPS(t *testing.T) {
	ctx := context.Background()
	srv := servertest.StartTLS(t, testPassword, true)
	dropper := dropPlainHTTP(t)
	env := newTestEnv(t)
	c := mustHTTPSClient(t, env, Options{PlainHTTP: true, CAFile: srv.CAFile, CertFile: srv.CertFile, KeyFile: srv.KeyFile})
	archive := testArchive(t, t.TempDir(), "myapp", "1.0.0", "a")
	for _, host := range []string{srv.Host, dropper} {
		_, err := c.Push(ctx, archive, "oci://"+host+"/team")
		oneLineError(t, err, ErrUnreachable, host+" speaks HTTPS: drop --plain-http")
		_, err = c.Push(ctx, archive, "http://"+host+"/team")
		oneLineError(t, err, ErrUnreachable, host+" speaks HTTPS, not plain HTTP: use its https:// URL")
		ref, _ := c.ParseChartRef([]string{"oci://" + host + "/team/myapp"}, "")
		_, err = c.Pull(ctx, ref, PullOptions{DestDir: t.TempDir()})
		oneLineError(t, err, ErrUnreachable, "drop --plain-http")
		_, err = c.Login(ctx, host, testUser, testPassword)
		oneLineError(t, err, ErrUnreachable, "drop --plain-http")
	}
	// A plain-HTTP server that is down is still reported as down.
	_, err := c.Push(ctx, archive, "oci://127.0.0.1:1/team")
	oneLineError(t, err, ErrUnreachable, "cannot reach 127.0.0.1:1")
}

// dropPlainHTTP listens for TLS and closes any connection whose handshake fails, as TLS
// servers that do not speak HTTP themselves (terminating proxies) do. It returns its address.
func dropPlainHTTP(t *testing.T) string {
	t.Helper()
	srv := servertest.StartTLS(t, testPassword, false)
	cert, err := tls.LoadX509KeyPair(srv.CertFile, srv.KeyFile) // any certificate will do
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func(conn net.Conn) {
				defer conn.Close()
				_ = conn.(*tls.Conn).Handshake()
			}(conn)
		}
	}()
	return ln.Addr().String()
}

// With TLS 1.3 a server refuses the client certificate after the client's side of the
// handshake: an upload then fails writing its body ("broken pipe") before the alert is read.
// The error still says what the server refused.
func TestRefusedCertificateBehindBrokenPipe(t *testing.T) {
	srv := servertest.StartTLS(t, testPassword, true)
	other := servertest.StartTLS(t, testPassword, false)
	env := newTestEnv(t)
	broken := &url.Error{Op: "Post", URL: "https://" + srv.Host + "/api/team/charts", Err: &net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}}
	f := failure{op: "push myapp 1.0.0 to https://" + srv.Host + "/team", host: srv.Host}

	c := mustHTTPSClient(t, env, Options{CAFile: srv.CAFile, CertFile: other.CertFile, KeyFile: other.KeyFile})
	oneLineError(t, c.fail(f, broken), ErrUnreachable, srv.Host+" refused the client certificate of --cert-file "+other.CertFile)
	c = mustHTTPSClient(t, env, Options{CAFile: srv.CAFile})
	oneLineError(t, c.fail(f, broken), ErrUnreachable, srv.Host+" requires a client certificate", "pass --cert-file")
	// A certificate the server accepts: the broken pipe is what it is.
	c = mustHTTPSClient(t, env, Options{CAFile: srv.CAFile, CertFile: srv.CertFile, KeyFile: srv.KeyFile})
	oneLineError(t, c.fail(f, broken), ErrUnreachable, "broken pipe", "try again")
}
