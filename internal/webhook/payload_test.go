package webhook

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/meta"
)

func TestPayloadURLs(t *testing.T) {
	m, c := digest.FromString("manifest"), digest.FromString("archive")
	ev := meta.Event{
		ID: "0f5c3d6e-2b1a-4c8e-9f7d-123456789abc", Type: meta.EventChartPublished, Time: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC),
		Namespace: "team/charts", Repository: "team/charts/myapp", Actor: "ci",
		Digest: m, MediaType: "application/vnd.oci.image.manifest.v1+json", ArtifactType: "application/vnd.cncf.helm.config.v1+json",
		Tags:  []string{"1.4.2+build.1"},
		Chart: &meta.EventChart{Name: "myapp", Version: "1.4.2+build.1", Digest: c, AppVersion: "2.0"},
	}
	cases := []struct {
		base, ns, repo                 string
		wantOCI, wantURL, wantRefStart string
	}{
		{"https://charts.example.com/", "team/charts", "team/charts/myapp", "oci://charts.example.com/team/charts/myapp",
			"https://charts.example.com/team/charts/charts/myapp-1.4.2+build.1.tgz", "charts.example.com/team/charts/myapp@"},
		{"http://127.0.0.1:8080", "", "myapp", "oci://127.0.0.1:8080/myapp",
			"http://127.0.0.1:8080/charts/myapp-1.4.2+build.1.tgz", "127.0.0.1:8080/myapp@"},
	}
	for _, tc := range cases {
		ev.Namespace, ev.Repository = tc.ns, tc.repo
		p := NewPayload(ev, tc.base)
		if p.Chart.OCI != tc.wantOCI || p.Chart.URL != tc.wantURL || p.Artifact.Reference != tc.wantRefStart+m.String() {
			t.Errorf("base %s: oci %q, url %q, reference %q", tc.base, p.Chart.OCI, p.Chart.URL, p.Artifact.Reference)
		}
	}
	b, err := NewPayload(meta.Event{ID: "x", Type: meta.EventArtifactPushed, Repository: "team/img", Digest: m}, "https://h").Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc["chart"]; ok || !strings.Contains(string(b), `"tags":[]`) {
		t.Errorf("artifact payload %s: want no chart and an empty tag list", b)
	}
}

func TestCheckURL(t *testing.T) {
	for _, tc := range []struct{ url, refusal string }{
		{"https://ci.example.com/hooks/chartroom?token=x", ""},
		{"http://10.0.0.5:8080/hook", ""},
		{"ftp://ci.example.com/hook", "only http and https"},
		{"file:///etc/passwd", "only http and https"},
		{"ci.example.com/hook", "only http and https"},
		{"https:///hook", "no host"},
		{"https://user:pass@ci.example.com/hook", "credentials"},
		{"https://ci.example.com/hook#frag", "fragment"},
		{"https://ci.example.com/%zz", "not a URL"},
	} {
		err := CheckURL(tc.url)
		if tc.refusal == "" && err != nil || tc.refusal != "" && (err == nil || !strings.Contains(err.Error(), tc.refusal)) {
			t.Errorf("CheckURL(%q) = %v, want refusal %q", tc.url, err, tc.refusal)
		}
	}
}

func TestParseEventsAndSecrets(t *testing.T) {
	got, err := ParseEvents([]string{"artifact.pushed, chart.published", "chart.published"})
	if err != nil || !slices.Equal(got, []string{meta.EventChartPublished, meta.EventArtifactPushed}) {
		t.Fatalf("ParseEvents = %v, %v", got, err)
	}
	if got, _ := ParseEvents(nil); !slices.Equal(got, meta.EventTypes) {
		t.Fatalf("no events: %v, want all", got)
	}
	if _, err := ParseEvents([]string{"chart.pushed"}); err == nil || !strings.Contains(err.Error(), "chart.published, chart.deleted, artifact.pushed") {
		t.Fatalf("unknown event: %v", err)
	}
	if s := NewSecret(); len(s) != 64 || CheckSecret(s) != nil || s == NewSecret() {
		t.Fatalf("NewSecret = %q", s)
	}
	for _, bad := range []string{"short", "has a space in it!!", "tab\tseparated-secret"} {
		if CheckSecret(bad) == nil {
			t.Errorf("CheckSecret(%q) accepted", bad)
		}
	}
}

// The signature is HMAC-SHA256 of "<timestamp>.<body>", as the README's recipe computes it
// (this vector is the output of: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac key).
func TestSign(t *testing.T) {
	const want = "sha256=" + "a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03"
	got := Sign("key", 1700000000, []byte(`{"a":1}`))
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestCheckLocal(t *testing.T) {
	for _, tc := range []struct {
		url     string
		refused bool
	}{
		{"https://ci.example.com/hook", false},
		{"http://10.0.0.5:8080/hook", false},
		{"http://127.0.0.1:8080/hook", true},
		{"http://127.1.2.3/hook", true},
		{"http://[::1]:8080/hook", true},
		{"http://[::ffff:127.0.0.1]/hook", true},
		{"http://169.254.169.254/latest/meta-data/", true},
		{"http://[fe80::1]/hook", true},
		{"http://0.0.0.0:8080/hook", true},
		{"http://localhost:8080/hook", true},
		{"http://LocalHost./hook", true},
		{"http://hooks.localhost/hook", true},
	} {
		err := CheckLocal(tc.url, false)
		if (err != nil) != tc.refused || err != nil && !strings.Contains(err.Error(), "--allow-local") {
			t.Errorf("CheckLocal(%q) = %v, want refused %v", tc.url, err, tc.refused)
		}
		if err := CheckLocal(tc.url, true); err != nil {
			t.Errorf("CheckLocal(%q, allowed) = %v", tc.url, err)
		}
	}
}
