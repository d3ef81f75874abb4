package auth

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"
)

// ErrThrottled means too many wrong passwords came for a user from an address, or from an
// address; the request is refused without checking its password (answer 429 with
// Retry-After, see SetRetryAfter).
var ErrThrottled = errors.New("too many failed sign-ins")

// ThrottledError is ErrThrottled with how long the client should wait.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%v: wait %d s before trying again, and check the user name and password", ErrThrottled, retrySeconds(e.RetryAfter))
}

func (e *ThrottledError) Unwrap() error { return ErrThrottled }

// SetRetryAfter sets the Retry-After header of an answer to err when err is a ThrottledError.
func SetRetryAfter(w http.ResponseWriter, err error) {
	var te *ThrottledError
	if errors.As(err, &te) {
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(te.RetryAfter)))
	}
}

func retrySeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// Throttling defaults (see Options).
const (
	DefaultUserFailures    = 5
	DefaultAddressFailures = 20
	DefaultFailureWindow   = 2 * time.Minute
	// maxThrottled bounds each table of the throttle: beyond it, forgotten and then the
	// least loaded entries make room, so spraying user names or addresses cannot grow it.
	maxThrottled = 10000
)

// throttle counts failed password checks per (user, address) and per address in leaky
// buckets: each failure adds one, and one leaks out every window/burst, so a burst of
// failures is followed by one attempt per window/burst and a quiet client is forgiven
// entirely after window. An attempt is refused while its bucket is full. A good password
// empties the (user, address) bucket. It is safe for concurrent use.
type throttle struct {
	mu     sync.Mutex
	user   bucketTable
	client bucketTable
}

func newThrottle(userBurst, addrBurst int, window time.Duration) *throttle {
	return &throttle{
		user:   newBucketTable(userBurst, window),
		client: newBucketTable(addrBurst, window),
	}
}

// wait returns how long an attempt by user from addr must wait; 0 lets it through.
func (t *throttle) wait(user, addr string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return max(t.user.wait(user+"\x00"+addr, now), t.client.wait(addr, now))
}

// fail records a wrong password.
func (t *throttle) fail(user, addr string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.user.add(user+"\x00"+addr, now)
	t.client.add(addr, now)
}

// succeed records a good password: the user's failures from that address are forgotten
// (not the address's, or one known password would reset a spray).
func (t *throttle) succeed(user, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.user.m, user+"\x00"+addr)
}

type bucket struct {
	level float64 // failures not yet leaked out, at
	at    time.Time
}

type bucketTable struct {
	burst float64
	leak  time.Duration // one failure leaks out per leak
	m     map[string]*bucket
}

func newBucketTable(burst int, window time.Duration) bucketTable {
	return bucketTable{burst: float64(burst), leak: window / time.Duration(burst), m: map[string]*bucket{}}
}

func (bt *bucketTable) level(b *bucket, now time.Time) float64 {
	return max(b.level-float64(now.Sub(b.at))/float64(bt.leak), 0)
}

func (bt *bucketTable) wait(key string, now time.Time) time.Duration {
	b, ok := bt.m[key]
	if !ok {
		return 0
	}
	over := bt.level(b, now) - (bt.burst - 1)
	if over <= 0 {
		return 0
	}
	return time.Duration(over * float64(bt.leak))
}

func (bt *bucketTable) add(key string, now time.Time) {
	b, ok := bt.m[key]
	if !ok {
		if len(bt.m) >= maxThrottled {
			bt.makeRoom(now)
		}
		b = &bucket{}
		bt.m[key] = b
	}
	b.level = bt.level(b, now) + 1
	b.at = now
}

// makeRoom drops the entries that have leaked empty and, if that frees less than a tenth of
// the table, the least loaded ones until it does: one scan pays for many inserts.
func (bt *bucketTable) makeRoom(now time.Time) {
	type entry struct {
		key   string
		level float64
	}
	live := make([]entry, 0, len(bt.m))
	for k, b := range bt.m {
		if l := bt.level(b, now); l > 0 {
			live = append(live, entry{k, l})
		} else {
			delete(bt.m, k)
		}
	}
	target := maxThrottled - maxThrottled/10
	if len(bt.m) <= target {
		return
	}
	slices.SortFunc(live, func(a, b entry) int { return cmp.Compare(a.level, b.level) })
	for _, e := range live[:len(bt.m)-target] {
		delete(bt.m, e.key)
	}
}

// clientAddress is the address failures are counted against: the peer's IP, IPv6 addresses
// by their /64 (one host's share). Behind a reverse proxy it is the proxy's.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
