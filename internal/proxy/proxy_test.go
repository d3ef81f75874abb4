package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/registry"
)

// A classic upstream: index.yaml behind Basic auth, one URL relative to it and one absolute
// on another host, which gets no credentials; the .prov beside an archive is read, a missing
// one is none.
func TestClassicUpstream(t *testing.T) {
	var otherAuth string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherAuth = r.Header.Get("Authorization")
		if strings.HasSuffix(r.URL.Path, ".prov") {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "archive-b")
	}))
	defer other.Close()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ci" || p != "secret" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/repo/index.yaml":
			io.WriteString(w, `apiVersion: v1
entries:
  a:
  - name: a
    version: 1.0.0
    appVersion: "2.0"
    description: chart a
    annotations: {x: y}
    urls: [charts/a-1.0.0.tgz]
    digest: `+digest.FromString("archive-a").Encoded()+`
    created: "2024-01-02T03:04:05Z"
  b:
  - name: b
    version: 0.1.0
    urls: [`+other.URL+`/b-0.1.0.tgz]
  - name: b
    version: 0.2.0
`)
		case "/repo/charts/a-1.0.0.tgz":
			io.WriteString(w, "archive-a")
		case "/repo/charts/a-1.0.0.tgz.prov":
			io.WriteString(w, "prov-a")
		default:
			http.NotFound(w, r)
		}
	}))
	defer up.Close()
	ctx := context.Background()
	src := registry.UpstreamSource{URL: up.URL + "/repo", Username: "ci", Password: "secret"}
	p := New(Options{})
	list, err := p.List(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("listed %+v; want a 1.0.0 and b 0.1.0 (an entry without URL is left out)", list)
	}
	byName := map[string]registry.UpstreamVersion{}
	for _, v := range list {
		byName[v.Name] = v
	}
	a := byName["a"]
	if a.Source != up.URL+"/repo/charts/a-1.0.0.tgz" || a.Digest != digest.FromString("archive-a") || a.Created.Format("2006-01-02T15:04:05Z") != "2024-01-02T03:04:05Z" {
		t.Fatalf("a = %+v", a)
	}
	var md map[string]any
	if err := json.Unmarshal(a.Metadata, &md); err != nil || md["appVersion"] != "2.0" || md["urls"] != nil || md["digest"] != nil || md["created"] != nil {
		t.Fatalf("metadata of a = %s (%v); want Chart.yaml's fields only", a.Metadata, err)
	}
	rc, prov, err := p.Open(ctx, src, a)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	if string(body) != "archive-a" || string(prov) != "prov-a" {
		t.Fatalf("open a: %q, prov %q", body, prov)
	}
	rc, prov, err = p.Open(ctx, src, byName["b"])
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if prov != nil || otherAuth != "" {
		t.Fatalf("open b: prov %q, credentials sent to another host: %q", prov, otherAuth)
	}
	if _, err := p.List(ctx, registry.UpstreamSource{URL: up.URL + "/repo"}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("list without credentials: %v; want the upstream's 401", err)
	}
}

func TestCheckUpstream(t *testing.T) {
	for u, ok := range map[string]bool{
		"https://charts.example.com/stable":            true,
		"oci://registry.example.com/team":              true,
		"https://charts.example.com/stable/index.yaml": false,
		"oci://registry.example.com":                   false,
		"ftp://x/y":                                    false,
		"charts.example.com":                           false,
	} {
		if err := CheckUpstream(u); (err == nil) != ok {
			t.Errorf("CheckUpstream(%q) = %v; want ok %v", u, err, ok)
		}
	}
}

// An upstream on another host names where its archives are: it must not send the server to
// this machine or to a cloud's metadata service. The same URLs are fetched when the admin
// named a local upstream.
func TestUpstreamMayNotSendUsToLocalAddresses(t *testing.T) {
	hits := 0
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		io.WriteString(w, "secret-of-this-machine")
	}))
	defer local.Close()
	p := New(Options{})
	remote := registry.UpstreamSource{URL: "https://charts.example.com/stable"}
	for _, source := range []string{local.URL + "/a-1.0.0.tgz", "http://169.254.169.254/latest/meta-data/a-1.0.0.tgz", "http://[::1]:1/a.tgz"} {
		_, _, err := p.Open(context.Background(), remote, registry.UpstreamVersion{Name: "a", Version: "1.0.0", Source: source})
		if !errors.Is(err, ErrLocalAddress) {
			t.Errorf("Open(%s) of an upstream on another host: %v, want ErrLocalAddress", source, err)
		}
	}
	if hits != 0 {
		t.Fatalf("the local server was reached %d times", hits)
	}
	rc, _, err := p.Open(context.Background(), registry.UpstreamSource{URL: local.URL}, registry.UpstreamVersion{Name: "a", Version: "1.0.0", Source: local.URL + "/a-1.0.0.tgz"})
	if err != nil {
		t.Fatalf("Open of a local upstream's archive: %v", err)
	}
	rc.Close()
}
