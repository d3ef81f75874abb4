package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/netguard"
)

// maxAnswer bounds what is read of a receiver's answer (the rest is not read; the
// connection is then closed rather than reused).
const maxAnswer = 64 << 10

// maxQuoted bounds what of a failed answer's body is kept in the delivery's last error.
const maxQuoted = 200

// client sends deliveries: POST, no redirects followed, every attempt bounded by a timeout.
// Deliveries connect directly (HTTP_PROXY and HTTPS_PROXY are not used), so that the address
// checked is the receiver's: the strict client refuses to connect to loopback and link-local
// addresses, whatever name resolved to them; webhooks added with AllowLocal use the other.
type client struct {
	strict, local *http.Client
	timeout       time.Duration
	agent         string
}

func newClient(timeout time.Duration, agent string) *client {
	return &client{
		strict:  newHTTPClient(timeout, netguard.RefuseLocal(ErrLocalAddress)),
		local:   newHTTPClient(timeout, nil),
		timeout: timeout,
		agent:   agent,
	}
}

func newHTTPClient(timeout time.Duration, control func(network, address string, _ syscall.RawConn) error) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: control}).DialContext
	tr.TLSHandshakeTimeout = timeout
	tr.ResponseHeaderTimeout = timeout
	tr.MaxIdleConnsPerHost = 2
	return &http.Client{
		Transport: tr,
		// A redirect is an answer, not a success: the URL registered is the one signed for.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// ErrLocalAddress is why a delivery of a webhook added without AllowLocal was not sent to a
// loopback or link-local address.
var ErrLocalAddress = errors.New("webhooks are sent to loopback and link-local addresses only when added with --allow-local")

// send makes one attempt of delivery c: the payload POSTed to the webhook's URL, signed.
func (c *client) send(ctx context.Context, d meta.Claim, base string) meta.DeliveryOutcome {
	body, err := NewPayload(d.Event, base).Marshal()
	if err != nil {
		return meta.DeliveryOutcome{Error: "encode the payload: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Webhook.URL, bytes.NewReader(body))
	if err != nil {
		return meta.DeliveryOutcome{Error: "the webhook's URL: " + err.Error()}
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", c.agent)
	req.Header.Set(HeaderEvent, d.Event.Type)
	req.Header.Set(HeaderEventID, d.Event.ID)
	req.Header.Set(HeaderDelivery, strconv.FormatInt(d.ID, 10))
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(d.Webhook.Secret, ts, body))
	hc := c.strict
	if d.Webhook.AllowLocal {
		hc = c.local
	}
	resp, err := hc.Do(req)
	if err != nil {
		return meta.DeliveryOutcome{Error: requestError(err, c.timeout)}
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	out := meta.DeliveryOutcome{Status: resp.StatusCode}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		out.Succeeded = true
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		out.Error = fmt.Sprintf("answered %s, a redirect to %q: redirects are not followed; register the URL the receiver answers at",
			resp.Status, quoted([]byte(resp.Header.Get("Location"))))
	default:
		out.Error = "answered " + resp.Status
		if q := quoted(answer); q != "" {
			out.Error += ": " + q
		}
	}
	return out
}

// requestError says why a request got no answer, without the URL (it may hold a token).
func requestError(err error, timeout time.Duration) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Sprintf("no answer within %s (--webhook-timeout)", timeout)
		}
		err = ue.Err
	}
	return err.Error()
}

// quoted is the start of a receiver's answer as one line of printable text.
func quoted(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		if unicode.IsSpace(r) {
			return ' '
		}
		return -1
	}, string(bytes.ToValidUTF8(b, nil)))
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxQuoted {
		i := maxQuoted
		for i > 0 && !utf8RuneStart(s[i]) {
			i--
		}
		s = s[:i] + "…"
	}
	return s
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
