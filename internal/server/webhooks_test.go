package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/meta"
)

// hookEvent is what the test receiver reads of a delivery.
type hookEvent struct {
	ID, Type, Namespace, Repository, Actor string
	Artifact                               struct {
		Digest, MediaType, Reference string
		Tags                         []string
	}
	Chart *struct{ Name, Version, Digest, OCI, URL string }
}

func (e hookEvent) String() string {
	s := e.Type + " " + e.Repository
	if e.Chart != nil {
		s += " " + e.Chart.Version
	}
	return s
}

// hookReceiver records the events it acknowledged; it answers 503 while failing is set.
type hookReceiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     []hookEvent
	failing bool
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var e hookEvent
		if err := json.NewDecoder(req.Body).Decode(&e); err != nil {
			t.Errorf("delivery body: %v", err)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.failing {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		r.got = append(r.got, e)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) events() []hookEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *hookReceiver) setFailing(f bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing = f
}

func (r *hookReceiver) wait(t *testing.T, n int) []hookEvent {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for len(r.events()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d events; got %v", n, r.events())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return r.events()
}

// serve runs s on a loopback port until the returned stop is called (or the test ends).
func serve(t *testing.T, s *Server) (url string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-served; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return "http://" + ln.Addr().String(), stop
}

// Every way a chart comes in or goes out tells the namespace's webhook, in order, with who
// did it and the URLs to pull it both ways.
func TestWebhooksOverBothProtocols(t *testing.T) {
	rcv := newHookReceiver(t)
	s, _ := newTestServer(t, func(c *Config) {
		c.ShutdownDelay = 0
		c.ExternalURL = "https://charts.example.com"
	})
	if _, err := s.db.AddWebhook(context.Background(), meta.Webhook{Namespace: "team", URL: rcv.srv.URL, Events: meta.EventTypes, Secret: "0123456789abcdef", AllowLocal: true}, nil); err != nil {
		t.Fatal(err)
	}
	url, _ := serve(t, s)
	c := bombClient{t: t, url: url}

	uploaded := charttest.Minimal(t, "up", "1.0.0", "uploaded")
	if status, body, _ := c.do("POST", "/api/team/charts", "application/gzip", uploaded); status != http.StatusCreated {
		t.Fatalf("upload: %d %s", status, body)
	}
	pushed := charttest.Minimal(t, "oci", "2.0.0", "pushed")
	layer := c.pushBlob("team/oci", pushed)
	layer.MediaType = chart.ChartLayerMediaType
	cfg := c.pushBlob("team/oci", []byte(`{"name":"oci","version":"2.0.0","apiVersion":"v2"}`))
	cfg.MediaType = chart.ConfigMediaType
	manifest, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{layer}})
	if status, body, _ := c.do("PUT", "/v2/team/oci/manifests/2.0.0", ocispec.MediaTypeImageManifest, manifest); status != http.StatusCreated {
		t.Fatalf("manifest PUT: %d %s", status, body)
	}
	if status, body, _ := c.do("DELETE", "/api/team/charts/up/1.0.0", "", nil); status != http.StatusOK {
		t.Fatalf("delete: %d %s", status, body)
	}
	if status, body, _ := c.do("DELETE", "/v2/team/oci/manifests/"+digest.FromBytes(manifest).String(), "", nil); status != http.StatusAccepted {
		t.Fatalf("OCI delete: %d %s", status, body)
	}
	// Another namespace's change is not this webhook's.
	if status, body, _ := c.do("POST", "/api/other/charts", "application/gzip", charttest.Minimal(t, "x", "1.0.0", "")); status != http.StatusCreated {
		t.Fatalf("upload: %d %s", status, body)
	}

	got := rcv.wait(t, 6)
	var lines []string
	for _, e := range got {
		lines = append(lines, e.String())
	}
	want := []string{
		"chart.published team/up 1.0.0", "artifact.pushed team/up 1.0.0",
		"chart.published team/oci 2.0.0", "artifact.pushed team/oci 2.0.0",
		"chart.deleted team/up 1.0.0", "chart.deleted team/oci 2.0.0",
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("events\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	sum := sha256.Sum256(uploaded)
	up := got[0]
	if up.Actor != "admin" || up.Namespace != "team" || up.Chart.Digest != "sha256:"+hex.EncodeToString(sum[:]) ||
		up.Chart.URL != "https://charts.example.com/team/charts/up-1.0.0.tgz" || up.Chart.OCI != "oci://charts.example.com/team/up" ||
		!strings.HasPrefix(up.Artifact.Reference, "charts.example.com/team/up@sha256:") || up.Artifact.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("chart.published of the upload: %+v %+v", up, *up.Chart)
	}
	if oci := got[2]; oci.Actor != "admin" || oci.Artifact.Digest != digest.FromBytes(manifest).String() || oci.Chart.Digest != layer.Digest.String() {
		t.Errorf("chart.published of the OCI push: %+v %+v", oci, *oci.Chart)
	}
	if del := got[4]; del.Actor != "admin" || del.Artifact.Digest != up.Artifact.Digest || !slices.Equal(del.Artifact.Tags, []string{"1.0.0"}) {
		t.Errorf("chart.deleted: %+v", del)
	}
	ids := map[string]bool{}
	for _, e := range got {
		if ids[e.ID] || e.ID == "" {
			t.Errorf("event id %q repeated or empty", e.ID)
		}
		ids[e.ID] = true
	}
}

// A delivery another run claimed and never finished (it crashed: its lease would hold for an
// hour) goes out at once after a restart, and deliveries queued while the receiver failed are
// sent after it recovers, each once.
func TestWebhooksAfterRestart(t *testing.T) {
	rcv := newHookReceiver(t)
	rcv.setFailing(true)
	fast := func(c *Config) {
		c.ShutdownDelay = 0
		c.WebhookRetryMin = 10 * time.Millisecond
		c.WebhookRetryMax = 20 * time.Millisecond
	}
	s, _ := newTestServer(t, fast)
	ctx := context.Background()
	if _, err := s.db.AddWebhook(ctx, meta.Webhook{Namespace: "team", URL: rcv.srv.URL, Events: []string{meta.EventChartPublished}, Secret: "0123456789abcdef", AllowLocal: true}, nil); err != nil {
		t.Fatal(err)
	}
	url, stop := serve(t, s)
	c := bombClient{t: t, url: url}
	for i := range 3 {
		if status, body, _ := c.do("POST", "/api/team/charts", "application/gzip", charttest.Minimal(t, "app", fmt.Sprintf("1.0.%d", i), "")); status != http.StatusCreated {
			t.Fatalf("upload: %d %s", status, body)
		}
	}
	stop()
	// As a crashed run leaves it: the head delivery claimed, for an hour (once its retry is due).
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		cs, err := s.db.ClaimDeliveries(ctx, "crashed-run", time.Hour, 10)
		if err != nil || len(cs) > 1 || time.Now().After(deadline) {
			t.Fatalf("claim: %v %v", cs, err)
		}
		if len(cs) == 1 {
			break
		}
	}
	cfg := s.cfg
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rcv.setFailing(false)
	s2, err := New(ctx, cfg, s.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	serve(t, s2)
	got := rcv.wait(t, 3)
	var versions []string
	for _, e := range got {
		versions = append(versions, e.Chart.Version)
	}
	if !slices.Equal(versions, []string{"1.0.0", "1.0.1", "1.0.2"}) {
		t.Fatalf("after the restart: %v", versions)
	}
}

// The shutdown waits for the delivery in flight and records it: it is not sent again.
func TestShutdownRecordsTheDeliveryInFlight(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 10)
	var calls sync.Map
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n, _ := calls.LoadOrStore(r.Header.Get("X-Chartroom-Event-Id"), new(int))
		*n.(*int)++
		arrived <- struct{}{}
		<-release
	}))
	t.Cleanup(rcv.Close)
	s, _ := newTestServer(t, func(c *Config) { c.ShutdownDelay = 0 })
	ctx := context.Background()
	hook, err := s.db.AddWebhook(ctx, meta.Webhook{Namespace: "team", URL: rcv.URL, Events: []string{meta.EventChartPublished}, Secret: "0123456789abcdef", AllowLocal: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	url, stop := serve(t, s)
	c := bombClient{t: t, url: url}
	if status, body, _ := c.do("POST", "/api/team/charts", "application/gzip", charttest.Minimal(t, "app", "1.0.0", "")); status != http.StatusCreated {
		t.Fatalf("upload: %d %s", status, body)
	}
	<-arrived
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Serve returned while a delivery was in flight")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	<-stopped
	ds, err := s.db.Deliveries(ctx, meta.DeliveryFilter{WebhookID: hook.ID})
	if err != nil || len(ds) != 1 || ds[0].State != meta.DeliverySucceeded || ds[0].Attempts != 1 {
		t.Fatalf("after the shutdown: %+v %v", ds, err)
	}
}
