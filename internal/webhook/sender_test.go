package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/meta/metatest"
)

const secret = "s3cret-s3cret-s3cret"

func openDB(t *testing.T) *meta.DB {
	t.Helper()
	return metatest.Open(t, t.TempDir())
}

// push stores an image manifest tagged tag in repo: one artifact.pushed event.
func push(t *testing.T, db *meta.DB, repo, tag string) {
	t.Helper()
	body := []byte(fmt.Sprintf(`{"schemaVersion":2,"repo":%q,"tag":%q}`, repo, tag))
	_, err := db.PutManifest(context.Background(), meta.PutManifest{
		Manifest: meta.Manifest{Repository: repo, Digest: digest.FromBytes(body), MediaType: "application/vnd.oci.image.manifest.v1+json", Content: body},
		Tags:     []string{tag},
		Actor:    "ci",
	})
	if err != nil {
		t.Fatal(err)
	}
}

// receiver is a webhook endpoint that checks signatures and records what it acknowledged.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	got    []Payload // acknowledged, in order
	calls  int
	answer func(n int, p Payload) int // the status for the n-th call (1-based)
	hold   chan struct{}              // when set, each call waits for a value
	held   chan struct{}              // receives a value when a call is held
}

func newReceiver(t *testing.T, answer func(n int, p Payload) int) *receiver {
	r := &receiver{t: t, answer: answer}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	ts, err := strconv.ParseInt(req.Header.Get(HeaderTimestamp), 10, 64)
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.", ts)
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if err != nil || !hmac.Equal([]byte(req.Header.Get(HeaderSignature)), []byte(want)) {
		r.t.Errorf("bad signature %q (timestamp %q)", req.Header.Get(HeaderSignature), req.Header.Get(HeaderTimestamp))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		r.t.Errorf("payload: %v", err)
	}
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" ||
		req.Header.Get(HeaderEvent) != p.Type || req.Header.Get(HeaderEventID) != p.ID || req.Header.Get(HeaderDelivery) == "" {
		r.t.Errorf("request %s %v does not match its payload %+v", req.Method, req.Header, p)
	}
	if r.held != nil {
		r.held <- struct{}{}
		<-r.hold
	}
	r.mu.Lock()
	r.calls++
	status := http.StatusNoContent
	if r.answer != nil {
		status = r.answer(r.calls, p)
	}
	if status < 300 {
		r.got = append(r.got, p)
	}
	r.mu.Unlock()
	w.WriteHeader(status)
	fmt.Fprint(w, "answer\x1b[31m with\ncontrol characters")
}

func (r *receiver) acknowledged() []Payload {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// run starts a sender until the test ends (or stop is called); stop returns once Run did.
func run(t *testing.T, db *meta.DB, opts Options) (stop func()) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	opts.BaseURL = "https://charts.example.com"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		New(db, opts).Run(ctx)
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func addWebhook(t *testing.T, db *meta.DB, ns, url string) *meta.Webhook {
	t.Helper()
	w, err := db.AddWebhook(context.Background(), meta.Webhook{Namespace: ns, URL: url, Events: meta.EventTypes, Secret: secret, AllowLocal: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func deliveries(t *testing.T, db *meta.DB, hook int64) []meta.Delivery {
	t.Helper()
	ds, err := db.Deliveries(context.Background(), meta.DeliveryFilter{WebhookID: hook})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(ds)
	return ds
}

func tagsOf(ps []Payload) []string {
	var out []string
	for _, p := range ps {
		out = append(out, strings.Join(p.Artifact.Tags, ","))
	}
	return out
}

func TestDeliversSignedEventsInOrder(t *testing.T) {
	db := openDB(t)
	rcv := newReceiver(t, nil)
	hook := addWebhook(t, db, "team", rcv.srv.URL+"/hook?token=x")
	run(t, db, Options{})
	var want []string
	for i := range 5 {
		push(t, db, "team/app", fmt.Sprintf("v%d", i))
		want = append(want, fmt.Sprintf("v%d", i))
	}
	waitFor(t, "5 deliveries", func() bool { return len(rcv.acknowledged()) == 5 })
	got := rcv.acknowledged()
	if !slices.Equal(tagsOf(got), want) {
		t.Fatalf("received %v, want %v in that order", tagsOf(got), want)
	}
	p := got[0]
	if p.Type != meta.EventArtifactPushed || p.Namespace != "team" || p.Repository != "team/app" || p.Actor != "ci" ||
		!strings.HasPrefix(p.Artifact.Reference, "charts.example.com/team/app@sha256:") || p.Chart != nil || p.Time.IsZero() {
		t.Fatalf("payload %+v", p)
	}
	waitFor(t, "the deliveries recorded", func() bool {
		for _, d := range deliveries(t, db, hook.ID) {
			if d.State != meta.DeliverySucceeded {
				return false
			}
		}
		return true
	})
	for _, d := range deliveries(t, db, hook.ID) {
		if d.Attempts != 1 || d.LastStatus != http.StatusNoContent || d.LastError != "" {
			t.Errorf("delivery %d: %+v", d.ID, d)
		}
	}
}

// A failing receiver gets each delivery again with backoff, in order: the next one only
// after the failing one succeeded; an acknowledged delivery is never sent again.
func TestRetriesKeepOrderAndSendNothingTwice(t *testing.T) {
	db := openDB(t)
	rcv := newReceiver(t, func(n int, p Payload) int {
		if n%3 != 0 { // two failures before each success
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	hook := addWebhook(t, db, "team", rcv.srv.URL)
	run(t, db, Options{RetryMin: time.Millisecond, RetryMax: 4 * time.Millisecond})
	for i := range 4 {
		push(t, db, "team/app", fmt.Sprintf("v%d", i))
	}
	waitFor(t, "4 deliveries", func() bool { return len(rcv.acknowledged()) == 4 })
	if got := tagsOf(rcv.acknowledged()); !slices.Equal(got, []string{"v0", "v1", "v2", "v3"}) {
		t.Fatalf("acknowledged %v", got)
	}
	waitFor(t, "the last delivery recorded", func() bool {
		ds := deliveries(t, db, hook.ID)
		return ds[3].State == meta.DeliverySucceeded
	})
	ids := map[string]bool{}
	for _, p := range rcv.acknowledged() {
		if ids[p.ID] {
			t.Fatalf("event %s acknowledged twice", p.ID)
		}
		ids[p.ID] = true
	}
	rcv.mu.Lock()
	calls := rcv.calls
	rcv.mu.Unlock()
	if calls != 12 {
		t.Fatalf("%d calls, want 12 (3 per delivery)", calls)
	}
	for _, d := range deliveries(t, db, hook.ID) {
		if d.State != meta.DeliverySucceeded || d.Attempts != 3 || d.LastStatus != 200 {
			t.Errorf("delivery %d: %s after %d attempts, last status %d", d.ID, d.State, d.Attempts, d.LastStatus)
		}
	}
}

// A webhook whose receiver fails does not hold up the others; after MaxAttempts its delivery
// fails for good, with the answer recorded (as one printable line), and its next one goes.
func TestFailingWebhookFailsAloneThenGoesOn(t *testing.T) {
	db := openDB(t)
	bad := newReceiver(t, func(n int, p Payload) int {
		if p.Artifact.Tags[0] == "v0" {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	good := newReceiver(t, nil)
	badHook := addWebhook(t, db, "team", bad.srv.URL)
	addWebhook(t, db, "team", good.srv.URL)
	run(t, db, Options{RetryMin: time.Millisecond, RetryMax: time.Millisecond, MaxAttempts: 3})
	for i := range 3 {
		push(t, db, "team/app", fmt.Sprintf("v%d", i))
	}
	waitFor(t, "the good webhook's deliveries", func() bool { return len(good.acknowledged()) == 3 })
	waitFor(t, "the bad webhook's later deliveries", func() bool { return len(bad.acknowledged()) == 2 })
	if got := tagsOf(bad.acknowledged()); !slices.Equal(got, []string{"v1", "v2"}) {
		t.Fatalf("bad webhook acknowledged %v", got)
	}
	d := deliveries(t, db, badHook.ID)[0]
	if d.State != meta.DeliveryFailed || d.Attempts != 3 || d.LastStatus != 500 ||
		d.LastError != "answered 500 Internal Server Error: answer[31m with control characters" {
		t.Fatalf("failed delivery: %s, %d attempts, status %d, error %q", d.State, d.Attempts, d.LastStatus, d.LastError)
	}
}

// Redirects are not followed (the target never hears of the event), and a receiver that
// does not answer within the timeout is a failed attempt; neither error shows the URL's
// query (it may hold a token).
func TestNoRedirectsAndTimeouts(t *testing.T) {
	db := openDB(t)
	target := newReceiver(t, nil)
	redirect := httptest.NewServer(http.RedirectHandler(target.srv.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); slow.Close() })
	redirected := addWebhook(t, db, "team", redirect.URL+"/?token=secret-token")
	timedOut := addWebhook(t, db, "team", slow.URL+"/?token=secret-token")
	run(t, db, Options{Timeout: 50 * time.Millisecond, RetryMin: time.Hour})
	push(t, db, "team/app", "v1")
	waitFor(t, "both attempts recorded", func() bool {
		return deliveries(t, db, redirected.ID)[0].Attempts == 1 && deliveries(t, db, timedOut.ID)[0].Attempts == 1
	})
	r, s := deliveries(t, db, redirected.ID)[0], deliveries(t, db, timedOut.ID)[0]
	if r.State != meta.DeliveryPending || r.LastStatus != http.StatusTemporaryRedirect || !strings.Contains(r.LastError, "redirects are not followed") {
		t.Errorf("redirected delivery: %+v", r)
	}
	if len(target.acknowledged()) != 0 {
		t.Errorf("the redirect was followed")
	}
	if s.State != meta.DeliveryPending || s.LastStatus != 0 || !strings.Contains(s.LastError, "no answer within 50ms") {
		t.Errorf("timed out delivery: %+v", s)
	}
	for _, d := range []meta.Delivery{r, s} {
		if strings.Contains(d.LastError, "secret-token") {
			t.Errorf("error shows the URL's token: %q", d.LastError)
		}
		if !d.NextAttempt.After(time.Now().Add(50 * time.Minute)) {
			t.Errorf("next attempt %v: want the retry an hour after the failure", d.NextAttempt)
		}
	}
}

// Stopping the sender lets the attempt in flight finish and be recorded: the receiver's 2xx
// is never followed by the same delivery again.
func TestStopFinishesTheAttemptInFlight(t *testing.T) {
	db := openDB(t)
	rcv := newReceiver(t, nil)
	rcv.hold, rcv.held = make(chan struct{}), make(chan struct{}, 1)
	hook := addWebhook(t, db, "team", rcv.srv.URL)
	stop := run(t, db, Options{})
	push(t, db, "team/app", "v1")
	<-rcv.held
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("the sender stopped before its attempt in flight was answered")
	case <-time.After(100 * time.Millisecond):
	}
	rcv.hold <- struct{}{}
	<-stopped
	if d := deliveries(t, db, hook.ID)[0]; d.State != meta.DeliverySucceeded || d.LeaseOwner != "" {
		t.Fatalf("after stop: %+v", d)
	}
}

func TestBackoff(t *testing.T) {
	s := New(nil, Options{RetryMin: 10 * time.Second, RetryMax: time.Hour})
	var got []time.Duration
	for a := 1; a <= 11; a++ {
		got = append(got, s.Backoff(a))
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second,
		320 * time.Second, 640 * time.Second, 1280 * time.Second, 2560 * time.Second, time.Hour, time.Hour}
	if !slices.Equal(got, want) {
		t.Fatalf("backoff %v, want %v", got, want)
	}
}

// A webhook added without AllowLocal is never sent to a loopback address, whether its URL
// names one or a name that resolves to one; with AllowLocal it is.
func TestLocalAddressesOnlyWhenAllowed(t *testing.T) {
	db := openDB(t)
	rcv := newReceiver(t, nil)
	add := func(url string, allowLocal bool) *meta.Webhook {
		w, err := db.AddWebhook(context.Background(), meta.Webhook{Namespace: "team", URL: url, Events: meta.EventTypes, Secret: secret, AllowLocal: allowLocal}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	literal := add(rcv.srv.URL, false)
	named := add(strings.Replace(rcv.srv.URL, "127.0.0.1", "localhost", 1), false)
	allowed := add(rcv.srv.URL, true)
	run(t, db, Options{RetryMin: time.Hour})
	push(t, db, "team/app", "v1")
	waitFor(t, "the three attempts recorded", func() bool {
		for _, w := range []*meta.Webhook{literal, named, allowed} {
			if deliveries(t, db, w.ID)[0].Attempts != 1 {
				return false
			}
		}
		return true
	})
	for _, w := range []*meta.Webhook{literal, named} {
		if d := deliveries(t, db, w.ID)[0]; d.State != meta.DeliveryPending || !strings.Contains(d.LastError, "a loopback address") || !strings.Contains(d.LastError, "--allow-local") {
			t.Errorf("delivery to %s: %s, %q", w.URL, d.State, d.LastError)
		}
	}
	if d := deliveries(t, db, allowed.ID)[0]; d.State != meta.DeliverySucceeded {
		t.Errorf("the allowed webhook's delivery: %+v", d)
	}
	rcv.mu.Lock()
	calls := rcv.calls
	rcv.mu.Unlock()
	if calls != 1 {
		t.Errorf("the receiver was called %d times, want once (the allowed webhook)", calls)
	}
}
