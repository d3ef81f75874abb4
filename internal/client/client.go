package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/retry"
)

// Options configure a [Client]. The zero value talks HTTPS with the system's certificate
// authorities and the logins stored by chartroom login, helm registry login and docker
// login, draws no progress and uses the documented limits.
type Options struct {
	// Username and Password, when either is set, are sent to every registry host this
	// client talks to instead of the stored login (flags, or CHARTROOM_USERNAME and
	// CHARTROOM_PASSWORD in CI). A chart repository's archive links to another host never
	// receive them.
	Username, Password string
	// CredentialSource names where Username and Password (or those given to Login) came
	// from, for the messages that say they were refused, e.g. "the credentials from
	// CHARTROOM_USERNAME and CHARTROOM_PASSWORD"; "" means the command line's flags.
	CredentialSource string
	// PlainHTTP talks to oci:// registries over plain HTTP (local registries), their
	// stored logins included: naming the registry plain HTTP is the opt-in, as with helm
	// and docker. Classic repositories are plain HTTP when their URL says http://.
	PlainHTTP bool
	// SendCredentialsOverHTTP sends the stored registry login of a host (chartroom login,
	// helm registry login, docker login) to its http:// chart repositories too. Without it
	// such a login crosses the network only encrypted: to https:// URLs, to oci://
	// registries (plain only with PlainHTTP), and to loopback hosts, whose traffic never
	// leaves the machine. Credentials given explicitly, and those helm repo add stored for
	// exactly that repository URL, are sent as the URL says.
	SendCredentialsOverHTTP bool
	// InsecureSkipTLSVerify accepts any server certificate.
	InsecureSkipTLSVerify bool
	// CAFile adds the PEM certificate authorities in this file to the system's.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and its key, presented to servers
	// that ask for one (mutual TLS); both or neither.
	CertFile, KeyFile string
	// Credentials holds stored logins; nil opens the default files ([NewCredentialStore]).
	Credentials *CredentialStore
	// RepositoryConfig is helm's repositories.yaml, for "@name" dependency repositories,
	// "repo/chart" references and their credentials; "" means
	// [DefaultHelmRepositoryConfig], "-" means none.
	RepositoryConfig string
	// Progress receives progress bars of transfers (a terminal); nil draws none.
	Progress io.Writer
	// Transport carries the requests; nil means a transport built from the TLS options.
	Transport http.RoundTripper
	// MaxChartSize bounds a downloaded chart archive; ≤ 0 means [DefaultMaxChartSize].
	MaxChartSize int64
	// UserAgent is sent with every request; "" means "chartroom".
	UserAgent string
}

// Limits of what a registry may send.
const (
	// DefaultMaxChartSize bounds a downloaded chart archive.
	DefaultMaxChartSize int64 = 100 << 20
	// maxIndexSize bounds a repository's index.yaml.
	maxIndexSize int64 = 256 << 20
	// maxManifestSize bounds an OCI manifest.
	maxManifestSize int64 = 4 << 20
	// maxProvSize bounds a provenance file.
	maxProvSize int64 = 1 << 20
	// maxErrorBody bounds an error answer read for its message.
	maxErrorBody int64 = 64 << 10
)

// responseHeaderTimeout bounds the wait for a registry's answer once a request is sent (a
// hung registry fails instead of hanging the command); bodies may take as long as they need.
const responseHeaderTimeout = 2 * time.Minute

// Client pushes and pulls charts. It is safe for concurrent use.
type Client struct {
	opts  Options
	store *CredentialStore
	repos helmRepos
	http  *http.Client // classic repositories: retries, no auth
	oci   *auth.Client // OCI registries: retries, auth challenges, token cache
	// tlsConf is the transport's TLS configuration, for diagnostics; nil with
	// Options.Transport.
	tlsConf *tls.Config

	mu       sync.Mutex
	sources  map[string]string // host → where the credential sent to it came from
	withheld map[string]string // host → the file of a stored login not sent over plain HTTP
	indexes  map[string]*indexFile
}

// New builds a client. It reads the credential stores and helm's repositories.yaml.
func New(opts Options) (*Client, error) {
	if opts.MaxChartSize <= 0 {
		opts.MaxChartSize = DefaultMaxChartSize
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "chartroom"
	}
	store := opts.Credentials
	if store == nil {
		var err error
		if store, err = NewCredentialStore(CredentialPaths{}); err != nil {
			return nil, err
		}
	}
	repoConfig := opts.RepositoryConfig
	switch repoConfig {
	case "":
		repoConfig = DefaultHelmRepositoryConfig()
	case "-":
		repoConfig = ""
	}
	repos, err := loadHelmRepos(repoConfig)
	if err != nil {
		return nil, err
	}
	opts.RepositoryConfig = repoConfig
	base := opts.Transport
	var tlsConf *tls.Config
	if base == nil {
		t, err := newTransport(opts)
		if err != nil {
			return nil, err
		}
		base, tlsConf = t, t.TLSClientConfig
	}
	hc := &http.Client{
		Transport:     &retryTransport{retry: &retry.Transport{Base: base, Policy: retryPolicy}, once: base},
		CheckRedirect: checkRedirect,
	}
	c := &Client{
		opts:     opts,
		tlsConf:  tlsConf,
		store:    store,
		repos:    repos,
		http:     hc,
		sources:  map[string]string{},
		withheld: map[string]string{},
		indexes:  map[string]*indexFile{},
	}
	c.oci = &auth.Client{Client: hc, Cache: auth.NewCache(), Credential: c.credentialFunc}
	c.oci.SetUserAgent(opts.UserAgent)
	return c, nil
}

// retryPolicy retries 5xx, 429 and dial timeouts a few times: a registry that is down is
// reported within seconds rather than a minute.
func retryPolicy() retry.Policy {
	return &retry.GenericPolicy{
		Retryable: retry.DefaultPredicate,
		Backoff:   retry.DefaultBackoff,
		MinWait:   200 * time.Millisecond,
		MaxWait:   2 * time.Second,
		MaxRetry:  3,
	}
}

// maxRedirects bounds a redirect chain, as net/http's default does.
const maxRedirects = 10

// checkRedirect is the redirect policy of every request: a redirect from https to http
// is refused, and Authorization is kept only while the chain stays on the origin
// (scheme, host and port) of its first request. net/http alone keeps it for the same host
// on another port, and after a switch from https to http.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return &redirectError{msg: fmt.Sprintf("stopped after %d redirects", maxRedirects)}
	}
	for _, r := range via {
		if r.URL.Scheme == "https" && req.URL.Scheme != "https" {
			return &redirectError{msg: fmt.Sprintf("refusing the redirect from %s to %s, which leaves HTTPS for plain HTTP", r.URL.Redacted(), req.URL.Redacted())}
		}
	}
	if leftOrigin(via, req) {
		req.Header.Del("Authorization")
	}
	return nil
}

// redirectError is a redirect chain checkRedirect stopped.
type redirectError struct{ msg string }

func (e *redirectError) Error() string { return e.msg }

// leftOrigin reports whether the chain via, then req, has left the origin of its first
// request. net/http rebuilds each redirected request's headers from the first request's,
// so a chain that left once is treated as gone for good.
func leftOrigin(via []*http.Request, req *http.Request) bool {
	for _, r := range via[1:] {
		if origin(r.URL) != origin(via[0].URL) {
			return true
		}
	}
	return origin(req.URL) != origin(via[0].URL)
}

// origin is scheme://host:port, with the scheme's default port when none is written.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[scheme]
	}
	return scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// retryTransport retries what is safe to send again (see [retryable]) and sends everything
// else once.
type retryTransport struct {
	retry, once http.RoundTripper
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if retryable(req) {
		return t.retry.RoundTrip(req)
	}
	return t.once.RoundTrip(req)
}

// retryable reports whether a request may be sent again after a 5xx, 429 or broken
// connection. Not a request to an OCI upload session (PATCH, or PUT ?digest= completing
// it, OCI Distribution v1.1 "Pushing blobs"): the first attempt may have consumed the
// upload, so a second one answers 404 and hides the server's real error.
func retryable(req *http.Request) bool {
	switch req.Method {
	case http.MethodPatch:
		return false
	case http.MethodPut:
		return !req.URL.Query().Has("digest") && !strings.Contains(req.URL.Path, "/blobs/uploads/")
	}
	return true
}

// newTransport is http.DefaultTransport's settings with the TLS options and a short dial
// timeout.
func newTransport(opts Options) (*http.Transport, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.InsecureSkipTLSVerify {
		tlsConf.InsecureSkipVerify = true
	}
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read --ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", opts.CAFile)
		}
		tlsConf.RootCAs = pool
	}
	if opts.CertFile != "" || opts.KeyFile != "" {
		if opts.CertFile == "" || opts.KeyFile == "" {
			return nil, errors.New("--cert-file and --key-file go together: give the client certificate and its key")
		}
		cert, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--cert-file %s, --key-file %s: %w; give a PEM certificate and its PEM private key", opts.CertFile, opts.KeyFile, err)
		}
		tlsConf.Certificates = []tls.Certificate{cert}
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		ResponseHeaderTimeout: responseHeaderTimeout,
		TLSClientConfig:       tlsConf,
	}, nil
}

// explicit reports whether credentials were given for every host.
func (c *Client) explicit() bool { return c.opts.Username != "" || c.opts.Password != "" }

// credential returns the credential for host and records where it came from (for error
// messages). repoURL is the classic repository's URL, "" for an OCI registry. In order:
// the explicit one; for a classic repository the credentials helm repo add stored for
// exactly that URL; the login stored for host — except that a classic repository reached
// over plain HTTP gets it only on a loopback host or with SendCredentialsOverHTTP (a
// dependency's http:// URL is written by someone else, and the login would cross the
// network in clear text).
func (c *Client) credential(ctx context.Context, host, repoURL string) (auth.Credential, error) {
	cred, source, withheld, err := c.pickCredential(ctx, host, repoURL)
	if err != nil {
		return auth.EmptyCredential, err
	}
	c.mu.Lock()
	c.sources[host] = source
	c.withheld[host] = withheld
	c.mu.Unlock()
	return cred, nil
}

// pickCredential is credential's choice: the credential, where it came from, and the file
// of a stored login that was withheld ("" if none).
func (c *Client) pickCredential(ctx context.Context, host, repoURL string) (cred auth.Credential, source, withheld string, err error) {
	if c.explicit() {
		source := "the given --username/--password"
		if c.opts.CredentialSource != "" {
			source = c.opts.CredentialSource
		}
		return auth.Credential{Username: c.opts.Username, Password: c.opts.Password}, source, "", nil
	}
	if r := c.repos.byURL(repoURL); repoURL != "" && r != nil && (r.Username != "" || r.Password != "") {
		return auth.Credential{Username: r.Username, Password: r.Password}, "the credentials of helm repository " + r.Name, "", nil
	}
	cred, file, err := c.store.Get(ctx, host)
	if err != nil || file == "" {
		return auth.EmptyCredential, "", "", err
	}
	if strings.HasPrefix(repoURL, "http://") && !c.opts.SendCredentialsOverHTTP && !isLoopback(host) {
		return auth.EmptyCredential, "", file, nil
	}
	return cred, "the login stored in " + file, "", nil
}

// isLoopback reports whether host[:port] is a loopback address or localhost: plain HTTP to
// it never leaves the machine.
func isLoopback(hostport string) bool {
	h := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// credentialFunc is the OCI client's credential callback.
func (c *Client) credentialFunc(ctx context.Context, hostport string) (auth.Credential, error) {
	return c.credential(ctx, hostport, "")
}

// credentialSource says where the credential last sent to host came from ("" for none).
func (c *Client) credentialSource(host string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sources[host]
}

// withheldLogin is the file of the stored login last withheld from host over plain HTTP,
// "" if none was.
func (c *Client) withheldLogin(host string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.withheld[host]
}

// repository returns the OCI repository host/name.
func (c *Client) repository(host, name string) (*remote.Repository, error) {
	repo, err := remote.NewRepository(host + "/" + name)
	if err != nil {
		return nil, fmt.Errorf("oci://%s/%s is not a valid repository reference: %v", host, name, err)
	}
	repo.PlainHTTP = c.opts.PlainHTTP
	repo.Client = c.oci
	repo.SkipReferrersGC = true
	return repo, nil
}
