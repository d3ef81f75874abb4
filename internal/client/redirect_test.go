package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// recorder is a test server that remembers the Authorization header of every request.
type recorder struct {
	*httptest.Server
	mu    sync.Mutex
	auths []string // one per request, "" when none was sent
}

func newRecorder(t *testing.T, tls bool, h http.HandlerFunc) *recorder {
	rec := &recorder{}
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.auths = append(rec.auths, r.Header.Get("Authorization"))
		rec.mu.Unlock()
		h(w, r)
	})
	if tls {
		rec.Server = httptest.NewTLSServer(wrapped)
	} else {
		rec.Server = httptest.NewServer(wrapped)
	}
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.auths...)
}

func (r *recorder) host() string {
	u, _ := url.Parse(r.URL)
	return u.Host
}

// tlsClient is a client over HTTPS with transport (which trusts the test server's
// certificate) and the test credentials given explicitly.
func tlsClient(t *testing.T, transport http.RoundTripper) *Client {
	t.Helper()
	env := newTestEnv(t)
	store, err := NewCredentialStore(CredentialPaths{Helm: env.helmConfig, Docker: env.docker})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{Username: testUser, Password: testPassword, Transport: transport, Credentials: store, RepositoryConfig: "-"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// classicRepo answers like a chart repository that wants Basic credentials: index.yaml
// lists myapp 1.0.0 at charts/myapp-1.0.0.tgz, which redirect answers.
func classicRepo(t *testing.T, archive []byte, redirect func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	sum := sha256.Sum256(archive)
	index := fmt.Sprintf("apiVersion: v1\nentries:\n  myapp:\n  - name: myapp\n    version: 1.0.0\n    apiVersion: v2\n    digest: %s\n    urls: [charts/myapp-1.0.0.tgz]\n", hex.EncodeToString(sum[:]))
	return func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != testUser || p != testPassword {
			w.Header().Set("WWW-Authenticate", `Basic realm="repo"`)
			http.Error(w, `{"error":"log in"}`, http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/team/index.yaml":
			w.Write([]byte(index))
		case "/team/charts/myapp-1.0.0.tgz":
			redirect(w, r)
		case "/team/blobs/myapp-1.0.0.tgz":
			w.Write(archive)
		default:
			http.NotFound(w, r)
		}
	}
}

// Credentials follow a redirect only within the origin (scheme, host and port) they were
// sent to; a redirect from https to http is refused.
func TestRedirectsKeepCredentialsOnTheirOrigin(t *testing.T) {
	ctx := context.Background()
	archive := readFile(t, testArchive(t, t.TempDir(), "myapp", "1.0.0", "a"))
	elsewhere := newRecorder(t, false, func(w http.ResponseWriter, r *http.Request) { w.Write(archive) })

	pull := func(t *testing.T, c *Client, repoURL string) error {
		t.Helper()
		ref, err := c.ParseChartRef([]string{repoURL, "myapp"}, "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Pull(ctx, ref, PullOptions{Version: "1.0.0", DestDir: t.TempDir()})
		return err
	}

	t.Run("same origin keeps them", func(t *testing.T) {
		repo := newRecorder(t, false, classicRepo(t, archive, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/team/blobs/myapp-1.0.0.tgz", http.StatusFound)
		}))
		c := newTestEnv(t).admin(t)
		if err := pull(t, c, repo.URL+"/team"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("same host, another port", func(t *testing.T) {
		repo := newRecorder(t, false, classicRepo(t, archive, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+"/myapp-1.0.0.tgz", http.StatusFound)
		}))
		if repo.host()[:strings.LastIndex(repo.host(), ":")] != elsewhere.host()[:strings.LastIndex(elsewhere.host(), ":")] {
			t.Fatalf("the two servers are on different hosts: %s, %s", repo.host(), elsewhere.host())
		}
		c := newTestEnv(t).admin(t)
		if err := pull(t, c, repo.URL+"/team"); err != nil {
			t.Fatal(err)
		}
		got := elsewhere.requests()
		if len(got) == 0 {
			t.Fatal("the redirect was not followed")
		}
		for _, a := range got {
			if a != "" {
				t.Errorf("%s received the credentials sent to %s: Authorization %q", elsewhere.host(), repo.host(), a)
			}
		}
	})

	t.Run("https to http is refused", func(t *testing.T) {
		before := len(elsewhere.requests())
		repo := newRecorder(t, true, classicRepo(t, archive, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+"/myapp-1.0.0.tgz", http.StatusFound)
		}))
		c := tlsClient(t, repo.Client().Transport)
		err := pull(t, c, repo.URL+"/team")
		oneLineError(t, err, nil, "refusing the redirect from "+repo.URL+"/team/charts/myapp-1.0.0.tgz to "+elsewhere.URL+"/myapp-1.0.0.tgz, which leaves HTTPS for plain HTTP")
		if n := len(elsewhere.requests()); n != before {
			t.Errorf("the plain-HTTP server received %d requests", n-before)
		}
	})

	t.Run("oci https to http is refused", func(t *testing.T) {
		before := len(elsewhere.requests())
		reg := newRecorder(t, true, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2/" {
				return
			}
			http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
		})
		c := tlsClient(t, reg.Client().Transport)
		ref, err := c.ParseChartRef([]string{"oci://" + reg.host() + "/team/myapp"}, "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Pull(ctx, ref, PullOptions{DestDir: t.TempDir()})
		oneLineError(t, err, nil, "refusing the redirect from https://"+reg.host()+"/v2/team/myapp/tags/list", "which leaves HTTPS for plain HTTP")
		if n := len(elsewhere.requests()); n != before {
			t.Errorf("the plain-HTTP server received %d requests", n-before)
		}
	})
}
