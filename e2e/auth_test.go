package e2e

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// authFailures is how many wrong passwords a user may send from one address before the
// server answers 429 (auth.DefaultUserFailures).
const authFailures = 5

// TestAuth checks who may do what without credentials: writes always need them (401 with
// a WWW-Authenticate challenge); reads need them unless the server runs --anonymous-read.
func TestAuth(t *testing.T) {
	for _, anonymousRead := range []bool{false, true} {
		name := "default"
		var args []string
		if anonymousRead {
			name, args = "anonymous-read", []string{"--anonymous-read"}
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := StartServer(t, args...)
			admin := adminClient(srv)
			img := newImage("team/auth/demo", "v1", 1024)
			if err := admin.push(img); err != nil {
				t.Fatalf("push with credentials: %v", err)
			}
			var layer string
			for d := range img.blobs {
				layer = d
			}
			anon := newOCIClient(srv, "", "")
			wrong := newOCIClient(srv, "admin", "not-the-password")

			requests := []struct {
				method, path string
				body         []byte
				header       map[string]string
				read         bool
			}{
				{method: "GET", path: "/v2/", read: true},
				{method: "GET", path: "/v2/_catalog", read: true},
				{method: "GET", path: "/v2/team/auth/demo/tags/list", read: true},
				{method: "GET", path: "/v2/team/auth/demo/manifests/v1", read: true, header: map[string]string{"Accept": mediaTypeManifest}},
				{method: "HEAD", path: "/v2/team/auth/demo/manifests/v1", read: true, header: map[string]string{"Accept": mediaTypeManifest}},
				{method: "GET", path: "/v2/team/auth/demo/blobs/" + layer, read: true},
				{method: "HEAD", path: "/v2/team/auth/demo/blobs/" + layer, read: true},
				{method: "POST", path: "/v2/team/auth/demo/blobs/uploads/"},
				{method: "POST", path: "/v2/team/auth/other/blobs/uploads/"},
				{method: "PUT", path: "/v2/team/auth/demo/manifests/v2", body: img.manifest, header: map[string]string{"Content-Type": mediaTypeManifest}},
				{method: "DELETE", path: "/v2/team/auth/demo/manifests/" + img.digest},
				{method: "DELETE", path: "/v2/team/auth/demo/blobs/" + layer},
			}
			wrongTries := 0
			for _, r := range requests {
				t.Run(r.method+" "+r.path, func(t *testing.T) {
					resp, body, err := anon.do(r.method, r.path, r.body, r.header)
					if err != nil {
						t.Fatal(err)
					}
					if r.read && anonymousRead {
						if resp.StatusCode != http.StatusOK {
							t.Errorf("anonymous read = %d %s; want 200", resp.StatusCode, body)
						}
					} else {
						if resp.StatusCode != http.StatusUnauthorized {
							t.Errorf("without credentials = %d %s; want 401", resp.StatusCode, body)
						}
						// /v2/ names the token service (Bearer flow); Basic credentials work all the same.
						if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer realm=") {
							t.Errorf("401 without a Bearer WWW-Authenticate challenge: %q", resp.Header.Get("WWW-Authenticate"))
						}
					}
					// Wrong credentials are refused even where anonymous reads pass: 401, and
					// after authFailures of them from this address, 429 (see TestAuthThrottle).
					resp, body, err = wrong.do(r.method, r.path, r.body, r.header)
					if err != nil {
						t.Fatal(err)
					}
					wrongTries++
					if wrongTries <= authFailures {
						if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
							t.Errorf("wrong password = %d %s; want 401 with a challenge", resp.StatusCode, body)
						}
					} else if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
						t.Errorf("wrong password after %d failures = %d %s; want 429 with Retry-After", authFailures, resp.StatusCode, body)
					}
				})
			}
			// Nothing the anonymous requests tried changed anything.
			if err := admin.verify(img); err != nil {
				t.Errorf("after the refused writes: %v", err)
			}
			if tags, err := admin.tags("team/auth/demo"); err != nil || len(tags) != 1 {
				t.Errorf("tags after the refused writes = %v, %v; want [v1]", tags, err)
			}
		})
	}
}

// TestAuthThrottle: after authFailures wrong passwords for a user from an address, further
// attempts (the right password too) are refused with 429 and Retry-After, in each protocol's
// error format, without checking the password.
func TestAuthThrottle(t *testing.T) {
	t.Parallel()
	srv := StartServer(t)
	wrong := newOCIClient(srv, "admin", "not-the-password")
	for i := range authFailures {
		resp, body, err := wrong.do("GET", "/v2/", nil, nil)
		if err != nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password %d = %v %s; want 401", i+1, err, body)
		}
	}
	for _, c := range []*ociClient{wrong, adminClient(srv)} {
		resp, body, err := c.do("GET", "/v2/", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var oci struct {
			Errors []struct{ Code, Message string }
		}
		retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != http.StatusTooManyRequests || retry < 1 || json.Unmarshal(body, &oci) != nil ||
			len(oci.Errors) != 1 || oci.Errors[0].Code != "TOOMANYREQUESTS" || oci.Errors[0].Message == "" {
			t.Fatalf("OCI, password %q, after %d failures = %d Retry-After %q %s; want 429 TOOMANYREQUESTS with Retry-After",
				c.pass, authFailures, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		resp, body, err = c.do("GET", "/team/charts/index.yaml", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var classic struct{ Error string }
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" ||
			json.Unmarshal(body, &classic) != nil || !strings.Contains(classic.Error, "too many failed sign-ins") {
			t.Fatalf("classic repository, password %q = %d Retry-After %q %s; want 429 {\"error\"} with Retry-After",
				c.pass, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	// Anonymous requests are not held up by others' failures.
	if resp, _, err := newOCIClient(srv, "", "").do("GET", "/v2/", nil, nil); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous request = %v, %v; want 401", resp, err)
	}
	// Throttled attempts ran no password comparison.
	_, metrics, err := newOCIClient(srv, "", "").do("GET", "/metrics", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"chartroom_auth_password_checks_total 5\n", "chartroom_auth_throttled_total 4\n"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}
}
