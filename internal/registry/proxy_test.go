package registry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/registry/registrytest"
)

// memUpstream is an upstream held in memory: a listing and the archives it serves, which a
// test changes as an upstream would.
type memUpstream struct {
	mu       sync.Mutex
	listed   map[string]registry.UpstreamVersion // by name@version
	archives map[string][]byte                   // served, by name@version
	down     bool
	opened   int
	// gate, when set, holds every Open until it is closed (or the fetch's context ends).
	gate chan struct{}
}

func newMemUpstream() *memUpstream {
	return &memUpstream{listed: map[string]registry.UpstreamVersion{}, archives: map[string][]byte{}}
}

// add lists archive as name version (listed digest: its own) and serves it.
func (u *memUpstream) add(name, version string, archive []byte, created time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	md := fmt.Sprintf(`{"apiVersion":"v2","name":%q,"version":%q,"appVersion":"app-%s","description":"Test chart %s"}`, name, version, version, name)
	u.listed[name+"@"+version] = registry.UpstreamVersion{Name: name, Version: version, Digest: digest.FromBytes(archive),
		Source: "mem://" + name + "-" + version, Metadata: []byte(md), Created: created}
	u.archives[name+"@"+version] = archive
}

func (u *memUpstream) List(ctx context.Context, src registry.UpstreamSource) ([]registry.UpstreamVersion, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.down {
		return nil, errors.New("connection refused")
	}
	var out []registry.UpstreamVersion
	for _, v := range u.listed {
		out = append(out, v)
	}
	return out, nil
}

func (u *memUpstream) Open(ctx context.Context, src registry.UpstreamSource, v registry.UpstreamVersion) (io.ReadCloser, []byte, error) {
	u.mu.Lock()
	gate := u.gate
	u.opened++
	u.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.opened--
	if u.down {
		return nil, nil, errors.New("connection refused")
	}
	u.opened++
	a, ok := u.archives[v.Name+"@"+v.Version]
	if !ok {
		return nil, nil, errors.New("404 Not Found")
	}
	return io.NopCloser(bytes.NewReader(a)), nil, nil
}

func proxyEnv(t *testing.T, up *memUpstream, mirror bool) *registrytest.Env {
	t.Helper()
	env := registrytest.New(t, registry.Options{Upstream: up})
	err := env.DB.PutProxy(context.Background(), meta.Proxy{Namespace: "up", Upstream: "https://charts.example.com/stable", Refresh: time.Hour, Mirror: mirror}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func readAll(t *testing.T, rc io.ReadCloser) []byte {
	t.Helper()
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestProxyFetchesAtFirstPullAndPins: a proxy namespace lists the upstream's versions before
// holding them; the first pull (classic or OCI) fetches and publishes the version with the
// upstream's date, later pulls are local (also with the upstream down); an upstream that then
// lists other bytes under the version changes nothing served, and the version is marked (API,
// index annotation, audit log).
func TestProxyFetchesAtFirstPullAndPins(t *testing.T) {
	ctx := context.Background()
	up := newMemUpstream()
	created := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	orig := charttest.Archive(t, "app", "1.0.0", "original")
	up.add("app", "1.0.0", orig, created)
	up.add("app", "1.1.0+build.1", charttest.Archive(t, "app", "1.1.0+build.1", "b"), created)
	env := proxyEnv(t, up, false)

	ix, err := env.Index(ctx, "up", registry.IndexYAML, nil)
	if err != nil || len(ix.Entries) != 2 {
		t.Fatalf("index of the proxy = %+v, %v; want the 2 listed versions", ix, err)
	}
	if !bytes.Contains(ix.Entries[1].YAML, []byte(digest.FromBytes(orig).Encoded())) {
		t.Fatalf("the listed entry of 1.0.0 has not the upstream's digest: %s", ix.Entries[1].YAML)
	}
	tags, err := env.Tags(ctx, "up/app", 0, "")
	if err != nil || strings.Join(tags, ",") != "1.0.0,1.1.0_build.1" {
		t.Fatalf("tags = %v, %v; want the listed versions as tags", tags, err)
	}

	rc, _, d, err := env.OpenChart(ctx, "up", "app", "1.0.0", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, rc); !bytes.Equal(got, orig) || d != digest.FromBytes(orig) {
		t.Fatalf("first pull served %d bytes (%s), want the upstream's archive", len(got), d)
	}
	cv, err := env.ChartVersion(ctx, "up", "app", "1.0.0")
	if err != nil || !cv.Created.Equal(created) || cv.PushedBy != "proxy:charts.example.com" {
		t.Fatalf("fetched version = %+v, %v; want created %s by proxy:charts.example.com", cv, err, created)
	}
	// Over OCI, the other version: fetched by its tag.
	m, err := env.GetManifest(ctx, "up/app", "1.1.0_build.1", true)
	if err != nil || m.Content == nil {
		t.Fatalf("manifest by tag through the proxy: %+v, %v", m, err)
	}

	up.mu.Lock()
	up.down = true
	opened := up.opened
	up.mu.Unlock()
	if err := env.RefreshProxy(ctx, "up", true); !errors.Is(err, registry.ErrUpstream) {
		t.Fatalf("refresh with the upstream down: %v; want ErrUpstream", err)
	}
	rc, _, _, err = env.OpenChart(ctx, "up", "app", "1.0.0", false)
	if err != nil {
		t.Fatalf("a cached version with the upstream down: %v", err)
	}
	readAll(t, rc)
	if ix, err := env.Index(ctx, "up", registry.IndexYAML, nil); err != nil || len(ix.Entries) != 2 {
		t.Fatalf("index with the upstream down = %v, %v; want the stale listing", ix, err)
	}
	if up.opened != opened {
		t.Fatalf("a cached pull went to the upstream")
	}
	p, err := env.DB.GetProxy(ctx, "up")
	if err != nil || !strings.Contains(p.LastError, "connection refused") {
		t.Fatalf("proxy state = %+v, %v; want the refresh's error", p, err)
	}

	// The upstream replaces 1.0.0's bytes.
	up.mu.Lock()
	up.down = false
	up.mu.Unlock()
	changed := charttest.Archive(t, "app", "1.0.0", "tampered")
	up.add("app", "1.0.0", changed, created)
	if err := env.RefreshProxy(ctx, "up", true); err != nil {
		t.Fatal(err)
	}
	rc, _, d, err = env.OpenChart(ctx, "up", "app", "1.0.0", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, rc); !bytes.Equal(got, orig) || d != digest.FromBytes(orig) {
		t.Fatalf("after the upstream changed, %s served; want the pinned bytes", d)
	}
	cv, err = env.ChartVersion(ctx, "up", "app", "1.0.0")
	if err != nil || cv.UpstreamChanged != digest.FromBytes(changed) {
		t.Fatalf("version = %+v, %v; want it marked with the upstream's digest", cv, err)
	}
	ix, err = env.Index(ctx, "up", registry.IndexYAML, nil)
	if err != nil {
		t.Fatal(err)
	}
	var entry []byte
	for _, e := range ix.Entries {
		if e.Version == "1.0.0" {
			entry = e.YAML
		}
	}
	want := registry.UpstreamChangedAnnotation + ": " + digest.FromBytes(changed).String()
	if !bytes.Contains(entry, []byte(want)) || !bytes.Contains(entry, []byte(digest.FromBytes(orig).Encoded())) {
		t.Fatalf("index entry of the marked version:\n%s\nwant the pinned digest and %q", entry, want)
	}
	recs, err := env.DB.Audit(ctx, meta.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var audited int
	for _, r := range recs {
		if r.Action == "proxy.upstream_changed" && r.Repository == "up/app" && r.Version == "1.0.0" {
			audited++
		}
	}
	if audited != 1 {
		t.Fatalf("audit records of the change: %d, want 1 (%+v)", audited, recs)
	}
	// A second refresh that sees the same change records nothing new.
	if err := env.RefreshProxy(ctx, "up", true); err != nil {
		t.Fatal(err)
	}
	if ch, err := env.DB.UpstreamChanges(ctx, nil); err != nil || len(ch) != 1 {
		t.Fatalf("upstream changes = %+v, %v", ch, err)
	}
}

// TestProxyRefusesUserChanges: users neither push (either protocol) nor delete in a proxy
// namespace; the refusal is ErrProxyNamespace and says what to do.
func TestProxyRefusesUserChanges(t *testing.T) {
	ctx := context.Background()
	up := newMemUpstream()
	up.add("app", "1.0.0", charttest.Archive(t, "app", "1.0.0", "x"), time.Now())
	env := proxyEnv(t, up, false)
	_, err := env.Publish(t, charttest.Archive(t, "mine", "1.0.0", "x"), registry.PublishChartRequest{Namespace: "up", Actor: "alice"})
	if !errors.Is(err, registry.ErrProxyNamespace) || !strings.Contains(err.Error(), "chartroom proxy remove up") {
		t.Fatalf("upload into a proxy namespace: %v; want ErrProxyNamespace saying what to do", err)
	}
	archive := charttest.Archive(t, "mine", "1.0.0", "x")
	if _, err := env.PushChart(t, "up/mine", "1.0.0", chartConfig(t, archive), archive, nil); !errors.Is(err, registry.ErrProxyNamespace) {
		t.Fatalf("OCI push into a proxy namespace: %v; want ErrProxyNamespace", err)
	}
	if _, err := env.StartUpload(ctx, "up/sub/mine", "alice"); !errors.Is(err, registry.ErrProxyNamespace) {
		t.Fatalf("upload below a proxy namespace: %v; want ErrProxyNamespace", err)
	}
	rc, _, _, err := env.OpenChart(ctx, "up", "app", "1.0.0", false)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if err := env.DeleteChartVersion(ctx, "up", "app", "1.0.0", "alice"); !errors.Is(err, registry.ErrProxyNamespace) {
		t.Fatalf("delete in a proxy namespace: %v; want ErrProxyNamespace", err)
	}
	if err := env.DeleteManifest(ctx, "up/app", "1.0.0", "alice"); !errors.Is(err, registry.ErrProxyNamespace) {
		t.Fatalf("OCI delete in a proxy namespace: %v; want ErrProxyNamespace", err)
	}
	// An ordinary namespace is not affected.
	if _, err := env.Publish(t, charttest.Archive(t, "mine", "1.0.0", "x"), registry.PublishChartRequest{Namespace: "team"}); err != nil {
		t.Fatal(err)
	}
}

// TestProxyRefusesBytesThatDoNotMatchTheListing: an archive whose digest is not the listed one
// is not stored.
func TestProxyRefusesBytesThatDoNotMatchTheListing(t *testing.T) {
	ctx := context.Background()
	up := newMemUpstream()
	up.add("app", "1.0.0", charttest.Archive(t, "app", "1.0.0", "listed"), time.Now())
	env := proxyEnv(t, up, false)
	if err := env.RefreshProxy(ctx, "up", true); err != nil {
		t.Fatal(err)
	}
	up.mu.Lock()
	up.archives["app@1.0.0"] = charttest.Archive(t, "app", "1.0.0", "served")
	up.mu.Unlock()
	if _, _, _, err := env.OpenChart(ctx, "up", "app", "1.0.0", false); !errors.Is(err, registry.ErrUpstream) || !strings.Contains(err.Error(), "nothing was stored") {
		t.Fatalf("pull of bytes that do not match the listing: %v; want ErrUpstream", err)
	}
	if _, err := env.DB.GetChartVersion(ctx, "up", "app", "1.0.0"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("the version was stored: %v", err)
	}
}

// TestProxyMirror: a mirroring proxy's refresh fetches every listed version.
func TestProxyMirror(t *testing.T) {
	ctx := context.Background()
	up := newMemUpstream()
	for i := range 6 {
		v := fmt.Sprintf("1.%d.0", i)
		up.add("app", v, charttest.Archive(t, "app", v, "m"), time.Now())
	}
	env := proxyEnv(t, up, true)
	if err := env.RefreshProxy(ctx, "up", false); err != nil {
		t.Fatal(err)
	}
	vs, err := env.ChartVersions(ctx, "up", "app")
	if err != nil || len(vs) != 6 {
		t.Fatalf("versions held after a mirroring refresh: %d, %v; want 6", len(vs), err)
	}
}

// A client that goes away while its pull fetches a version from the upstream does not fail
// the pulls waiting for the same fetch: the fetch finishes and they get the version.
func TestProxyFetchOutlivesTheFirstPuller(t *testing.T) {
	up := newMemUpstream()
	archive := charttest.Archive(t, "app", "1.0.0", "x")
	up.add("app", "1.0.0", archive, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
	env := proxyEnv(t, up, false)
	if _, err := env.Index(context.Background(), "up", registry.IndexYAML, nil); err != nil {
		t.Fatal(err)
	}
	up.mu.Lock()
	up.gate = make(chan struct{})
	up.mu.Unlock()

	first, leave := context.WithCancel(context.Background())
	firstDone := make(chan error, 1)
	go func() {
		rc, _, _, err := env.OpenChart(first, "up", "app", "1.0.0", false)
		if err == nil {
			rc.Close()
		}
		firstDone <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		up.mu.Lock()
		opened := up.opened
		up.mu.Unlock()
		if opened > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first pull never reached the upstream")
		}
	}
	second := make(chan error, 1)
	var got []byte
	go func() {
		rc, _, _, err := env.OpenChart(context.Background(), "up", "app", "1.0.0", false)
		if err == nil {
			got, err = io.ReadAll(rc)
			rc.Close()
		}
		second <- err
	}()
	time.Sleep(50 * time.Millisecond) // the second pull waits for the fetch in flight
	leave()
	time.Sleep(50 * time.Millisecond)
	close(up.gate)
	if err := <-second; err != nil {
		t.Fatalf("the waiting pull failed when the first puller left: %v", err)
	}
	if !bytes.Equal(got, archive) {
		t.Fatal("the waiting pull got other bytes")
	}
	<-firstDone
}
