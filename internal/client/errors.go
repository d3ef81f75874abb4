package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/chartroom/chartroom/internal/termsafe"
)

// Kinds of [*Error], matched with errors.Is.
var (
	// ErrUnauthorized: the registry wants credentials, or rejected the ones sent (401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the credentials are valid but may not do this (403).
	ErrForbidden = errors.New("forbidden")
	// ErrConflict: the chart version is already published with other content (409).
	ErrConflict = errors.New("chart version already published with other content")
	// ErrNotFound: no such chart, version or repository.
	ErrNotFound = errors.New("not found")
	// ErrUnreachable: the registry could not be reached (DNS, connection, TLS).
	ErrUnreachable = errors.New("registry unreachable")
	// ErrNotPublished: the location has no version of the chart at all (it is also
	// ErrNotFound).
	ErrNotPublished = fmt.Errorf("%w: the chart has no published version", ErrNotFound)
)

// Error is a failed exchange with a registry. Its text is one line: the operation, what
// went wrong and what to do.
type Error struct {
	// Op is what was being done, e.g. "push myapp 1.4.2 to oci://charts.example.com/team".
	Op string
	// Kind is one of the Err* kinds above, or nil.
	Kind error
	// Msg says what went wrong and what to do.
	Msg string
	// Err is the underlying error, if any.
	Err error
}

func (e *Error) Error() string { return e.Op + ": " + e.Msg }

// Unwrap returns the kind and the underlying error.
func (e *Error) Unwrap() []error {
	var out []error
	if e.Kind != nil {
		out = append(out, e.Kind)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// failure describes an operation for [Client.fail]: the texts that depend on what was
// being done.
type failure struct {
	op       string // "push myapp 1.4.2 to oci://host/team"
	host     string // host[:port] the requests went to
	oci      bool   // the OCI API (else a classic repository)
	write    bool   // the operation writes (a 403 means no write access)
	scope    string // what was accessed, for 403 texts: "namespace team", "oci://host/team/myapp"
	notFound string // what a 404 means, including what to do
	conflict string // what a 409 means, including what to do
	// repackaged is what a 409 means when the registry says the archive sent holds the
	// published chart, only packaged differently ("" when conflict says it all).
	repackaged string
}

// sameChartSaid is how chartroom serve's refusal of a chart version says that the archive
// sent holds the same chart as the published one, packaged differently (registry/conflict.go).
const sameChartSaid = "holds the same chart"

// httpStatusError is a classic repository's non-success answer.
type httpStatusError struct {
	status int
	msg    string   // the server's {"error": …} or a snippet of its body
	url    *url.URL // the request's, when known
}

func (e *httpStatusError) Error() string {
	if e.msg == "" {
		return fmt.Sprintf("%d %s", e.status, http.StatusText(e.status))
	}
	return fmt.Sprintf("%d %s: %s", e.status, http.StatusText(e.status), e.msg)
}

// statusError reads a non-success answer's message: chartroom and ChartMuseum send
// {"error": "…"}, OCI registries {"errors": [{"message": …}]}.
func statusError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg := ""
	var one struct {
		Error   string `json:"error"`
		Message string `json:"message"`
		Errors  []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &one) == nil {
		switch {
		case one.Error != "":
			msg = one.Error
		case one.Message != "":
			msg = one.Message
		case len(one.Errors) > 0:
			msg = one.Errors[0].Message
		}
	} else if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/plain") {
		msg = strings.TrimSpace(string(body))
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
	}
	e := &httpStatusError{status: resp.StatusCode, msg: strings.Join(strings.Fields(msg), " ")}
	if resp.Request != nil {
		e.url = resp.Request.URL
	}
	return e
}

// fail turns an error of an operation into an [*Error] that says what to do.
func (c *Client) fail(f failure, err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	e := &Error{Op: f.op, Err: err}
	status, serverMsg, code := 0, "", ""
	var oe *errcode.ErrorResponse
	var he *httpStatusError
	switch {
	case errors.As(err, &oe):
		status = oe.StatusCode
		if len(oe.Errors) > 0 {
			serverMsg, code = oe.Errors[0].Message, oe.Errors[0].Code
		}
	case errors.As(err, &he):
		status, serverMsg = he.status, he.msg
	case errors.Is(err, errdef.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		status = http.StatusUnauthorized // challenged, and no credential to answer with
	}
	said := ""
	if serverMsg != "" {
		said = " (the server said: " + termsafe.Text(serverMsg) + ")"
	}
	if u := plainURL(err); u != nil && (status == 0 && !unreached(err) || status == http.StatusBadRequest) && speaksTLS(u) {
		// A TLS server answers a plain request with 400 (Go, nginx) or drops the connection.
		e.Kind = ErrUnreachable
		e.Msg = fmt.Sprintf("%s speaks HTTPS, not plain HTTP: use its https:// URL", f.host)
		if f.oci {
			e.Msg = fmt.Sprintf("%s speaks HTTPS: drop --plain-http", f.host)
		}
		return e
	}
	switch status {
	case 0:
		e.Msg, e.Kind = c.transportProblem(f, err)
	case http.StatusUnauthorized:
		e.Kind = ErrUnauthorized
		source := c.credentialSource(f.host)
		if file := c.withheldLogin(f.host); source == "" && file != "" {
			e.Msg = fmt.Sprintf("%s requires a login; the one stored for it in %s is not sent over plain HTTP, where anyone on the network could read it: use the repository's https:// URL, pass --username and --password-stdin, or pass --insecure-send-credentials-over-http if the network is trusted", f.host, file)
		} else if source == "" {
			e.Msg = fmt.Sprintf("%s requires a login: run `chartroom login %s`, or pass --username and --password-stdin (in CI set CHARTROOM_USERNAME and CHARTROOM_PASSWORD)", f.host, f.host)
		} else if c.explicit() && c.opts.CredentialSource != "" {
			e.Msg = fmt.Sprintf("%s rejected %s (401 Unauthorized): check them; they are sent instead of any login stored by chartroom login", f.host, source)
		} else {
			e.Msg = fmt.Sprintf("%s rejected %s (401 Unauthorized): check the username and password, or run `chartroom login %s` again", f.host, source, f.host)
		}
	case http.StatusForbidden:
		e.Kind = ErrForbidden
		access := "read"
		if f.write {
			access = "write"
		}
		who := "anonymous requests"
		if s := c.credentialSource(f.host); s != "" {
			who = "the user of " + s
		}
		e.Msg = fmt.Sprintf("%s may not %s %s on %s (403 Forbidden)%s: ask an administrator for %s access", who, access, f.scope, f.host, said, access)
	case http.StatusConflict:
		e.Kind = ErrConflict
		e.Msg = f.conflict + said
		if f.repackaged != "" && strings.Contains(serverMsg, sameChartSaid) {
			e.Msg = f.repackaged + said
		}
		if f.conflict == "" {
			e.Msg = "the registry refused a conflicting change (409 Conflict)" + said
		}
	case http.StatusNotFound:
		e.Kind = ErrNotFound
		e.Msg = f.notFound
		if code == errcode.ErrorCodeBlobUploadUnknown {
			// Not a wrong address: the registry dropped an upload it had started.
			e.Kind = nil
			e.Msg = fmt.Sprintf("%s lost the upload in progress (404 %s)%s: push again, and if it fails again ask the registry's administrator", f.host, code, said)
		} else if f.notFound == "" {
			e.Msg = fmt.Sprintf("%s answered 404 Not Found%s: check the address", f.host, said)
		}
	case http.StatusRequestEntityTooLarge:
		e.Msg = fmt.Sprintf("%s refuses the upload as too large (413)%s: make the chart smaller or ask its administrator to raise the limit", f.host, said)
	default:
		e.Msg = fmt.Sprintf("%s answered %d %s%s", f.host, status, http.StatusText(status), said)
		if status >= 500 {
			e.Msg += ": the registry failed; try again later or ask its administrator"
		}
	}
	return e
}

// transportProblem explains an error without an HTTP status.
func (c *Client) transportProblem(f failure, err error) (msg string, kind error) {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	plainHint := "use an http:// URL"
	if f.oci {
		plainHint = "pass --plain-http"
	}
	var redirErr *redirectError
	var tagErr *tagListError
	switch {
	case errors.Is(err, context.Canceled):
		return "interrupted", nil
	case errors.As(err, &tagErr):
		return tagErr.msg, nil
	case errors.As(err, &redirErr):
		return fmt.Sprintf("%s: %s answers with a redirect chartroom does not follow; ask its administrator to fix it", redirErr.msg, f.host), nil
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("%s did not answer in time: check the address and the network", f.host), ErrUnreachable
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve host %s: check the address", dnsErr.Name), ErrUnreachable
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") || errors.As(err, &recErr):
		return fmt.Sprintf("%s speaks plain HTTP, not HTTPS: %s", f.host, plainHint), ErrUnreachable
	case errors.As(err, &unknownCA):
		return fmt.Sprintf("%s's TLS certificate is signed by an unknown authority: pass --ca-file with that authority's certificate, or --insecure-skip-tls-verify", f.host), ErrUnreachable
	case errors.As(err, &hostErr):
		return fmt.Sprintf("%s's TLS certificate is not valid for %s: use the host name on the certificate", f.host, hostErr.Host), ErrUnreachable
	case errors.As(err, &certErr):
		return fmt.Sprintf("%s's TLS certificate is not trusted (%s): pass --ca-file with its authority's certificate, or --insecure-skip-tls-verify", f.host, oneLine(certErr.Err)), ErrUnreachable
	case c.certAlert(err, &opErr):
		// A TLS alert from the server about the client's certificate (mutual TLS).
		if c.opts.CertFile == "" {
			return fmt.Sprintf("%s requires a client certificate (%v): pass --cert-file and --key-file", f.host, opErr.Err), ErrUnreachable
		}
		return fmt.Sprintf("%s refused the client certificate of --cert-file %s (%v): give one its administrator accepts", f.host, c.opts.CertFile, opErr.Err), ErrUnreachable
	case errors.As(err, &opErr) && opErr.Op == "dial":
		reason := "the connection failed"
		if opErr.Timeout() {
			reason = "the connection timed out"
		} else if strings.Contains(opErr.Err.Error(), "refused") {
			reason = "the connection was refused"
		}
		return fmt.Sprintf("cannot reach %s: %s; check the address and that the registry is running", f.host, reason), ErrUnreachable
	case errors.As(err, &opErr):
		return fmt.Sprintf("the connection to %s failed (%v); try again", f.host, opErr.Err), ErrUnreachable
	}
	return oneLine(err), nil
}

// isStatus reports whether err is a registry's answer with this HTTP status.
func isStatus(err error, status int) bool {
	var oe *errcode.ErrorResponse
	var he *httpStatusError
	return errors.As(err, &oe) && oe.StatusCode == status || errors.As(err, &he) && he.status == status
}
