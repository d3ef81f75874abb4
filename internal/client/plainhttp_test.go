package client

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostTransport sends every request, whatever its host, to addr: the test's server stands
// in for a registry on the network, which a loopback address is not.
func hostTransport(addr string) http.RoundTripper {
	return &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
}

// A host's stored registry login (docker login, helm registry login, chartroom login) never
// goes to its http:// chart repositories in clear text without an explicit opt-in, whether
// pull names the repository or a chart's dependency does (lock, dependency build).
// Credentials helm repo add stored for exactly that repository URL are the user's own
// choice for it and are sent, as helm sends them.
func TestStoredLoginsStayOffPlainHTTP(t *testing.T) {
	ctx := context.Background()
	archive := readFile(t, testArchive(t, t.TempDir(), "myapp", "1.0.0", "a"))
	const host = "charts.example.test"
	for _, tc := range []struct {
		name      string
		setup     func(env *testEnv) Options
		sent      bool   // the server receives the credentials, and the pull succeeds
		errorWant string // else the error says this
	}{
		{"docker login", func(env *testEnv) Options {
			writeDockerConfig(t, env.docker, host, testUser, testPassword)
			return Options{}
		}, false, "the one stored for it in DOCKER is not sent over plain HTTP"},
		{"helm registry login", func(env *testEnv) Options {
			writeDockerConfig(t, env.helmConfig, host, testUser, testPassword)
			return Options{}
		}, false, "the one stored for it in HELM is not sent over plain HTTP"},
		{"docker login, opted in", func(env *testEnv) Options {
			writeDockerConfig(t, env.docker, host, testUser, testPassword)
			return Options{SendCredentialsOverHTTP: true}
		}, true, ""},
		{"helm repo add for this URL", func(env *testEnv) Options {
			writeRepoConfig(t, env, "team", "http://"+host+"/team/")
			return Options{}
		}, true, ""},
		{"helm repo add for another URL", func(env *testEnv) Options {
			writeRepoConfig(t, env, "other", "http://"+host+"/other")
			return Options{}
		}, false, "requires a login: run `chartroom login " + host + "`"},
		{"explicit", func(*testEnv) Options { return Options{Username: testUser, Password: testPassword} }, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := newRecorder(t, false, classicRepo(t, archive, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/team/blobs/myapp-1.0.0.tgz", http.StatusFound)
			}))
			env := newTestEnv(t)
			opts := tc.setup(env)
			opts.Transport = hostTransport(repo.host())
			c := env.client(t, opts)
			want := strings.NewReplacer("DOCKER", env.docker, "HELM", env.helmConfig).Replace(tc.errorWant)

			// pull http://charts.example.test/team myapp
			ref, err := c.ParseChartRef([]string{"http://" + host + "/team", "myapp"}, "")
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Pull(ctx, ref, PullOptions{Version: "1.0.0", DestDir: t.TempDir()})
			if tc.sent {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				oneLineError(t, err, ErrUnauthorized, want)
				if strings.Contains(want, "not sent over plain HTTP") {
					oneLineError(t, err, ErrUnauthorized, "--insecure-send-credentials-over-http", "https://")
				}
				for _, a := range repo.requests() {
					if a != "" {
						t.Errorf("%s received Authorization %q over plain HTTP", host, a)
					}
				}
			}

			// chartroom lock of a chart depending on http://charts.example.test/team.
			dir := testChart(t, t.TempDir(), "parent", "1.0.0", "  - name: myapp\n    version: ^1\n    repository: http://"+host+"/team\n", "x")
			c = env.client(t, opts)
			_, err = c.Lock(ctx, dir)
			if tc.sent {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				oneLineError(t, err, ErrUnauthorized, want)
				for _, a := range repo.requests() {
					if a != "" {
						t.Errorf("lock sent Authorization %q to %s over plain HTTP", a, host)
					}
				}
			}
		})
	}
}

// writeRepoConfig writes helm's repositories.yaml with one repository holding the test
// credentials.
func writeRepoConfig(t *testing.T, env *testEnv, name, url string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(env.repoConfig), 0o755); err != nil {
		t.Fatal(err)
	}
	data := "apiVersion: \"\"\nrepositories:\n- name: " + name + "\n  url: " + url + "\n  username: " + testUser + "\n  password: " + testPassword + "\n"
	if err := os.WriteFile(env.repoConfig, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.9.9.9": true, "[::1]:5000": true, "::1": true, "localhost:8080": true, "LOCALHOST": true,
		"charts.example.com": false, "10.0.0.1:80": false, "localhost.example.com": false, "[::2]:1": false, "0.0.0.0:80": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}
