package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/server/auth"
)

// tokenFixture is a server with users publisher (publisher on team/a) and reader (reader on
// team/a), chart team/a/myapp 1.0.0, and a private namespace team/secret holding a chart.
type tokenFixture struct {
	s    *Server
	base string
}

func newTokenFixture(t *testing.T, mutate ...func(*Config)) tokenFixture {
	t.Helper()
	s, _ := newTestServer(t, mutate...)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	ctx := context.Background()
	m := &auth.Manager{DB: s.db, Actor: "test", Address: "local"}
	for _, u := range []string{"publisher", "reader"} {
		if err := m.AddUser(ctx, u, "token-password", false); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Grant(ctx, "publisher", "team/a", auth.RolePublisher); err != nil {
		t.Fatal(err)
	}
	if err := m.Grant(ctx, "reader", "team/a", auth.RoleReader); err != nil {
		t.Fatal(err)
	}
	if err := s.auth.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"team/a", "team/secret"} {
		if res := matrixDo(t, srv.URL, "admin", "test-password", chartOnlyUpload(t, ns)); res.status != http.StatusCreated {
			t.Fatalf("publish into %s: %d %s", ns, res.status, res.body)
		}
	}
	return tokenFixture{s: s, base: srv.URL}
}

func chartOnlyUpload(t *testing.T, ns string) matrixRequest {
	return matrixRequest{method: http.MethodPost, path: "/api/" + ns + "/charts", body: charttest.Archive(t, "myapp", "1.0.0", "x"), contentType: "application/gzip"}
}

// fetchToken asks the token service for scopes with Basic credentials (none when user is "").
func (f tokenFixture) fetchToken(t *testing.T, user, pass string, scopes ...string) (string, []auth.AccessEntry) {
	t.Helper()
	q := url.Values{"service": {strings.TrimPrefix(f.base, "http://")}, "scope": scopes}
	res := matrixDo(t, f.base, user, pass, matrixRequest{method: http.MethodGet, path: "/v2/token?" + q.Encode()})
	if res.status != http.StatusOK {
		t.Fatalf("token for %s: %d %s", user, res.status, res.body)
	}
	var body struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.Unmarshal([]byte(res.body), &body); err != nil || body.AccessToken == "" || body.Token != body.AccessToken || body.ExpiresIn != 300 {
		t.Fatalf("token answer %s: %v", res.body, err)
	}
	return body.AccessToken, accessOf(t, body.AccessToken)
}

func accessOf(t *testing.T, raw string) []auth.AccessEntry {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Access []auth.AccessEntry `json:"access"`
	}
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		t.Fatal(err)
	}
	return c.Access
}

// bearer sends a request with a registry token.
func (f tokenFixture) bearer(t *testing.T, token, method, path string) matrixResponse {
	t.Helper()
	req, err := http.NewRequest(method, f.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return matrixResponse{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func TestBearerChallengeNamesTheScope(t *testing.T) {
	f := newTokenFixture(t)
	host := strings.TrimPrefix(f.base, "http://")
	for path, want := range map[string]string{
		"/v2/":                             `Bearer realm="` + f.base + `/v2/token",service="` + host + `"`,
		"/v2/team/a/myapp/manifests/1.0.0": `Bearer realm="` + f.base + `/v2/token",service="` + host + `",scope="repository:team/a/myapp:pull"`,
		"/v2/team/secret/myapp/tags/list":  `Bearer realm="` + f.base + `/v2/token",service="` + host + `",scope="repository:team/secret/myapp:pull"`,
		"/v2/team/nothing/myapp/tags/list": `Bearer realm="` + f.base + `/v2/token",service="` + host + `",scope="repository:team/nothing/myapp:pull"`,
		"/v2/_catalog":                     `Bearer realm="` + f.base + `/v2/token",service="` + host + `",scope="registry:catalog:*"`,
		"/team/a/index.yaml":               `Basic realm="chartroom"`,
	} {
		res := matrixDo(t, f.base, "", "", matrixRequest{method: http.MethodGet, path: path})
		if res.status != http.StatusUnauthorized || res.header.Get("WWW-Authenticate") != want {
			t.Errorf("GET %s: %d %q; want 401 %q", path, res.status, res.header.Get("WWW-Authenticate"), want)
		}
	}
	// Behind a TLS proxy that says so, the realm is https.
	req, _ := http.NewRequest(http.MethodGet, f.base+"/v2/", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	if resp, err := http.DefaultClient.Do(req); err != nil || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm="https://`+host+`/v2/token"`) {
		t.Errorf("behind a TLS proxy: %v %v", err, resp.Header.Get("WWW-Authenticate"))
	} else {
		resp.Body.Close()
	}
	res := matrixDo(t, f.base, "", "", matrixRequest{method: http.MethodPost, path: "/v2/team/a/myapp/blobs/uploads/"})
	if got := res.header.Get("WWW-Authenticate"); !strings.HasSuffix(got, `scope="repository:team/a/myapp:pull,push"`) {
		t.Errorf("POST upload: challenge %q; want scope pull,push", got)
	}
}

// The token grants the intersection of what is asked and what the caller may do, never an
// error for asking too much; a private repository is answered as a missing one.
func TestTokenServiceGrantsTheIntersection(t *testing.T) {
	f := newTokenFixture(t)
	tok, access := f.fetchToken(t, "publisher", "token-password",
		"repository:team/a/myapp:pull,push,delete", "repository:team/secret/myapp:pull,push", "repository:team/nothing/myapp:pull")
	if got := fmt.Sprint(access); got != "[{repository team/a/myapp [pull push]}]" {
		t.Errorf("access %s; want pull,push on team/a/myapp only", got)
	}
	if res := f.bearer(t, tok, http.MethodGet, "/v2/team/a/myapp/manifests/1.0.0"); res.status != http.StatusOK {
		t.Errorf("pull with the token: %d %s", res.status, res.body)
	}
	if res := f.bearer(t, tok, http.MethodPost, "/v2/team/a/myapp/blobs/uploads/"); res.status != http.StatusAccepted {
		t.Errorf("push with the token: %d %s", res.status, res.body)
	}
	// Private and missing answer alike.
	secret := f.bearer(t, tok, http.MethodGet, "/v2/team/secret/myapp/manifests/1.0.0")
	missing := f.bearer(t, tok, http.MethodGet, "/v2/team/nothing/myapp/manifests/1.0.0")
	if secret.status != http.StatusNotFound || secret.body != strings.ReplaceAll(missing.body, "team/nothing", "team/secret") {
		t.Errorf("private repository: %d %s; missing one: %d %s", secret.status, secret.body, missing.status, missing.body)
	}
	_, anonSecret := f.fetchToken(t, "", "", "repository:team/secret/myapp:pull")
	_, anonMissing := f.fetchToken(t, "", "", "repository:team/nothing/myapp:pull")
	if len(anonSecret) != 0 || len(anonMissing) != 0 {
		t.Errorf("anonymous token: %v for a private repository, %v for a missing one; want none", anonSecret, anonMissing)
	}

	// The OAuth2 form as helm and oras send it.
	form := url.Values{"grant_type": {"password"}, "username": {"publisher"}, "password": {"token-password"}, "scope": {"repository:team/a/myapp:pull"}, "service": {strings.TrimPrefix(f.base, "http://")}, "client_id": {"test"}}
	res := matrixDo(t, f.base, "", "", matrixRequest{method: http.MethodPost, path: "/v2/token", body: []byte(form.Encode()), contentType: "application/x-www-form-urlencoded"})
	var oauth struct {
		AccessToken string `json:"access_token"`
	}
	if res.status != http.StatusOK || json.Unmarshal([]byte(res.body), &oauth) != nil || fmt.Sprint(accessOf(t, oauth.AccessToken)) != "[{repository team/a/myapp [pull]}]" {
		t.Errorf("POST password grant: %d %s", res.status, res.body)
	}
	form.Set("password", "wrong-password")
	if res := matrixDo(t, f.base, "", "", matrixRequest{method: http.MethodPost, path: "/v2/token", body: []byte(form.Encode()), contentType: "application/x-www-form-urlencoded"}); res.status != http.StatusUnauthorized || !strings.Contains(res.body, `"UNAUTHORIZED"`) {
		t.Errorf("POST with a wrong password: %d %s", res.status, res.body)
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}
	if res := matrixDo(t, f.base, "", "", matrixRequest{method: http.MethodPost, path: "/v2/token", body: []byte(refresh.Encode()), contentType: "application/x-www-form-urlencoded"}); res.status != http.StatusBadRequest || !strings.Contains(res.body, "issues no refresh tokens") {
		t.Errorf("refresh_token grant: %d %s", res.status, res.body)
	}
	if res := matrixDo(t, f.base, "publisher", "wrong-password", matrixRequest{method: http.MethodGet, path: "/v2/token?scope=repository:team/a/myapp:pull"}); res.status != http.StatusUnauthorized {
		t.Errorf("GET with a wrong password: %d %s", res.status, res.body)
	}
}

// Scope escalation: a token used beyond its access list or its subject's rights is refused.
func TestRegistryTokenScopeEscalation(t *testing.T) {
	f := newTokenFixture(t)
	pull, _ := f.fetchToken(t, "publisher", "token-password", "repository:team/a/myapp:pull")
	// The subject may push, the token does not allow it: 401 asking for the scope.
	res := f.bearer(t, pull, http.MethodPost, "/v2/team/a/myapp/blobs/uploads/")
	if res.status != http.StatusUnauthorized || !strings.Contains(res.header.Get("WWW-Authenticate"), `scope="repository:team/a/myapp:pull,push",error="insufficient_scope"`) || !strings.Contains(res.body, `"UNAUTHORIZED"`) {
		t.Errorf("push with a pull token: %d %q %s", res.status, res.header.Get("WWW-Authenticate"), res.body)
	}
	// Another repository of the same namespace: not in the token.
	if res := f.bearer(t, pull, http.MethodGet, "/v2/team/a/other/tags/list"); res.status != http.StatusUnauthorized {
		t.Errorf("another repository with the token: %d %s", res.status, res.body)
	}
	// A reader's token that asked for push got pull only, and pushing is denied.
	rtok, access := f.fetchToken(t, "reader", "token-password", "repository:team/a/myapp:pull,push")
	if fmt.Sprint(access) != "[{repository team/a/myapp [pull]}]" {
		t.Errorf("reader asked for push: access %v", access)
	}
	if res := f.bearer(t, rtok, http.MethodPost, "/v2/team/a/myapp/blobs/uploads/"); res.status != http.StatusForbidden || !strings.Contains(res.body, `"DENIED"`) {
		t.Errorf("push with a reader's token: %d %s", res.status, res.body)
	}
	// A token for team/a used on team/secret: answered as a missing repository.
	if res := f.bearer(t, pull, http.MethodGet, "/v2/team/secret/myapp/manifests/1.0.0"); res.status != http.StatusNotFound {
		t.Errorf("team/a token on team/secret: %d %s", res.status, res.body)
	}
	// As the password of Basic credentials, on the classic repository of the namespace.
	if res := matrixDo(t, f.base, "anything", pull, matrixRequest{method: http.MethodGet, path: "/team/a/index.yaml"}); res.status != http.StatusOK {
		t.Errorf("index.yaml with the token as the password: %d %s", res.status, res.body)
	}
	if res := matrixDo(t, f.base, "anything", pull, chartOnlyUpload(t, "team/a")); res.status != http.StatusForbidden {
		t.Errorf("upload with a pull token as the password: %d %s", res.status, res.body)
	}
}

// Forged registry tokens are refused with 401, the OCI error body, and an audit record.
func TestForgedRegistryTokens(t *testing.T) {
	f := newTokenFixture(t)
	good, _ := f.fetchToken(t, "publisher", "token-password", "repository:team/a/myapp:pull,push")
	keys, err := f.s.db.TokenKeys(context.Background())
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v %v", keys, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(keys[0].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	serverKey := k.(*ecdsa.PrivateKey)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	host := strings.TrimPrefix(f.base, "http://")
	now := time.Now()
	access := []auth.AccessEntry{{Type: "repository", Name: "team/a/myapp", Actions: []string{"pull", "push"}}}
	claims := func(mut func(*jwt.Claims)) jwt.Claims {
		c := jwt.Claims{Issuer: auth.TokenIssuer, Subject: "publisher", Audience: jwt.Audience{host}, Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
			NotBefore: jwt.NewNumericDate(now), IssuedAt: jwt.NewNumericDate(now), ID: "x"}
		if mut != nil {
			mut(&c)
		}
		return c
	}
	sign := func(key *ecdsa.PrivateKey, c jwt.Claims) string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: keys[0].ID}}, (&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := jwt.Signed(signer).Claims(c).Claims(map[string]any{"kind": "access", "access": access}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	// The control: the server's key and right claims work.
	if res := f.bearer(t, sign(serverKey, claims(nil)), http.MethodGet, "/v2/team/a/myapp/manifests/1.0.0"); res.status != http.StatusOK {
		t.Fatalf("a token signed right: %d %s", res.status, res.body)
	}
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := strings.Replace(string(payload), `"team/a/myapp"`, `"team/secret/myapp"`, 1)
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	forged := map[string]string{
		"alg none":         none,
		"another key":      sign(otherKey, claims(nil)),
		"tampered claims":  parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(tampered)) + "." + parts[2],
		"wrong audience":   sign(serverKey, claims(func(c *jwt.Claims) { c.Audience = jwt.Audience{"registry.example.com"} })),
		"wrong issuer":     sign(serverKey, claims(func(c *jwt.Claims) { c.Issuer = "someone-else" })),
		"expired":          sign(serverKey, claims(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Hour)) })),
		"not yet valid":    sign(serverKey, claims(func(c *jwt.Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)) })),
		"no expiry":        sign(serverKey, claims(func(c *jwt.Claims) { c.Expiry = nil })),
		"HS256 with a key": hs256(t, parts[1]),
	}
	for name, raw := range forged {
		t.Run(name, func(t *testing.T) {
			before := lastAuditID(t, f.s)
			res := f.bearer(t, raw, http.MethodGet, "/v2/team/a/myapp/manifests/1.0.0")
			if res.status != http.StatusUnauthorized || !strings.Contains(res.body, `"UNAUTHORIZED"`) || !strings.Contains(res.body, "registry token is not valid") {
				t.Errorf("answered %d %s; want 401 UNAUTHORIZED", res.status, res.body)
			}
			if got := decision(t, f.s, before, res); got != "unauthorized" {
				t.Errorf("audited as %s", got)
			}
			// As a Basic password elsewhere: JSON error, 401.
			if res := matrixDo(t, f.base, "publisher", raw, matrixRequest{method: http.MethodGet, path: "/team/a/index.yaml"}); res.status != http.StatusUnauthorized || !strings.HasPrefix(res.body, `{"error"`) {
				t.Errorf("as a Basic password on index.yaml: %d %s", res.status, res.body)
			}
		})
	}
}

func hs256(t *testing.T, payload string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("a shared secret of thirty-two bytes!")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := base64.RawURLEncoding.DecodeString(payload)
	jws, err := signer.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// After a rotation the new key signs; tokens of the old one stay valid until they expire.
func TestTokenKeyRotation(t *testing.T) {
	f := newTokenFixture(t)
	old, _ := f.fetchToken(t, "publisher", "token-password", "repository:team/a/myapp:pull")
	m := &auth.Manager{DB: f.s.db, Actor: "test", Address: "local"}
	id, err := m.RotateTokenKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.auth.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	fresh, _ := f.fetchToken(t, "publisher", "token-password", "repository:team/a/myapp:pull")
	tok, _ := jwt.ParseSigned(fresh, []jose.SignatureAlgorithm{jose.ES256})
	if tok.Headers[0].KeyID != id {
		t.Errorf("new token signed by %s; want the new key %s", tok.Headers[0].KeyID, id)
	}
	for name, raw := range map[string]string{"old": old, "new": fresh} {
		if res := f.bearer(t, raw, http.MethodGet, "/v2/team/a/myapp/manifests/1.0.0"); res.status != http.StatusOK {
			t.Errorf("%s key's token after the rotation: %d %s", name, res.status, res.body)
		}
	}
}

// oidcIssuer is a local OIDC issuer: discovery and JWKS on loopback, and ID tokens signed
// with its RSA key.
type oidcIssuer struct {
	url string
	key *rsa.PrivateKey
}

func newOIDCIssuer(t *testing.T) *oidcIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	iss := &oidcIssuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": iss.url, "jwks_uri": iss.url + "/jwks",
			"id_token_signing_alg_values_supported": []string{"RS256"}, "response_types_supported": []string{"id_token"},
			"subject_types_supported": []string{"public"}})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss.url = srv.URL
	return iss
}

func (iss *oidcIssuer) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: iss.key, KeyID: "k1"}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c := map[string]any{"iss": iss.url, "sub": "repo:org/app:ref:refs/heads/main", "aud": "chartroom",
		"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "nbf": now.Unix(),
		"repository": "org/app", "ref": "refs/heads/main", "repository_id": 123}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	raw, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Trusted publishing: a CI job's ID token of a trusted issuer, matching a rule, publishes to
// the rule's namespace only, as a Basic password (user oidc) or exchanged for a registry
// token; every other token is refused and audited.
func TestTrustedPublishing(t *testing.T) {
	iss := newOIDCIssuer(t)
	untrusted := newOIDCIssuer(t)
	f := newTokenFixture(t, func(c *Config) {
		c.TrustedPublishers = []auth.TrustedPublisher{{Issuer: iss.url, Audience: "chartroom",
			Claims: map[string]string{"repository": "org/app", "ref": "refs/heads/main", "repository_id": "123"}, Namespace: "team/a", Role: auth.RolePublisher}}
	})
	idToken := iss.sign(t, nil)

	// Basic, user oidc: publish into team/a, not into team/secret.
	if res := matrixDo(t, f.base, "oidc", idToken, chartOnlyUploadVersion(t, "team/a", "2.0.0")); res.status != http.StatusCreated {
		t.Fatalf("upload into team/a with the ID token: %d %s", res.status, res.body)
	}
	if res := matrixDo(t, f.base, "oidc", idToken, chartOnlyUploadVersion(t, "team/secret", "2.0.0")); res.status != http.StatusForbidden {
		t.Errorf("upload into team/secret with the ID token: %d %s", res.status, res.body)
	}
	recs, err := f.s.auth.AuditLog(context.Background(), auth.AuditQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var login string
	for _, r := range recs {
		if r.Action == "oidc.login" {
			login = r.Actor + " | " + r.Detail
		}
	}
	if want := "oidc:repo:org/app:ref:refs/heads/main | issuer " + iss.url + ", subject repo:org/app:ref:refs/heads/main, claims ref=refs/heads/main repository=org/app repository_id=123, roles team/a publisher"; login != want {
		t.Errorf("audit of the login: %q; want %q", login, want)
	}

	// The exchange.
	res := f.postJSON(t, OIDCTokenPath, map[string]string{"token": idToken})
	var ex struct {
		Token     string `json:"token"`
		ExpiresIn int    `json:"expires_in"`
	}
	if res.status != http.StatusOK || json.Unmarshal([]byte(res.body), &ex) != nil || ex.Token == "" || ex.ExpiresIn != 300 {
		t.Fatalf("exchange: %d %s", res.status, res.body)
	}
	if res := f.bearer(t, ex.Token, http.MethodPost, "/v2/team/a/app/blobs/uploads/"); res.status != http.StatusAccepted {
		t.Errorf("push with the exchanged token: %d %s", res.status, res.body)
	}
	if res := f.bearer(t, ex.Token, http.MethodPost, "/v2/team/secret/app/blobs/uploads/"); res.status != http.StatusForbidden {
		t.Errorf("push into team/secret with the exchanged token: %d %s", res.status, res.body)
	}
	if res := matrixDo(t, f.base, "ci", ex.Token, matrixRequest{method: http.MethodGet, path: "/team/a/index.yaml"}); res.status != http.StatusOK {
		t.Errorf("index.yaml with the exchanged token as the password: %d %s", res.status, res.body)
	}
	// The token service grants the identity its rule's rights.
	_, access := f.fetchToken(t, "oidc", idToken, "repository:team/a/app:pull,push", "repository:team/secret/myapp:pull")
	if fmt.Sprint(access) != "[{repository team/a/app [pull push]}]" {
		t.Errorf("token service for the OIDC identity: %v", access)
	}

	refused := map[string]string{
		"untrusted issuer":         untrusted.sign(t, map[string]any{"iss": untrusted.url}),
		"non-matching claim":       iss.sign(t, map[string]any{"ref": "refs/heads/dev"}),
		"number claim as a string": iss.sign(t, map[string]any{"repository_id": "0123"}),
		"missing claim":            iss.sign(t, map[string]any{"ref": nil}),
		"wrong audience":           iss.sign(t, map[string]any{"aud": "someone-else"}),
		"expired":                  iss.sign(t, map[string]any{"exp": time.Now().Add(-time.Minute).Unix()}),
		"not yet valid":            iss.sign(t, map[string]any{"nbf": time.Now().Add(time.Hour).Unix()}),
		"signed by another key claiming the issuer": untrusted.sign(t, map[string]any{"iss": iss.url}),
	}
	for name, raw := range refused {
		t.Run(name, func(t *testing.T) {
			before := lastAuditID(t, f.s)
			res := f.postJSON(t, OIDCTokenPath, map[string]string{"token": raw})
			if res.status != http.StatusUnauthorized || !strings.HasPrefix(res.body, `{"error":`) || strings.Contains(res.body, "team/") {
				t.Errorf("exchange: %d %s; want 401 with a JSON error naming no namespace", res.status, res.body)
			}
			if got := decision(t, f.s, before, res); got != "unauthorized" {
				t.Errorf("exchange audited as %s", got)
			}
			before = lastAuditID(t, f.s)
			res = matrixDo(t, f.base, "oidc", raw, matrixRequest{method: http.MethodGet, path: "/v2/team/a/myapp/tags/list"})
			if res.status != http.StatusUnauthorized || !strings.Contains(res.body, `"UNAUTHORIZED"`) {
				t.Errorf("as Basic password on /v2/: %d %s", res.status, res.body)
			}
			if got := decision(t, f.s, before, res); got != "unauthorized" {
				t.Errorf("/v2/ audited as %s", got)
			}
		})
	}
	if res := f.postJSON(t, OIDCTokenPath, map[string]string{"nope": "x"}); res.status != http.StatusBadRequest {
		t.Errorf("exchange without a token: %d %s", res.status, res.body)
	}
}

func chartOnlyUploadVersion(t *testing.T, ns, version string) matrixRequest {
	return matrixRequest{method: http.MethodPost, path: "/api/" + ns + "/charts", body: charttest.Archive(t, "myapp", version, "x"), contentType: "application/gzip"}
}

func (f tokenFixture) postJSON(t *testing.T, path string, v any) matrixResponse {
	t.Helper()
	b, _ := json.Marshal(v)
	return matrixDo(t, f.base, "", "", matrixRequest{method: http.MethodPost, path: path, body: b, contentType: "application/json"})
}

func TestTrustedPublishersAreValidated(t *testing.T) {
	for name, tp := range map[string]auth.TrustedPublisher{
		"http issuer not on loopback": {Issuer: "http://issuer.example.com", Audience: "a", Claims: map[string]string{"x": "y"}, Namespace: "team", Role: auth.RolePublisher},
		"no claims":                   {Issuer: "https://issuer.example.com", Audience: "a", Namespace: "team", Role: auth.RolePublisher},
		"no audience":                 {Issuer: "https://issuer.example.com", Claims: map[string]string{"x": "y"}, Namespace: "team", Role: auth.RolePublisher},
		"admin role":                  {Issuer: "https://issuer.example.com", Audience: "a", Claims: map[string]string{"x": "y"}, Namespace: "team", Role: auth.RoleAdmin},
	} {
		cfg := DefaultConfig()
		cfg.DataDir = t.TempDir()
		cfg.TrustedPublishers = []auth.TrustedPublisher{tp}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "trusted-publishers entry 1") {
			t.Errorf("%s: %v; want an error naming the entry", name, err)
		}
	}
}

// A cross-repository mount whose registry token lacks only the source's scope is answered
// 401 with a challenge naming both scopes, so the client asks for a token covering the
// source and mounts (docker's token flow); a source the subject may not read still falls
// back to an ordinary upload (202), telling nothing.
func TestMountAsksForTheSourceScope(t *testing.T) {
	f := newTokenFixture(t)
	blob := []byte("a layer to mount")
	sum := sha256.Sum256(blob)
	d := "sha256:" + hex.EncodeToString(sum[:])
	for _, repo := range []string{"team/a/myapp", "team/secret/myapp"} {
		res := matrixDo(t, f.base, "admin", "test-password", matrixRequest{method: http.MethodPost,
			path: "/v2/" + repo + "/blobs/uploads/?digest=" + d, body: blob, contentType: "application/octet-stream"})
		if res.status != http.StatusCreated {
			t.Fatalf("upload into %s: %d %s", repo, res.status, res.body)
		}
	}
	target := "repository:team/a/other:pull,push"
	only, _ := f.fetchToken(t, "publisher", "token-password", target)
	for _, q := range []string{"?mount=" + d + "&from=team/a/myapp", "?mount=" + d} {
		res := f.bearer(t, only, http.MethodPost, "/v2/team/a/other/blobs/uploads/"+q)
		want := `scope="` + target + ` repository:team/a/myapp:pull",error="insufficient_scope"`
		if res.status != http.StatusUnauthorized || !strings.Contains(res.header.Get("WWW-Authenticate"), want) {
			t.Errorf("mount %s with a token for the target only: %d %q; want 401 with %s", q, res.status, res.header.Get("WWW-Authenticate"), want)
		}
	}
	both, _ := f.fetchToken(t, "publisher", "token-password", target, "repository:team/a/myapp:pull")
	if res := f.bearer(t, both, http.MethodPost, "/v2/team/a/other/blobs/uploads/?mount="+d+"&from=team/a/myapp"); res.status != http.StatusCreated {
		t.Errorf("mount with a token for both: %d %s", res.status, res.body)
	}
	// team/secret is not the publisher's to read: an ordinary upload starts, no challenge.
	res := f.bearer(t, only, http.MethodPost, "/v2/team/a/other/blobs/uploads/?mount="+d+"&from=team/secret/myapp")
	if res.status != http.StatusAccepted || res.header.Get("WWW-Authenticate") != "" {
		t.Errorf("mount from a repository the subject may not read: %d %q; want 202 without a challenge", res.status, res.header.Get("WWW-Authenticate"))
	}
}
