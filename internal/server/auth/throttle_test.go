package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// request builds a request with Basic credentials from a client address.
func request(user, pass, addr string) *http.Request {
	r := httptest.NewRequest("GET", "/v2/", nil)
	r.RemoteAddr = addr + ":40000"
	r.SetBasicAuth(user, pass)
	return r
}

// An unknown user's password is compared with a hash as a wrong password is: both run one
// bcrypt comparison, so the answer's timing does not tell which users exist.
func TestUnknownUserCostsOneComparison(t *testing.T) {
	s := newService(t, Options{})
	for _, tc := range []struct{ name, user, pass string }{
		{"unknown user", "eve", "s3cret"},
		{"wrong password", "admin", "nope"},
		{"another unknown user", "mallory", "guess"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Stats()
			if _, err := s.Authenticate(request(tc.user, tc.pass, "192.0.2.1")); !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("Authenticate = %v; want ErrUnauthenticated", err)
			}
			after := s.Stats()
			if after.Checks != before.Checks+1 || after.Failures != before.Failures+1 {
				t.Fatalf("comparisons %d → %d, failures %d → %d; want one more of each",
					before.Checks, after.Checks, before.Failures, after.Failures)
			}
		})
	}
}

func TestThrottlePerUserAndAddress(t *testing.T) {
	const window = 3 * time.Second // 3 failures: one leaks out every second
	s := newService(t, Options{UserFailures: 3, AddressFailures: 100, FailureWindow: window})
	for i := range 3 {
		if _, err := s.Authenticate(request("admin", fmt.Sprint("guess", i), "192.0.2.1")); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("failure %d: %v; want ErrUnauthenticated", i+1, err)
		}
	}
	checks := s.Stats().Checks
	// Now refused without a comparison, the right password too.
	for _, pass := range []string{"guess3", "s3cret"} {
		_, err := s.Authenticate(request("admin", pass, "192.0.2.1"))
		var te *ThrottledError
		if !errors.As(err, &te) || !errors.Is(err, ErrThrottled) || te.RetryAfter <= 0 || te.RetryAfter > window {
			t.Fatalf("after 3 failures, password %q: %v; want ErrThrottled with a wait in (0, %s]", pass, err, window)
		}
		rec := httptest.NewRecorder()
		SetRetryAfter(rec, err)
		if rec.Header().Get("Retry-After") != "1" {
			t.Errorf("Retry-After = %q; want 1 (seconds, rounded up)", rec.Header().Get("Retry-After"))
		}
	}
	if got := s.Stats(); got.Checks != checks || got.Throttled != 2 {
		t.Errorf("throttled attempts ran %d comparisons and counted %d; want 0 and 2", got.Checks-checks, got.Throttled)
	}
	// The same user from another address, and another user from this address, are not held.
	if _, err := s.Authenticate(request("admin", "wrong", "192.0.2.2")); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("admin from another address: %v; want ErrUnauthenticated", err)
	}
	if _, err := s.Authenticate(request("eve", "x", "192.0.2.1")); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("another user from the address: %v; want ErrUnauthenticated", err)
	}

	// The backoff decays: once the wait is over the right password works, and it resets the
	// user's count for that address.
	var err error
	for deadline := time.Now().Add(10 * window); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, err = s.Authenticate(request("admin", "s3cret", "192.0.2.1")); !errors.Is(err, ErrThrottled) {
			break
		}
	}
	if err != nil {
		t.Fatalf("after the wait: %v; want the right password accepted", err)
	}
	for i := range 3 {
		if _, err := s.Authenticate(request("admin", fmt.Sprint("again", i), "192.0.2.1")); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("failure %d after a good sign-in: %v; want ErrUnauthenticated (the count was reset)", i+1, err)
		}
	}
}

func TestThrottlePerAddress(t *testing.T) {
	s := newService(t, Options{UserFailures: 100, AddressFailures: 4})
	for i := range 4 {
		if _, err := s.Authenticate(request(fmt.Sprint("user", i), "x", "198.51.100.7")); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	if _, err := s.Authenticate(request("admin", "s3cret", "198.51.100.7")); !errors.Is(err, ErrThrottled) {
		t.Fatalf("a sprayed address: %v; want ErrThrottled", err)
	}
	// (From here admin's password is cached: a verified client is never held up.)
	if _, err := s.Authenticate(request("admin", "s3cret", "198.51.100.8")); err != nil {
		t.Fatalf("another address: %v", err)
	}
	// IPv6 addresses count by their /64.
	for i := range 4 {
		if _, err := s.Authenticate(request(fmt.Sprint("user", i), "x", fmt.Sprintf("[2001:db8:1:2::%x]", i+1))); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("IPv6 failure %d: %v", i+1, err)
		}
	}
	if _, err := s.Authenticate(request("admin", "guess", "[2001:db8:1:2::ffff]")); !errors.Is(err, ErrThrottled) {
		t.Fatalf("another address of the same /64: %v; want ErrThrottled", err)
	}
}

// Spraying user names and addresses cannot grow the throttle's tables without bound.
func TestThrottleIsBounded(t *testing.T) {
	th := newThrottle(5, 20, time.Hour)
	now := time.Now()
	for i := range 3 * maxThrottled {
		th.fail(fmt.Sprint("user", i), fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), now)
	}
	if users, addrs := th.size(); users > maxThrottled || addrs > maxThrottled {
		t.Fatalf("tables hold %d and %d entries; want at most %d each", users, addrs, maxThrottled)
	}
	// A loaded entry survives the spray (the least loaded ones make room).
	for range 5 {
		th.fail("admin", "192.0.2.9", now)
	}
	for i := range 3 * maxThrottled {
		th.fail(fmt.Sprint("spray", i), "192.0.2.10", now)
	}
	if th.wait("admin", "192.0.2.9", now) == 0 {
		t.Error("the throttled user was forgotten by a spray of other names")
	}
}

// At most MaxConcurrentChecks bcrypt comparisons run at once, however many requests wait.
func TestPasswordChecksAreBounded(t *testing.T) {
	s := newService(t, Options{MaxConcurrentChecks: 2, UserFailures: 1000, AddressFailures: 1000})
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = s.Authenticate(request(fmt.Sprint("user", i), fmt.Sprint("pass", i), "192.0.2.1"))
		}()
	}
	wg.Wait()
	st := s.Stats()
	if st.Checks != 12 || st.Peak > 2 || st.Peak < 1 || st.Running != 0 {
		t.Fatalf("stats %+v; want 12 comparisons, at most 2 at once, none left running", st)
	}
}

// A request cancelled while waiting for a check slot gives up without a comparison.
func TestPasswordCheckWaitIsCancelled(t *testing.T) {
	s := newService(t, Options{MaxConcurrentChecks: 1})
	s.slots <- struct{}{} // the only slot is taken
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := request("admin", "s3cret", "192.0.2.1").WithContext(ctx)
	if _, err := s.Authenticate(r); !errors.Is(err, context.Canceled) {
		t.Fatalf("Authenticate = %v; want context.Canceled", err)
	}
	if st := s.Stats(); st.Checks != 0 {
		t.Fatalf("%d comparisons; want 0", st.Checks)
	}
}

// A second start with a CHARTROOM_ADMIN_PASSWORD that is not admin's warns that it is
// ignored and leaves the password as it was.
func TestBootstrapWarnsOfIgnoredPassword(t *testing.T) {
	s := newService(t, Options{})
	for _, tc := range []struct {
		name, password string
		warn           bool
	}{
		{"same password", "s3cret", false},
		{"no password", "", false},
		{"another password", "changed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs strings.Builder
			if err := s.Bootstrap(context.Background(), tc.password, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
				t.Fatal(err)
			}
			got := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "CHARTROOM_ADMIN_PASSWORD is ignored") &&
				strings.Contains(logs.String(), "chartroom user passwd")
			if got != tc.warn {
				t.Fatalf("warned %v, want %v: %s", got, tc.warn, logs.String())
			}
			if _, err := s.Authenticate(request("admin", "s3cret", "192.0.2.1")); err != nil {
				t.Fatalf("the original password no longer works: %v", err)
			}
		})
	}
}
