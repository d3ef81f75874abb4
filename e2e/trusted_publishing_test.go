package e2e

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Trusted publishing and the registry token flow with the real binary and real clients: a
// local OIDC issuer (discovery and JWKS on loopback, ID tokens signed with its RSA key) is
// trusted by the server's config file for namespace team/app; helm v3 and v4 log in with
// user name oidc and the ID token and push, through the Bearer token flow (the server's log
// shows the token service answering them); the exchange at POST /api/oidc/token gives a
// registry token helm repo add, oras and crane use.

// localIssuer is an OIDC issuer on loopback.
type localIssuer struct {
	url string
	key *rsa.PrivateKey
}

func startLocalIssuer(t *testing.T) *localIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	iss := &localIssuer{key: key}
	b64 := base64.RawURLEncoding.EncodeToString
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": iss.url, "jwks_uri": iss.url + "/jwks",
			"id_token_signing_alg_values_supported": []string{"RS256"}, "response_types_supported": []string{"id_token"},
			"subject_types_supported": []string{"public"}})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": "ci-key", "alg": "RS256", "use": "sig",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss.url = srv.URL
	return iss
}

// idToken signs an ID token as a CI platform issues it, with claims changed by extra.
func (iss *localIssuer) idToken(t *testing.T, extra map[string]any) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{"iss": iss.url, "aud": "chartroom", "sub": "repo:org/app:ref:refs/heads/main",
		"repository": "org/app", "ref": "refs/heads/main", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
	for k, v := range extra {
		claims[k] = v
	}
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "ci-key"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, iss.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// startTrustingServer starts chartroom trusting iss for team/app (publisher) when the job's
// repository is org/app on main.
func startTrustingServer(t *testing.T, iss *localIssuer) *Server {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "chartroom.yaml")
	yaml := "trusted-publishers:\n" +
		"  - issuer: " + iss.url + "\n" +
		"    audience: chartroom\n" +
		"    claims: {repository: org/app, ref: refs/heads/main}\n" +
		"    namespace: team/app\n" +
		"    role: publisher\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return StartServer(t, "--config", cfg)
}

// helmStdin runs helm with stdin (helm registry login --password-stdin).
func (e *toolEnv) helmStdin(bin, stdin string, args ...string) (string, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env, cmd.Dir, cmd.Stdin = e.env, e.home, strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	e.t.Logf("$ %s %s\n%s", filepath.Base(bin), redact(args), out.String())
	return out.String(), err
}

// tokenServiceAnswers counts the server's log lines of the token service answering 200.
func tokenServiceAnswers(t *testing.T, srv *Server) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(srv.Logs(), "\n") {
		var rec struct {
			Route  string `json:"route"`
			Status int    `json:"status"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Route == "oci.token" && rec.Status == http.StatusOK {
			n++
		}
	}
	return n
}

func TestTrustedPublishingHelm(t *testing.T) {
	iss := startLocalIssuer(t)
	for _, h := range helmVersions {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			helm := need(t, h)
			srv := startTrustingServer(t, iss)
			host := srv.Host()
			work := t.TempDir()
			e := newToolEnv(t)
			e.must(helm, "create", filepath.Join(work, "app"))
			e.must(helm, "package", filepath.Join(work, "app"), "--version", "1.0.0", "--destination", work)
			tgz := filepath.Join(work, "app-1.0.0.tgz")

			// An ID token that matches no rule cannot log in.
			out, err := e.helmStdin(helm, iss.idToken(t, map[string]any{"ref": "refs/heads/feature"}), "registry", "login", host, "--username", "oidc", "--password-stdin", "--plain-http")
			wantRefused(t, "helm registry login with a non-matching ID token", out, err, "401", "unauthorized", "matches no trusted-publishers rule")

			before := tokenServiceAnswers(t, srv)
			if out, err := e.helmStdin(helm, iss.idToken(t, nil), "registry", "login", host, "--username", "oidc", "--password-stdin", "--plain-http"); err != nil {
				t.Fatalf("helm registry login --username oidc: %v\n%s", err, out)
			}
			e.must(helm, "push", tgz, "oci://"+host+"/team/app", "--plain-http")
			if tokenServiceAnswers(t, srv) == before {
				t.Errorf("helm logged in and pushed without the token service answering it: the Bearer flow was not used\n%s", srv.Logs())
			}
			out, err = e.run(helm, "push", tgz, "oci://"+host+"/team/other", "--plain-http")
			wantRefused(t, "helm push with the ID token outside its rule's namespace", out, err, "403", "denied", "forbidden")

			// The exchange, then helm repo add with the registry token as the password.
			body, _ := json.Marshal(map[string]string{"token": iss.idToken(t, nil)})
			resp, err := http.Post(srv.URL("/api/oidc/token"), "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var ex struct {
				Token     string `json:"token"`
				ExpiresIn int    `json:"expires_in"`
			}
			if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &ex) != nil || ex.Token == "" || ex.ExpiresIn <= 0 {
				t.Fatalf("POST /api/oidc/token: %d %s", resp.StatusCode, b)
			}
			r := newToolEnv(t)
			r.must(helm, "repo", "add", "app", srv.URL("/team/app"), "--username", "ci", "--password", ex.Token)
			if out := r.must(helm, "search", "repo", "app/app", "--versions"); !strings.Contains(out, "1.0.0") {
				t.Errorf("helm search repo after adding the repository with the exchanged token:\n%s", out)
			}
			// A namespace the identity may not read is answered as an empty one.
			r.must(helm, "push", tgz, "oci://"+host+"/team/other", "--plain-http", "--username", "admin", "--password", srv.Password)
			r.must(helm, "repo", "add", "other", srv.URL("/team/other"), "--username", "ci", "--password", ex.Token)
			if out := r.must(helm, "search", "repo", "other/", "--versions"); strings.Contains(out, "1.0.0") {
				t.Errorf("helm search repo of a namespace the identity may not read shows its charts:\n%s", out)
			}
		})
	}
}

// TestRegistryTokenOrasCrane: oras and crane sign in with a registry token exchanged for an
// ID token, through the Bearer flow, push to the rule's namespace and pull back; a push
// elsewhere is refused.
func TestRegistryTokenOrasCrane(t *testing.T) {
	orasBin, craneBin := need(t, oras), need(t, crane)
	iss := startLocalIssuer(t)
	srv := startTrustingServer(t, iss)
	host, plain := srv.Host(), "--plain-http"
	body, _ := json.Marshal(map[string]string{"token": iss.idToken(t, nil)})
	resp, err := http.Post(srv.URL("/api/oidc/token"), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var ex struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ex); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/oidc/token: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()

	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "payload.txt"), []byte("token e2e\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := tokenServiceAnswers(t, srv)
	o := newToolEnv(t)
	o.must(orasBin, "login", host, "--username", "ci", "--password", ex.Token, plain)
	o.mustIn(work, orasBin, "push", host+"/team/app/files:v1", plain, "payload.txt:text/plain")
	out, err := o.runIn(work, orasBin, "push", host+"/team/other/files:v1", plain, "payload.txt:text/plain")
	wantRefused(t, "oras push outside the rule's namespace", out, err, "403", "denied", "forbidden")
	pulled := t.TempDir()
	o.must(orasBin, "pull", host+"/team/app/files:v1", plain, "--output", pulled)
	if b, err := os.ReadFile(filepath.Join(pulled, "payload.txt")); err != nil || string(b) != "token e2e\n" {
		t.Errorf("oras pull: %q, %v", b, err)
	}

	c := newToolEnv(t)
	c.must(craneBin, "auth", "login", host, "--username", "ci", "--password", ex.Token)
	layer := filepath.Join(t.TempDir(), "layer.tar")
	writeTar(t, layer, map[string][]byte{"a.txt": []byte("a\n")})
	c.must(craneBin, "append", "--new_layer", layer, "--new_tag", host+"/team/app/img:v1", "--insecure")
	if tags := strings.Fields(c.must(craneBin, "ls", host+"/team/app/img", "--insecure")); !slices.Equal(tags, []string{"v1"}) {
		t.Errorf("crane ls = %v; want [v1]", tags)
	}
	out, err = c.run(craneBin, "append", "--new_layer", layer, "--new_tag", host+"/team/other/img:v1", "--insecure")
	wantRefused(t, "crane append outside the rule's namespace", out, err, "403", "denied", "forbidden")
	if tokenServiceAnswers(t, srv) == before {
		t.Errorf("oras and crane worked without the token service answering them: the Bearer flow was not used")
	}
}
