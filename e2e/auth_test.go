package e2e

import (
	"net/http"
	"strings"
	"testing"
)

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
						if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
							t.Errorf("401 without a Basic WWW-Authenticate challenge: %q", resp.Header.Get("WWW-Authenticate"))
						}
					}
					// Wrong credentials are refused even where anonymous reads pass.
					resp, body, err = wrong.do(r.method, r.path, r.body, r.header)
					if err != nil {
						t.Fatal(err)
					}
					if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
						t.Errorf("wrong password = %d %s; want 401 with a challenge", resp.StatusCode, body)
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
