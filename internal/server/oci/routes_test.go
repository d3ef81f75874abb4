package oci

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server/auth"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		name, path string
		want       target
		wantErr    error
	}{
		{"base", "/v2/", target{endpoint: epBase}, nil},
		{"base without slash", "/v2", target{endpoint: epBase}, nil},
		{"catalog", "/v2/_catalog", target{endpoint: epCatalog}, nil},
		{"tags", "/v2/myapp/tags/list", target{epTags, "myapp", ""}, nil},
		{"nested manifest", "/v2/team/charts/myapp/manifests/1.0.0", target{epManifest, "team/charts/myapp", "1.0.0"}, nil},
		{"manifest by digest", "/v2/a/b/manifests/sha256:abc", target{epManifest, "a/b", "sha256:abc"}, nil},
		{"name holding an endpoint word", "/v2/x/manifests/y/manifests/1", target{epManifest, "x/manifests/y", "1"}, nil},
		{"blob", "/v2/a/blobs/sha256:abc", target{epBlob, "a", "sha256:abc"}, nil},
		{"upload start", "/v2/team/app/blobs/uploads/", target{epUploadStart, "team/app", ""}, nil},
		{"upload start without slash", "/v2/team/app/blobs/uploads", target{epUploadStart, "team/app", ""}, nil},
		{"upload", "/v2/team/app/blobs/uploads/abc-def", target{epUpload, "team/app", "abc-def"}, nil},
		{"referrers", "/v2/a/referrers/sha256:abc", target{epReferrers, "a", "sha256:abc"}, nil},
		{"escaped dots stay one segment", "/v2/%2e%2e/tags/list", target{epTags, "..", ""}, nil},
		{"escaped slash refused", "/v2/a%2Fb/tags/list", target{}, registry.ErrNameInvalid},
		{"bad escape refused", "/v2/a%zz/tags/list", target{}, registry.ErrNameInvalid},
		{"unknown endpoint", "/v2/a/b/c", target{}, errNotFoundForTest},
		{"too short", "/v2/manifests/x", target{}, errNotFoundForTest},
		{"not under v2", "/v3/a/tags/list", target{}, errNotFoundForTest},
		{"v2 prefix of a longer word", "/v2x/a/tags/list", target{}, errNotFoundForTest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePath(tt.path)
			switch {
			case tt.wantErr == errNotFoundForTest:
				if classify(err) != codeNotFound {
					t.Fatalf("err = %v, want an unknown endpoint", err)
				}
			case tt.wantErr != nil:
				if classify(err) != classify(tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case got != tt.want:
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

var errNotFoundForTest = newError(codeNotFound, "marker")

func TestPing(t *testing.T) {
	e := newEnv(t, registry.Options{})
	tests := []struct {
		name   string
		rq     request
		status int
		code   string
	}{
		{"authorized", request{method: "GET", path: "/v2/"}, http.StatusOK, ""},
		{"without slash", request{method: "GET", path: "/v2"}, http.StatusOK, ""},
		{"head", request{method: "HEAD", path: "/v2/"}, http.StatusOK, ""},
		{"anonymous", request{method: "GET", path: "/v2/", anonymous: true}, http.StatusUnauthorized, "UNAUTHORIZED"},
		{"wrong password", request{method: "GET", path: "/v2/", anonymous: true, header: map[string]string{"Authorization": "Basic YWRtaW46bm9wZQ=="}}, http.StatusUnauthorized, "UNAUTHORIZED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.send(tt.rq)
			if tt.rq.method == "HEAD" {
				if res.status != tt.status {
					t.Fatalf("status %d", res.status)
				}
				return
			}
			res.expect(t, tt.status, tt.code)
			if tt.status == http.StatusOK && strings.TrimSpace(string(res.body)) != "{}" {
				t.Errorf("body = %q, want {}", res.body)
			}
			if tt.status == http.StatusUnauthorized && !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer realm=") {
				t.Errorf("WWW-Authenticate = %q", res.header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestAuthorization(t *testing.T) {
	e := newEnv(t, registry.Options{})
	d := e.pushBlob("team/app", []byte("x"))
	tests := []struct {
		name, method, path string
	}{
		{"pull blob", "GET", "/v2/team/app/blobs/" + d.String()},
		{"list tags", "GET", "/v2/team/app/tags/list"},
		{"catalog", "GET", "/v2/_catalog"},
		{"start upload", "POST", "/v2/team/app/blobs/uploads/"},
		{"push manifest", "PUT", "/v2/team/app/manifests/1.0.0"},
		{"delete blob", "DELETE", "/v2/team/app/blobs/" + d.String()},
		{"referrers", "GET", "/v2/team/app/referrers/" + d.String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.send(request{method: tt.method, path: tt.path, anonymous: true})
			res.expect(t, http.StatusUnauthorized, "UNAUTHORIZED")
			if res.header.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate challenge")
			}
		})
	}
	// The blob is still there: nothing above went through.
	e.do("HEAD", "/v2/team/app/blobs/"+d.String(), nil).expect(t, http.StatusOK, "")
}

func TestAnonymousRead(t *testing.T) {
	e := newEnvAuth(t, registry.Options{}, auth.Options{AnonymousRead: true})
	m := e.pushImage("team/app", "layer", nil)
	e.putManifest("team/app", "v1", m).expect(t, http.StatusCreated, "")
	tests := []struct {
		name, method, path string
		status             int
		code               string
	}{
		{"ping", "GET", "/v2/", http.StatusOK, ""},
		{"pull manifest", "GET", "/v2/team/app/manifests/v1", http.StatusOK, ""},
		{"list tags", "GET", "/v2/team/app/tags/list", http.StatusOK, ""},
		{"catalog", "GET", "/v2/_catalog", http.StatusOK, ""},
		{"push still needs credentials", "POST", "/v2/team/app/blobs/uploads/", http.StatusUnauthorized, "UNAUTHORIZED"},
		{"delete still needs credentials", "DELETE", "/v2/team/app/manifests/v1", http.StatusUnauthorized, "UNAUTHORIZED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.send(request{method: tt.method, path: tt.path, anonymous: true}).expect(t, tt.status, tt.code)
		})
	}
}

func TestInvalidNames(t *testing.T) {
	e := newEnv(t, registry.Options{})
	tests := []struct{ name, repo string }{
		{"dot dot", ".."},
		{"escaped dot dot", "%2e%2e"},
		{"dot dot inside", "team/../app"},
		{"escaped dot dot inside", "team/%2E%2E/app"},
		{"single dot", "team/./app"},
		{"empty component", "team//app"},
		{"leading slash", "/app"},
		{"upper case", "Team/App"},
		{"separator first", "-app"},
		{"separator last", "app_"},
		{"escaped slash", "team%2Fapp"},
		{"space", "my%20app"},
		{"too long", strings.Repeat("a", 256)},
	}
	for _, tt := range tests {
		for _, ep := range []string{"/tags/list", "/manifests/latest", "/blobs/uploads/"} {
			t.Run(tt.name+ep, func(t *testing.T) {
				method := "GET"
				if ep == "/blobs/uploads/" {
					method = "POST"
				}
				e.do(method, "/v2/"+tt.repo+ep, nil).expect(t, http.StatusBadRequest, "NAME_INVALID")
			})
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	e := newEnv(t, registry.Options{})
	tests := []struct {
		name, method, path, allow string
	}{
		{"post manifest", "POST", "/v2/app/manifests/1.0.0", "DELETE, GET, HEAD, PUT"},
		{"put blob", "PUT", "/v2/app/blobs/sha256:" + strings.Repeat("a", 64), "DELETE, GET, HEAD"},
		{"delete tags", "DELETE", "/v2/app/tags/list", "GET, HEAD"},
		{"get upload start", "GET", "/v2/app/blobs/uploads/", "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(tt.method, tt.path, nil)
			res.expect(t, http.StatusMethodNotAllowed, "UNSUPPORTED")
			if got := res.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
	e.do("GET", "/v2/app/nothing/here", nil).expect(t, http.StatusNotFound, "UNSUPPORTED")
}
