package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/server/auth"
)

// Garbage and forged credentials, and valid ones used beyond what they allow, on both
// protocols: each answers 401 or 403 (the OCI error body on /v2/, {"error": …} elsewhere),
// is recorded in the audit log with its outcome, never echoes a secret, and a private
// repository answers exactly as a missing one.

func TestForgedCredentials(t *testing.T) {
	s, logs := newTestServer(t)
	ctx := context.Background()
	m := &auth.Manager{DB: s.db, Actor: "test", Address: "local"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	const ciPassword = "ci-password-forged"
	must(m.AddUser(ctx, "ci", ciPassword, false))
	must(m.Grant(ctx, "ci", "team/*", auth.RolePublisher))
	token := func(expires time.Time, scopes ...string) (string, string) {
		req := auth.NewTokenRequest{User: "ci", Expires: expires}
		for _, sc := range scopes {
			parsed, err := auth.ParseScope(sc)
			must(err)
			req.Scopes = append(req.Scopes, parsed)
		}
		id, tok, err := m.CreateToken(ctx, req)
		must(err)
		return id, tok
	}
	_, pullTok := token(time.Time{}, "team/a:pull")
	_, aTok := token(time.Time{}, "team/a:push")
	_, expiredTok := token(time.Now().Add(-time.Minute))
	revokedID, revokedTok := token(time.Time{})
	must(m.RevokeToken(ctx, revokedID))
	must(s.auth.Reload(ctx))
	secrets := []string{ciPassword, pullTok, aTok, expiredTok, revokedTok}

	// team/b/secret 1.0.0 exists; ci may push to team/b but no token above may read it.
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	archive := charttest.Archive(t, "secret", "1.0.0", "forged")
	signer := charttest.NewSigner(t, "forged")
	app := charttest.Archive(t, "app", "1.0.0", "forged")
	for ns, a := range map[string][2][]byte{"team/b": {archive, signer.Sign(t, archive, "secret-1.0.0.tgz")}, "team/a": {app, signer.Sign(t, app, "app-1.0.0.tgz")}} {
		if res := matrixDo(t, srv.URL, "admin", "test-password", uploadRequest(t, ns, a[0], a[1])); res.status != http.StatusCreated {
			t.Fatalf("publish into %s: %d %s", ns, res.status, res.body)
		}
	}

	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	// A token's secret with its last character changed: a forgery of a known id.
	forgeSecret := func(tok string) string {
		last := byte('A')
		if tok[len(tok)-1] == 'A' {
			last = 'B'
		}
		return tok[:len(tok)-1] + string(last)
	}
	// Shaped as a token, of an id that does not exist.
	tokenShaped := auth.TokenPrefix + "tok-aaaaaaaaaa_"
	tokenShaped += strings.Repeat("z", len(aTok)-len(tokenShaped))

	type request struct{ method, path string }
	// Each case is sent to a read and a write of each protocol.
	ociRead := request{http.MethodGet, "/v2/team/a/app/manifests/1.0.0"}
	ociWrite := request{http.MethodPost, "/v2/team/a/app/blobs/uploads/"}
	repoRead := request{http.MethodGet, "/api/team/a/charts/app"}
	repoWrite := request{http.MethodDelete, "/api/team/a/charts/app/1.0.0"}
	all := []request{ociRead, ociWrite, repoRead, repoWrite, {http.MethodGet, "/team/a/index.yaml"}, {http.MethodGet, "/v2/_catalog"}, {http.MethodGet, "/api/_/audit"}}

	unauthenticated := []struct{ name, header string }{
		{"basic without credentials", "Basic"},
		{"basic not base64", "Basic !!!not-base64!!!"},
		{"basic without a colon", "Basic " + base64.StdEncoding.EncodeToString([]byte("ci"))},
		{"basic with an empty user", basic("", ciPassword)},
		{"basic with a NUL", basic("ci\x00admin", ciPassword)},
		{"unknown scheme", "Digest username=\"ci\", response=\"0123\""},
		{"bearer garbage", "Bearer not.a.jwt"},
		{"unknown user", basic("nobody", ciPassword)},
		{"wrong password", basic("ci", "wrong-password")},
		{"a password as long as a token", basic("ci", strings.Repeat("p", len(aTok)))},
		{"expired token", basic("ci", expiredTok)},
		{"revoked token", basic("ci", revokedTok)},
		{"forged token secret", basic("ci", forgeSecret(aTok))},
		{"token under another user's name", basic("admin", aTok)},
		{"token of an unknown id", basic("ci", tokenShaped)},
	}
	n := 0
	send := func(t *testing.T, rq request, header string) *httptest.ResponseRecorder {
		t.Helper()
		n++
		req := httptest.NewRequest(rq.method, rq.path, nil)
		// Each request from its own address, so the per-address throttle never answers
		// instead of the authentication under test.
		req.RemoteAddr = fmt.Sprintf("192.0.2.%d:%d", n%250+1, 1000+n)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec
	}
	lastAudit := func(t *testing.T) auth.AuditRecord {
		t.Helper()
		recs, err := s.auth.AuditLog(ctx, auth.AuditQuery{Limit: 1})
		must(err)
		if len(recs) == 0 {
			t.Fatal("the audit log is empty")
		}
		return recs[0]
	}
	checkBody := func(t *testing.T, rq request, rec *httptest.ResponseRecorder, ociCode string) {
		t.Helper()
		body := rec.Body.String()
		if strings.HasPrefix(rq.path, "/v2/") {
			var e struct {
				Errors []struct{ Code, Message string } `json:"errors"`
			}
			if json.Unmarshal([]byte(body), &e) != nil || len(e.Errors) != 1 || e.Errors[0].Code != ociCode || e.Errors[0].Message == "" {
				t.Errorf("%s %s: body %q; want an OCI error %s", rq.method, rq.path, body, ociCode)
			}
		} else {
			var e struct {
				Error string `json:"error"`
			}
			if json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
				t.Errorf("%s %s: body %q; want {\"error\": …}", rq.method, rq.path, body)
			}
		}
	}

	// Whether a user or a token exists is not told apart from a wrong secret: the answers to
	// passwords, and those to token-shaped passwords, are alike byte for byte.
	alike := map[string]string{"unknown user": "password", "wrong password": "password", "a password as long as a token": "password",
		"forged token secret": "token", "token under another user's name": "token", "token of an unknown id": "token"}
	type alikeKey struct {
		group string
		rq    request
	}
	alikeBody := map[alikeKey]string{}
	for _, c := range unauthenticated {
		t.Run(c.name, func(t *testing.T) {
			for _, rq := range all {
				rec := send(t, rq, c.header)
				if g := alike[c.name]; g != "" {
					k := alikeKey{g, rq}
					if b, ok := alikeBody[k]; ok && b != rec.Body.String() {
						t.Errorf("%s %s: %q; another unknown user or wrong secret got %q", rq.method, rq.path, rec.Body, b)
					}
					alikeBody[k] = rec.Body.String()
				}
				if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") == "" {
					t.Errorf("%s %s: %d (challenge %q); want 401 with a challenge", rq.method, rq.path, rec.Code, rec.Header().Get("WWW-Authenticate"))
				}
				checkBody(t, rq, rec, "UNAUTHORIZED")
				if a := lastAudit(t); a.Outcome != auth.OutcomeUnauthenticated || a.Action == "" {
					t.Errorf("%s %s: last audit record %+v; want this refusal, outcome %s", rq.method, rq.path, a, auth.OutcomeUnauthenticated)
				}
			}
		})
	}

	// Valid credentials beyond what they allow.
	escalations := []struct {
		name, header string
		rq           request
		status       int
		ociCode      string
		outcome      string
	}{
		{"pull token pushes over OCI", basic("ci", pullTok), ociWrite, http.StatusForbidden, "DENIED", auth.OutcomeDenied},
		{"pull token deletes a chart", basic("ci", pullTok), repoWrite, http.StatusForbidden, "", auth.OutcomeDenied},
		{"pull token uploads a chart", basic("ci", pullTok), request{http.MethodPost, "/api/team/a/charts"}, http.StatusForbidden, "", auth.OutcomeDenied},
		{"team/a token pushes to team/b", basic("ci", aTok), request{http.MethodPost, "/v2/team/b/secret/blobs/uploads/"}, http.StatusForbidden, "DENIED", auth.OutcomeDenied},
		{"team/a token uploads to team/b", basic("ci", aTok), request{http.MethodPost, "/api/team/b/charts"}, http.StatusForbidden, "", auth.OutcomeDenied},
		{"team/a token reads team/b over OCI", basic("ci", aTok), request{http.MethodGet, "/v2/team/b/secret/manifests/1.0.0"}, http.StatusNotFound, "MANIFEST_UNKNOWN", auth.OutcomeHidden},
		{"team/a token lists team/b's tags", basic("ci", aTok), request{http.MethodGet, "/v2/team/b/secret/tags/list"}, http.StatusNotFound, "NAME_UNKNOWN", auth.OutcomeHidden},
		{"team/a token reads team/b's API", basic("ci", aTok), request{http.MethodGet, "/api/team/b/charts/secret"}, http.StatusNotFound, "", auth.OutcomeHidden},
		{"publisher deletes", basic("ci", ciPassword), repoWrite, http.StatusForbidden, "", auth.OutcomeDenied},
		{"publisher reads the audit log", basic("ci", ciPassword), request{http.MethodGet, "/api/_/audit"}, http.StatusForbidden, "", auth.OutcomeDenied},
	}
	for _, c := range escalations {
		t.Run(c.name, func(t *testing.T) {
			rec := send(t, c.rq, c.header)
			if rec.Code != c.status {
				t.Fatalf("%s %s: %d %s; want %d", c.rq.method, c.rq.path, rec.Code, rec.Body, c.status)
			}
			checkBody(t, c.rq, rec, c.ociCode)
			if a := lastAudit(t); a.Outcome != c.outcome || a.Actor != "ci" {
				t.Errorf("last audit record %+v; want this request by ci, outcome %s", a, c.outcome)
			}
			if c.outcome == auth.OutcomeHidden {
				// Exactly what a chart that does not exist gets.
				missing := request{c.rq.method, strings.Replace(c.rq.path, "secret", "missing", 1)}
				m := send(t, missing, c.header)
				if m.Code != rec.Code || strings.ReplaceAll(m.Body.String(), "missing", "secret") != rec.Body.String() {
					t.Errorf("private: %d %q; missing: %d %q; want the same answer", rec.Code, rec.Body, m.Code, m.Body)
				}
			}
		})
	}

	// The log line of a refused request of a signed-in caller names the caller.
	var deniedLogged bool
	for _, l := range logs.lines(t) {
		if l["reason"] == "denied" && l["user"] == "ci" {
			deniedLogged = true
		}
	}
	if !deniedLogged {
		t.Error("no log line of a denied request names its user ci")
	}

	// The listings show nothing of team/b to the team/a token.
	for _, rq := range []request{{http.MethodGet, "/v2/_catalog"}, {http.MethodGet, "/team/b/index.yaml"}, {http.MethodGet, "/api/team/b/charts"}} {
		rec := send(t, rq, basic("ci", aTok))
		if strings.Contains(rec.Body.String(), "secret") {
			t.Errorf("%s %s with a team/a token: %d %s; names the private chart", rq.method, rq.path, rec.Code, rec.Body)
		}
	}

	// No secret anywhere: answers were checked above; the log and the audit log.
	must(s.auth.FlushAudit(ctx))
	recs, err := s.auth.AuditLog(ctx, auth.AuditQuery{Limit: 10000})
	must(err)
	dump, _ := json.Marshal(recs)
	logs.mu.Lock()
	logText := logs.b.String()
	logs.mu.Unlock()
	for _, sec := range secrets {
		if strings.Contains(logText, sec) || strings.Contains(string(dump), sec) {
			t.Errorf("a password or token secret is in the server log or the audit log")
		}
	}
}

// A cross-repository blob mount links only a blob the caller may read: named by from or
// not, a blob of a repository it may not read is not linked (an upload starts instead, as
// for a blob that does not exist), and one it may read is.
func TestMountNeedsReadAccess(t *testing.T) {
	s, _ := newTestServer(t)
	ctx := context.Background()
	m := &auth.Manager{DB: s.db, Actor: "test", Address: "local"}
	if err := m.AddUser(ctx, "ci", "ci-password-mount", false); err != nil {
		t.Fatal(err)
	}
	if err := m.Grant(ctx, "ci", "team/a", auth.RolePublisher); err != nil {
		t.Fatal(err)
	}
	if err := s.auth.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	put := func(repo string, data []byte) string {
		d := digest.FromBytes(data).String()
		res := matrixDo(t, srv.URL, "admin", "test-password", matrixRequest{method: http.MethodPost,
			path: "/v2/" + repo + "/blobs/uploads/?digest=" + url.QueryEscape(d), body: data, contentType: "application/octet-stream"})
		if res.status != http.StatusCreated {
			t.Fatalf("put a blob into %s: %d %s", repo, res.status, res.body)
		}
		return d
	}
	private := put("team/b/secret", []byte("a blob only team/b may read"))
	readable := put("team/a/other", []byte("a blob team/a may read"))

	for _, c := range []struct {
		name, target, query string
		want                int
	}{
		{"private, named", "team/a/app1", "mount=" + private + "&from=team/b/secret", http.StatusAccepted},
		{"private, unnamed", "team/a/app2", "mount=" + private, http.StatusAccepted},
		{"readable, named", "team/a/app3", "mount=" + readable + "&from=team/a/other", http.StatusCreated},
		{"readable, unnamed", "team/a/app4", "mount=" + readable, http.StatusCreated},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := matrixDo(t, srv.URL, "ci", "ci-password-mount", matrixRequest{method: http.MethodPost, path: "/v2/" + c.target + "/blobs/uploads/?" + c.query})
			if res.status != c.want {
				t.Fatalf("mount into %s (%s): %d %s; want %d", c.target, c.query, res.status, res.body, c.want)
			}
			d := strings.TrimPrefix(strings.SplitN(c.query, "&", 2)[0], "mount=")
			head := matrixDo(t, srv.URL, "ci", "ci-password-mount", matrixRequest{method: http.MethodHead, path: "/v2/" + c.target + "/blobs/" + d})
			if linked := head.status == http.StatusOK; linked != (c.want == http.StatusCreated) {
				t.Errorf("after the mount, HEAD of the blob in %s: %d", c.target, head.status)
			}
		})
	}
}
