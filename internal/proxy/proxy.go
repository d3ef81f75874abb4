// Package proxy reads the upstreams of proxy namespaces over HTTP: a classic chart
// repository (its index.yaml, archives and .prov files) or an OCI namespace (its repositories'
// tags, chart manifests and layers). It implements registry.Upstream; the rules (what is
// listed, verified, pinned and published) are the registry's.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/chartroom/chartroom/internal/netguard"
	"github.com/chartroom/chartroom/internal/registry"
)

// Limits on what an upstream may send, when Options leaves them zero.
const (
	DefaultMaxIndexSize = 64 << 20 // an upstream's index.yaml
	DefaultTimeout      = 2 * time.Minute
	maxProvSize         = 1 << 20 // registry.MaxProvSize: a larger .prov is refused by the chart rules
	maxConfigSize       = 1 << 20 // an OCI chart's config (Chart.yaml as JSON)
	maxManifestSize     = 4 << 20
)

// Options tune the upstream reader; the zero value is the documented default of each field.
type Options struct {
	// Client makes the requests; nil means a client with DefaultTimeout per request that
	// refuses to connect to loopback and link-local addresses unless the upstream itself is
	// on one (see [Upstreams.client]).
	Client *http.Client
	// MaxIndexSize bounds an upstream's index.yaml; 0 means DefaultMaxIndexSize.
	MaxIndexSize int64
	// UserAgent is sent with every request; "" means "chartroom-proxy".
	UserAgent string
}

// Upstreams reads upstreams over HTTP. It is safe for concurrent use.
type Upstreams struct {
	opts Options
	// local is the client for upstreams an admin named on a loopback or link-local address;
	// opts.Client (strict unless Options gave one) is everyone else's.
	local *http.Client
}

var _ registry.Upstream = (*Upstreams)(nil)

// New returns an upstream reader.
func New(opts Options) *Upstreams {
	local := opts.Client
	if opts.Client == nil {
		opts.Client = newHTTPClient(netguard.RefuseLocal(ErrLocalAddress))
		local = newHTTPClient(nil)
	}
	if opts.MaxIndexSize <= 0 {
		opts.MaxIndexSize = DefaultMaxIndexSize
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "chartroom-proxy"
	}
	return &Upstreams{opts: opts, local: local}
}

// ErrLocalAddress is why an upstream's URL (an archive URL its index names, a redirect, a
// blob location) on a loopback or link-local address was not fetched.
var ErrLocalAddress = errors.New("an upstream on another host may not send chartroom to loopback or link-local addresses (add the proxy with an upstream URL on such an address to allow them)")

// client is the HTTP client for src's requests. An upstream's index names the URLs of its
// archives, and a registry redirects blob reads: a third party chooses where the server
// connects. So unless the admin named an upstream on a loopback or link-local address
// themselves, connections to such addresses (this machine, a cloud's metadata service) are
// refused, whatever name resolved to them.
func (p *Upstreams) client(src registry.UpstreamSource) *http.Client {
	if u, err := url.Parse(src.URL); err == nil && netguard.HostKind(u.Hostname()) != "" {
		return p.local
	}
	return p.opts.Client
}

func newHTTPClient(control func(network, address string, _ syscall.RawConn) error) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: control}).DialContext
	return &http.Client{Transport: tr, Timeout: DefaultTimeout}
}

// CheckUpstream checks the form of an upstream: an http(s) URL of a classic repository, or
// oci://HOST/NAMESPACE. It says what is wrong and what is expected.
func CheckUpstream(upstream string) error {
	u, err := url.Parse(upstream)
	if err != nil {
		return fmt.Errorf("upstream %q: %w", upstream, err)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return fmt.Errorf("upstream %q has no host: give the URL of the repository (the directory of its index.yaml), e.g. https://charts.example.com/stable", upstream)
		}
		if strings.HasSuffix(u.Path, "/index.yaml") {
			return fmt.Errorf("upstream %q: give the repository's URL without /index.yaml, as helm repo add takes it", upstream)
		}
	case "oci":
		if u.Host == "" || strings.Trim(u.Path, "/") == "" {
			return fmt.Errorf("upstream %q: an OCI upstream is oci://HOST/NAMESPACE (the charts are oci://HOST/NAMESPACE/<name>)", upstream)
		}
	default:
		return fmt.Errorf("upstream %q: give an http(s):// URL of a chart repository or oci://HOST/NAMESPACE", upstream)
	}
	return nil
}

// List reads every version the upstream lists.
func (p *Upstreams) List(ctx context.Context, src registry.UpstreamSource) ([]registry.UpstreamVersion, error) {
	if err := CheckUpstream(src.URL); err != nil {
		return nil, err
	}
	if strings.HasPrefix(src.URL, "oci://") {
		return p.listOCI(ctx, src)
	}
	return p.listClassic(ctx, src)
}

// Open opens a listed version's archive and reads its provenance file (nil when none).
func (p *Upstreams) Open(ctx context.Context, src registry.UpstreamSource, v registry.UpstreamVersion) (io.ReadCloser, []byte, error) {
	if strings.HasPrefix(src.URL, "oci://") {
		return p.openOCI(ctx, src, v)
	}
	return p.openClassic(ctx, src, v)
}

// statusError is an upstream's answer other than 200.
type statusError struct {
	url    string
	status int
}

func (e *statusError) Error() string {
	return fmt.Sprintf("GET %s: %d %s", e.url, e.status, http.StatusText(e.status))
}

// get sends a GET of rawURL, with the source's credentials when rawURL is on the upstream's
// own host (as helm does without --pass-credentials).
func (p *Upstreams) get(ctx context.Context, src registry.UpstreamSource, rawURL string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", p.opts.UserAgent)
	if src.Username != "" || src.Password != "" {
		if up, err := url.Parse(src.URL); err == nil && up.Host == req.URL.Host {
			req.SetBasicAuth(src.Username, src.Password)
		}
	}
	resp, err := p.client(src).Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, &statusError{url: rawURL, status: resp.StatusCode}
	}
	return resp, nil
}

// isNotFound reports an upstream's 404.
func isNotFound(err error) bool {
	var se *statusError
	return errors.As(err, &se) && se.status == http.StatusNotFound
}

// isLoopback reports whether host (host[:port]) is on this machine: an OCI upstream there is
// spoken to over plain HTTP, as to a registry under test.
func isLoopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
