package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

// writeDockerConfig writes a docker config.json with a login for host.
func writeDockerConfig(t *testing.T, path, host, user, pass string) {
	t.Helper()
	cfg := map[string]any{"auths": map[string]any{host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}}}
	data, _ := json.Marshal(cfg)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoginStoresWhereHelmReads(t *testing.T) {
	srv := newTestServer(t)
	env := newTestEnv(t)
	ctx := context.Background()
	c := env.client(t, Options{})

	_, err := c.Login(ctx, srv.host, testUser, "wrong")
	oneLineError(t, err, ErrUnauthorized, "rejected the username and password")
	if _, err := os.Stat(env.helmConfig); err == nil {
		t.Error("a failed login wrote the credential file")
	}

	path, err := c.Login(ctx, srv.host, testUser, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if path != env.helmConfig {
		t.Errorf("login stored in %s, want helm's registry config %s", path, env.helmConfig)
	}
	var cfg struct {
		Auths map[string]struct {
			Auth string `json:"auth"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(readFile(t, env.helmConfig), &cfg); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Auths[srv.host].Auth; got != base64.StdEncoding.EncodeToString([]byte(testUser+":"+testPassword)) {
		t.Errorf("helm registry config holds %q for %s (docker config format expected)", got, srv.host)
	}

	// A fresh client (as a new process) uses the stored login for both transports.
	c = env.client(t, Options{})
	archive := testArchive(t, t.TempDir(), "myapp", "1.0.0", "a")
	for _, dest := range []string{srv.oci("team"), srv.repo("team")} {
		if _, err := c.Push(ctx, archive, dest); err != nil {
			t.Fatalf("push with the stored login to %s: %v", dest, err)
		}
	}

	if _, err := c.Logout(ctx, srv.host); err != nil {
		t.Fatal(err)
	}
	_, err = c.Logout(ctx, srv.host)
	oneLineError(t, err, ErrNotFound, "no login for "+srv.host)
	c = env.client(t, Options{})
	_, err = c.Push(ctx, archive, srv.oci("team"))
	oneLineError(t, err, ErrUnauthorized, "requires a login", "chartroom login "+srv.host)
}

func TestCredentialSources(t *testing.T) {
	srv := newTestServer(t)
	ctx := context.Background()
	archive := testArchive(t, t.TempDir(), "myapp", "1.0.0", "a")
	for _, tc := range []struct {
		name  string
		setup func(env *testEnv) Options
		fail  string // "" = the push succeeds
	}{
		{"none", func(*testEnv) Options { return Options{} }, "requires a login"},
		{"explicit", func(*testEnv) Options { return Options{Username: testUser, Password: testPassword} }, ""},
		{"explicit wrong", func(*testEnv) Options { return Options{Username: testUser, Password: "nope"} }, "rejected the given --username/--password (401 Unauthorized)"},
		{"docker login", func(env *testEnv) Options {
			writeDockerConfig(t, env.docker, srv.host, testUser, testPassword)
			return Options{}
		}, ""},
		{"docker login wrong", func(env *testEnv) Options {
			writeDockerConfig(t, env.docker, srv.host, testUser, "stale")
			return Options{}
		}, "rejected the login stored in " + "DOCKER"},
		{"helm login beats docker", func(env *testEnv) Options {
			writeDockerConfig(t, env.docker, srv.host, testUser, "stale")
			writeDockerConfig(t, env.helmConfig, srv.host, testUser, testPassword)
			return Options{}
		}, ""},
		{"helm repo add credentials", func(env *testEnv) Options {
			os.MkdirAll(filepath.Dir(env.repoConfig), 0o755)
			os.WriteFile(env.repoConfig, []byte("apiVersion: \"\"\nrepositories:\n- name: team\n  url: "+srv.repo("team")+"/\n  username: "+testUser+"\n  password: "+testPassword+"\n"), 0o600)
			return Options{}
		}, "https-only"},
	} {
		for _, dest := range []string{srv.oci("team"), srv.repo("team")} {
			t.Run(tc.name+" "+dest[:3], func(t *testing.T) {
				env := newTestEnv(t)
				c := env.client(t, tc.setup(env))
				_, err := c.Push(ctx, archive, dest)
				want := tc.fail
				switch want {
				case "https-only":
					if dest == srv.repo("team") {
						want = ""
					} else {
						want = "requires a login"
					}
				case "rejected the login stored in DOCKER":
					want = "rejected the login stored in " + env.docker
				}
				if want == "" {
					if err != nil {
						t.Fatal(err)
					}
					return
				}
				oneLineError(t, err, ErrUnauthorized, want)
			})
		}
	}
}

func TestUnreachableAndPlainHTTP(t *testing.T) {
	ctx := context.Background()
	archive := testArchive(t, t.TempDir(), "myapp", "1.0.0", "a")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	env := newTestEnv(t)
	c := env.admin(t)
	for _, dest := range []string{"oci://" + closed + "/team", "http://" + closed + "/team"} {
		_, err := c.Push(ctx, archive, dest)
		oneLineError(t, err, ErrUnreachable, "cannot reach "+closed, "connection was refused")
	}
	ref, _ := c.ParseChartRef([]string{"oci://" + closed + "/team/myapp"}, "")
	_, err = c.Pull(ctx, ref, PullOptions{DestDir: t.TempDir()})
	oneLineError(t, err, ErrUnreachable, "cannot reach "+closed)

	_, err = c.Push(ctx, archive, "oci://no-such-host.invalid/team")
	oneLineError(t, err, ErrUnreachable, "no-such-host.invalid")

	// A plain-HTTP registry reached over HTTPS: say --plain-http.
	srv := newTestServer(t)
	store, _ := NewCredentialStore(CredentialPaths{Helm: env.helmConfig, Docker: env.docker})
	tlsClient, err := New(Options{Username: testUser, Password: testPassword, Credentials: store, RepositoryConfig: "-"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tlsClient.Push(ctx, archive, srv.oci("team"))
	oneLineError(t, err, ErrUnreachable, "speaks plain HTTP", "--plain-http")
}

// The server grants every user everything for now; a 403 from a registry with roles is
// exercised with a stand-in that answers like one.
func TestForbidden(t *testing.T) {
	deny := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"errors":[{"code":"DENIED","message":"ci may only read team"}],"error":"ci may only read team"}`))
	}))
	defer deny.Close()
	u, _ := url.Parse(deny.URL)
	c := newTestEnv(t).client(t, Options{Username: "ci", Password: "x"})
	archive := testArchive(t, t.TempDir(), "myapp", "1.0.0", "a")
	for _, dest := range []string{"oci://" + u.Host + "/team", deny.URL + "/team"} {
		_, err := c.Push(context.Background(), archive, dest)
		oneLineError(t, err, ErrForbidden, "the user of the given --username/--password may not write", "403 Forbidden", "ask an administrator for write access")
		if dest[:3] == "htt" {
			oneLineError(t, err, ErrForbidden, "(the server said: ci may only read team)")
		}
	}
}
