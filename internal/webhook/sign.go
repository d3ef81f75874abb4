package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/netguard"
)

// Headers of a delivery.
const (
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, keyed with the webhook's secret,
	// of the timestamp header's value, a ".", and the body.
	HeaderSignature = "X-Chartroom-Signature"
	// HeaderTimestamp is when the delivery was signed, in Unix seconds: a receiver refuses
	// one too old (a replay).
	HeaderTimestamp = "X-Chartroom-Timestamp"
	// HeaderEvent is the event type.
	HeaderEvent = "X-Chartroom-Event"
	// HeaderEventID is the event's unique id (the body's "id"), to de-duplicate by.
	HeaderEventID = "X-Chartroom-Event-Id"
	// HeaderDelivery is the delivery's number (chartroom webhook deliveries lists it).
	HeaderDelivery = "X-Chartroom-Delivery"
)

// MinSecretLength is the shortest secret a webhook may have.
const MinSecretLength = 16

// Sign returns the X-Chartroom-Signature value of body sent at timestamp (Unix seconds).
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// NewSecret returns a random secret: 32 bytes, hex.
func NewSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// CheckSecret refuses a secret too short to resist guessing, or one with spaces or control
// characters (which do not survive being pasted into a receiver's configuration).
func CheckSecret(s string) error {
	if len(s) < MinSecretLength {
		return fmt.Errorf("the secret has %d characters; use at least %d (or leave it out: one is generated)", len(s), MinSecretLength)
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return errors.New("the secret has spaces or control characters; use printable characters only")
		}
	}
	return nil
}

// CheckURL refuses a URL a webhook cannot be sent to: not absolute http or https, no host,
// credentials in it (they would be shown by chartroom webhook list and in logs; receivers
// check the signature instead), or a fragment.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL: %v", raw, errors.Unwrap(err))
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: only http and https URLs are sent to, e.g. https://ci.example.com/hooks/chartroom", raw)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%q has no host: expected e.g. https://ci.example.com/hooks/chartroom", raw)
	case u.User != nil:
		return fmt.Errorf("%q has credentials in it: they would be shown wherever the URL is; receivers verify the %s header instead", raw, HeaderSignature)
	case u.Fragment != "" || strings.HasSuffix(raw, "#"):
		return fmt.Errorf("%q has a fragment (#…), which is never sent: remove it", raw)
	}
	return nil
}

// CheckLocal refuses, unless allowLocal, a URL whose host is a loopback, link-local or
// unspecified address, or localhost: it would reach the server's own machine or a cloud's
// metadata service. A name that resolves to such an address is refused when a delivery
// connects.
func CheckLocal(raw string, allowLocal bool) error {
	u, err := url.Parse(raw)
	if err != nil || allowLocal {
		return nil // CheckURL says what is wrong with it
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	kind := netguard.HostKind(host)
	if kind == "" && strings.HasSuffix(host, ".localhost") {
		kind = "this machine"
	}
	if kind != "" {
		return fmt.Errorf("%q points at %s: give --allow-local if the receiver is meant to run there (such URLs are refused by default, so that a webhook cannot reach services listening only locally or a cloud's metadata service)", raw, kind)
	}
	return nil
}

// ParseEvents reads event types given as a list (each item may be comma-separated); none
// means all. They come back without repeats, in the order of meta.EventTypes.
func ParseEvents(items []string) ([]string, error) {
	want := map[string]bool{}
	for _, item := range items {
		for _, e := range strings.Split(item, ",") {
			e = strings.TrimSpace(e)
			if e == "" {
				continue
			}
			if !slices.Contains(meta.EventTypes, e) {
				return nil, fmt.Errorf("unknown event %q: expected %s", e, strings.Join(meta.EventTypes, ", "))
			}
			want[e] = true
		}
	}
	if len(want) == 0 {
		return slices.Clone(meta.EventTypes), nil
	}
	var out []string
	for _, e := range meta.EventTypes {
		if want[e] {
			out = append(out, e)
		}
	}
	return out, nil
}
