package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// webhookReceiver is a CI endpoint as the README's Webhooks section tells one to write:
// it verifies each delivery's signature and timestamp, and records the events it
// acknowledged (2xx) per namespace. While failing is set it answers 503 to every delivery.
type webhookReceiver struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	secrets map[string]string // URL path → the webhook's secret
	got     map[string][]webhookEvent
	calls   int
	failing bool
}

type webhookEvent struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Namespace  string `json:"namespace"`
	Repository string `json:"repository"`
	Actor      string `json:"actor"`
	Chart      struct {
		Name, Version, Digest, OCI, URL string
	} `json:"chart"`
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	r := &webhookReceiver{t: t, secrets: map[string]string{}, got: map[string][]webhookEvent{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *webhookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	secret, ok := r.secrets[req.URL.Path]
	if err != nil || !ok {
		r.t.Errorf("delivery to %s: %v (no webhook there)", req.URL.Path, err)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	// The README's recipe: HMAC-SHA256 of "<timestamp>.<body>", compared in constant time,
	// and a timestamp no older than five minutes.
	ts := req.Header.Get("X-Chartroom-Timestamp")
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	sec, err := strconv.ParseInt(ts, 10, 64)
	if !hmac.Equal([]byte(req.Header.Get("X-Chartroom-Signature")), []byte(want)) || err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		r.t.Errorf("delivery to %s: bad signature %q or timestamp %q", req.URL.Path, req.Header.Get("X-Chartroom-Signature"), ts)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev webhookEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" || req.Header.Get("X-Chartroom-Event-Id") != ev.ID ||
		req.Header.Get("X-Chartroom-Event") != ev.Type || req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("delivery to %s: %v, headers %v, body %s", req.URL.Path, err, req.Header, body)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.failing {
		http.Error(w, "receiver down for maintenance", http.StatusServiceUnavailable)
		return
	}
	r.got[req.URL.Path] = append(r.got[req.URL.Path], ev)
	w.WriteHeader(http.StatusNoContent)
}

func (r *webhookReceiver) setFailing(f bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing = f
}

func (r *webhookReceiver) acknowledged(path string) []webhookEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got[path])
}

func (r *webhookReceiver) callCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// waitUntil polls cond every 20ms until it holds, failing the test after two minutes.
func waitUntil(t *testing.T, srv *Server, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; server log:\n%s", what, tail(srv.Logs(), 40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// webhookDelivery is a delivery as chartroom webhook deliveries -o json prints it.
type webhookDelivery struct {
	ID       int64  `json:"id"`
	Webhook  int64  `json:"webhook"`
	Event    string `json:"event"`
	EventID  string `json:"eventId"`
	Version  string `json:"version"`
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
}

func webhookDeliveries(t *testing.T, dataDir string) []webhookDelivery {
	t.Helper()
	code, stdout, stderr := runChartroom(t, "webhook", "deliveries", "--data-dir", dataDir, "--limit", "0", "-o", "json")
	if code != 0 {
		t.Fatalf("webhook deliveries: exit %d: %s", code, stderr)
	}
	var ds []webhookDelivery
	if err := json.Unmarshal([]byte(stdout), &ds); err != nil {
		t.Fatalf("webhook deliveries -o json: %v\n%s", err, stdout)
	}
	return ds
}

// TestWebhooks: a receiver registered with chartroom webhook add gets every chart published
// in its namespace during the run (helm push over OCI and uploads to /api/charts), signed,
// exactly once and in publishing order per namespace, also while it fails for a while and
// the server is killed and restarted with deliveries pending.
func TestWebhooks(t *testing.T) {
	helm := need(t, helm3)
	srv := StartServer(t, "--webhook-retry-min=200ms", "--webhook-retry-max=1s")
	rcv := newWebhookReceiver(t)
	e := newToolEnv(t)
	c := adminClient(srv)
	host := srv.Host()
	e.must(helm, "registry", "login", host, "--username", "admin", "--password", srv.Password, "--plain-http")

	// Webhooks are added on the data directory while the server runs; one per namespace.
	for _, ns := range []string{"team", "other"} {
		code, stdout, stderr := runChartroom(t, "webhook", "add", ns, rcv.srv.URL+"/"+ns, "--allow-local",
			"--events", "chart.published", "--data-dir", srv.DataDir, "-o", "json")
		if code != 0 {
			t.Fatalf("webhook add %s: exit %d: %s", ns, code, stderr)
		}
		var added struct{ Secret string }
		if err := json.Unmarshal([]byte(stdout), &added); err != nil || len(added.Secret) != 64 {
			t.Fatalf("webhook add -o json: %v\n%s", err, stdout)
		}
		rcv.mu.Lock()
		rcv.secrets["/"+ns] = added.Secret
		rcv.mu.Unlock()
		if strings.Contains(srv.Logs(), added.Secret) {
			t.Fatal("the server logged a webhook secret")
		}
	}
	// Without --allow-local a receiver on this machine is refused.
	if code, _, stderr := runChartroom(t, "webhook", "add", "team", rcv.srv.URL+"/x", "--data-dir", srv.DataDir); code != 2 || !strings.Contains(stderr, "--allow-local") {
		t.Fatalf("webhook add of a loopback URL without --allow-local: exit %d: %s", code, stderr)
	}

	work := t.TempDir()
	published := map[string][]string{} // namespace → "name version", in publishing order
	n := 0
	publish := func(ns string) {
		t.Helper()
		n++
		name, version := fmt.Sprintf("app%d", n%3), fmt.Sprintf("1.0.%d", n)
		archive := repoArchive(t, name, version, "")
		if n%2 == 0 {
			// helm push over OCI.
			tgz := filepath.Join(work, fmt.Sprintf("%s-%s.tgz", name, version))
			if err := os.WriteFile(tgz, archive, 0o644); err != nil {
				t.Fatal(err)
			}
			e.must(helm, "push", tgz, "oci://"+host+"/"+ns, "--plain-http")
		} else {
			// The classic chart repository's upload API.
			resp, body, err := c.do("POST", repoAPI(ns, "charts"), archive, map[string]string{"Content-Type": "application/gzip"})
			if err != nil || resp.StatusCode != http.StatusCreated {
				t.Fatalf("upload %s %s to %s: %v %v %s", name, version, ns, err, resp, body)
			}
		}
		published[ns] = append(published[ns], name+" "+version)
	}
	received := func(ns string) []string {
		var out []string
		for _, ev := range rcv.acknowledged("/" + ns) {
			out = append(out, ev.Chart.Name+" "+ev.Chart.Version)
		}
		return out
	}
	allReceived := func() bool {
		return len(received("team")) >= len(published["team"]) && len(received("other")) >= len(published["other"])
	}

	t.Log("the receiver answers: each publish arrives")
	for _, ns := range []string{"team", "other", "team", "team", "other"} {
		publish(ns)
	}
	waitUntil(t, srv, "the first deliveries", allReceived)

	t.Log("the receiver fails: deliveries pile up and are retried")
	rcv.setFailing(true)
	for _, ns := range []string{"team", "other", "team", "other", "team"} {
		publish(ns)
	}
	calls := rcv.callCount()
	waitUntil(t, srv, "retries of the failing deliveries", func() bool {
		retried := 0
		for _, d := range webhookDeliveries(t, srv.DataDir) {
			if d.State == "pending" && d.Attempts >= 2 {
				retried++
			}
		}
		return retried == 2 && rcv.callCount() >= calls+4 // each webhook's head, twice
	})

	t.Log("the server is killed with deliveries pending, restarted, and more is published")
	srv.Kill()
	pending := 0
	for _, d := range webhookDeliveries(t, srv.DataDir) {
		if d.State == "pending" {
			pending++
		}
	}
	if pending != 5 {
		t.Fatalf("%d deliveries pending after the kill, want 5", pending)
	}
	srv.Restart()
	c = adminClient(srv)
	for _, ns := range []string{"other", "team"} {
		publish(ns)
	}

	t.Log("the receiver recovers; then a clean restart, and one more publish")
	rcv.setFailing(false)
	waitUntil(t, srv, "every publish delivered", allReceived)
	if code := srv.Stop(); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	srv.Restart()
	c = adminClient(srv)
	publish("team")
	waitUntil(t, srv, "the last publish delivered", allReceived)

	// Exactly once, in publishing order, per namespace; nothing of one namespace at the other's.
	for _, ns := range []string{"team", "other"} {
		if got := received(ns); !slices.Equal(got, published[ns]) {
			t.Errorf("namespace %s received\n  %v\npublished\n  %v", ns, got, published[ns])
		}
		ids := map[string]bool{}
		for _, ev := range rcv.acknowledged("/" + ns) {
			if ids[ev.ID] {
				t.Errorf("event %s received twice", ev.ID)
			}
			ids[ev.ID] = true
			if ev.Type != "chart.published" || ev.Namespace != ns || ev.Repository != ns+"/"+ev.Chart.Name || ev.Actor != "admin" ||
				ev.Chart.OCI != "oci://"+host+"/"+ns+"/"+ev.Chart.Name || ev.Chart.URL != srv.URL("/"+ns+"/charts/"+ev.Chart.Name+"-"+ev.Chart.Version+".tgz") {
				t.Errorf("event %+v", ev)
			}
		}
	}
	// The outcome is visible: every delivery succeeded, the early ones at the first attempt.
	ds := webhookDeliveries(t, srv.DataDir)
	if len(ds) != len(published["team"])+len(published["other"]) {
		t.Errorf("%d deliveries listed, want %d", len(ds), len(published["team"])+len(published["other"]))
	}
	for _, d := range ds {
		if d.State != "succeeded" || d.Attempts < 1 {
			t.Errorf("delivery %+v", d)
		}
	}
	code, stdout, _ := runChartroom(t, "webhook", "list", "--data-dir", srv.DataDir)
	if code != 0 || strings.Contains(stdout, rcv.secrets["/team"]) || strings.Contains(srv.Logs(), rcv.secrets["/team"]) {
		t.Errorf("webhook list exit %d, or a secret listed or logged:\n%s", code, stdout)
	}
}
