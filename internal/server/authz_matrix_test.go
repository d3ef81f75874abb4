package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/server/auth"
	"github.com/chartroom/chartroom/internal/server/oci"
	"github.com/chartroom/chartroom/internal/server/repo"
)

// The authorization matrix: every route of both routers (and the operations endpoints) ×
// every role × what it may do, the routes enumerated from the route tables themselves. A
// route added without a row here fails TestAuthorizationMatrix; so does a row for a route
// that is gone.
//
// Each principal works in its own namespace (m/<principal>), holding the same data: chart
// myapp 1.0.0 with its provenance file, and Artifact Hub metadata. What a request was
// decided is read from the audit log (refusals are recorded with their outcome: unauthorized,
// denied, hidden); the answer is checked against it.

// matrixRequest is what the matrix sends for one route.
type matrixRequest struct {
	method, path string
	body         []byte
	contentType  string
}

// matrixRoutes builds the request of each route (by "<route name> <method>") in namespace ns;
// fx holds what the namespace's data is named by.
func matrixRoutes(fx matrixFixture, ns string) map[string]matrixRequest {
	repoPath := "/v2/" + ns + "/myapp"
	get := func(p string) matrixRequest { return matrixRequest{method: http.MethodGet, path: p} }
	head := func(p string) matrixRequest { return matrixRequest{method: http.MethodHead, path: p} }
	with := func(method, p string, body []byte, ct string) matrixRequest {
		return matrixRequest{method: method, path: p, body: body, contentType: ct}
	}
	upload := "{upload:" + ns + "}" // replaced by a fresh upload session's path
	none := "sha256:" + strings.Repeat("0", 64)
	return map[string]matrixRequest{
		"oci.base GET":               get("/v2/"),
		"oci.catalog GET":            get("/v2/_catalog"),
		"oci.tags.list GET":          get(repoPath + "/tags/list"),
		"oci.manifest.get GET":       get(repoPath + "/manifests/1.0.0"),
		"oci.manifest.head HEAD":     head(repoPath + "/manifests/1.0.0"),
		"oci.manifest.put PUT":       with(http.MethodPut, repoPath+"/manifests/v-test", []byte("{}"), "application/vnd.oci.image.manifest.v1+json"),
		"oci.manifest.delete DELETE": with(http.MethodDelete, repoPath+"/manifests/no-such-tag", nil, ""),
		"oci.blob.get GET":           get(repoPath + "/blobs/" + fx.chartDigest[ns]),
		"oci.blob.head HEAD":         head(repoPath + "/blobs/" + fx.chartDigest[ns]),
		"oci.blob.delete DELETE":     with(http.MethodDelete, repoPath+"/blobs/"+none, nil, ""),
		"oci.upload.start POST":      with(http.MethodPost, repoPath+"/blobs/uploads/", nil, ""),
		"oci.upload.status GET":      get(upload),
		"oci.upload.patch PATCH":     with(http.MethodPatch, upload, []byte("x"), "application/octet-stream"),
		"oci.upload.finish PUT":      with(http.MethodPut, upload+"?digest="+url.QueryEscape(digest.FromString("").String()), nil, ""),
		"oci.upload.cancel DELETE":   with(http.MethodDelete, upload, nil, ""),
		"oci.referrers GET":          get(repoPath + "/referrers/" + fx.manifestDigest[ns]),
		"oci.token GET":              get("/v2/token?scope=repository:" + ns + "/myapp:pull,push"),
		"oci.token POST":             with(http.MethodPost, "/v2/token", []byte("grant_type=refresh_token&refresh_token=x"), "application/x-www-form-urlencoded"),

		"repo.index GET":                 get("/" + ns + "/index.yaml"),
		"repo.index HEAD":                head("/" + ns + "/index.yaml"),
		"repo.artifacthub GET":           get("/" + ns + "/artifacthub-repo.yml"),
		"repo.archive.get GET":           get("/" + ns + "/charts/myapp-1.0.0.tgz"),
		"repo.archive.head HEAD":         head("/" + ns + "/charts/myapp-1.0.0.tgz.prov"),
		"repo.archive.put PUT":           with(http.MethodPut, "/"+ns+"/charts/other-1.0.0.tgz", []byte("not a chart"), "application/gzip"),
		"repo.api.charts.list GET":       get("/api/" + ns + "/charts"),
		"repo.api.charts.list HEAD":      head("/api/" + ns + "/charts"),
		"repo.api.charts.upload POST":    with(http.MethodPost, "/api/"+ns+"/charts", []byte("not a chart"), "application/gzip"),
		"repo.api.prov.upload POST":      with(http.MethodPost, "/api/"+ns+"/prov", []byte("not a prov"), "application/pgp-signature"),
		"repo.api.chart.get GET":         get("/api/" + ns + "/charts/myapp"),
		"repo.api.chart.head HEAD":       head("/api/" + ns + "/charts/myapp"),
		"repo.api.version.get GET":       get("/api/" + ns + "/charts/myapp/1.0.0"),
		"repo.api.version.head HEAD":     head("/api/" + ns + "/charts/myapp/latest"),
		"repo.api.version.delete DELETE": with(http.MethodDelete, "/api/"+ns+"/charts/myapp/9.9.9", nil, ""),
		"repo.api.version.templates GET": get("/api/" + ns + "/charts/myapp/1.0.0/templates"),
		"repo.api.version.values GET":    get("/api/" + ns + "/charts/myapp/latest/values"),
		"repo.api.audit GET":             get("/api/_/audit"),
		"healthz GET":                    get("/healthz"),
		"readyz GET":                     get("/readyz"),
		"health GET":                     get("/health"),
		"info GET":                       get("/info"),
		"metrics GET":                    get("/metrics"),
	}
}

// The policy: what principal p may do on a route needing action on target kind.
func expectedDecision(route string, action auth.Action, p matrixPrincipal) string {
	switch {
	case route == "healthz" || route == "readyz" || route == "health" || route == "info" || route == "metrics":
		return "allowed" // operations endpoints: open to every caller
	case route == "oci.token": // the token service: open to every caller, the grant is decided per scope
		return "allowed"
	case route == "oci.base" || route == "oci.catalog": // the registry: signing in is enough (the catalog is filtered)
		if p.anonymous {
			return "unauthorized"
		}
		return "allowed"
	case route == "repo.api.audit": // the whole registry's audit log: global admins
		switch {
		case p.anonymous:
			return "unauthorized"
		case p.global:
			return "allowed"
		}
		return "denied"
	}
	switch {
	case p.role.Allows(action):
		return "allowed"
	case p.anonymous:
		return "unauthorized"
	case action == auth.Pull:
		return "hidden"
	}
	return "denied"
}

// matrixPrincipal is a caller of the matrix.
type matrixPrincipal struct {
	name       string
	user, pass string // "" anonymous
	role       auth.Role
	anonymous  bool
	global     bool
}

func (p matrixPrincipal) ns() string { return "m/" + p.name }

type matrixFixture struct {
	chartDigest, manifestDigest map[string]string // by namespace
}

func TestAuthorizationMatrix(t *testing.T) {
	s, _ := newTestServer(t)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	ctx := context.Background()
	m := &auth.Manager{DB: s.db, Actor: "test", Address: "local"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	const pw = "matrix-password"
	for _, u := range []string{"none", "reader", "publisher", "maintainer", "nsadmin", "tokuser", "robot"} {
		must(m.AddUser(ctx, u, pw, false))
	}
	for user, g := range map[string][2]string{
		"reader": {"m/reader", "reader"}, "publisher": {"m/publisher", "publisher"}, "maintainer": {"m/maintainer", "maintainer"},
		"nsadmin": {"m/nsadmin", "admin"},
	} {
		must(m.Grant(ctx, user, g[0], auth.Role(g[1])))
	}
	must(m.Grant(ctx, "tokuser", "m/*", auth.RoleMaintainer))
	token := func(user string, scopes ...string) string {
		req := auth.NewTokenRequest{User: user}
		for _, sc := range scopes {
			s, err := auth.ParseScope(sc)
			must(err)
			req.Scopes = append(req.Scopes, s)
		}
		id, tok, err := m.CreateToken(ctx, req)
		must(err)
		if user == "robot" {
			must(m.Grant(ctx, id, "m/tokgrant", auth.RoleReader))
		}
		return tok
	}
	principals := []matrixPrincipal{
		{name: "anon", anonymous: true},
		{name: "none", user: "none", pass: pw},
		{name: "reader", user: "reader", pass: pw, role: auth.RoleReader},
		{name: "publisher", user: "publisher", pass: pw, role: auth.RolePublisher},
		{name: "maintainer", user: "maintainer", pass: pw, role: auth.RoleMaintainer},
		{name: "nsadmin", user: "nsadmin", pass: pw, role: auth.RoleAdmin},
		{name: "global", user: "admin", pass: "test-password", role: auth.RoleAdmin, global: true},
		// tokuser is maintainer on m/*; its tokens are limited by their scopes.
		{name: "tokpush", user: "tokuser", pass: token("tokuser", "m/tokpush:push"), role: auth.RolePublisher},
		{name: "tokother", user: "tokuser", pass: token("tokuser", "m/elsewhere:push,delete")},
		// robot has no role; its token is granted reader on m/tokgrant.
		{name: "tokgrant", user: "robot", pass: token("robot"), role: auth.RoleReader},
	}
	must(s.auth.Reload(ctx))

	// The same data in every principal's namespace.
	signer := charttest.NewSigner(t, "matrix")
	archive := charttest.Archive(t, "myapp", "1.0.0", "matrix")
	prov := signer.Sign(t, archive, "myapp-1.0.0.tgz")
	fx := matrixFixture{chartDigest: map[string]string{}, manifestDigest: map[string]string{}}
	for _, p := range principals {
		ns := p.ns()
		res := matrixDo(t, srv.URL, "admin", "test-password", uploadRequest(t, ns, archive, prov))
		if res.status != http.StatusCreated {
			t.Fatalf("publish into %s: %d %s", ns, res.status, res.body)
		}
		c, err := s.reg.ChartVersion(ctx, ns, "myapp", "1.0.0")
		must(err)
		fx.chartDigest[ns], fx.manifestDigest[ns] = c.ChartDigest.String(), c.ManifestDigest.String()
		must(s.db.SetNamespaceSettings(ctx, meta.NamespaceSettings{Namespace: ns, ArtifactHubRepo: []byte("owners:\n- name: Matrix\n  email: matrix@example.com\n")}))
	}

	// Every route has a row, every row a route.
	var routes []routeRow
	for _, r := range oci.Routes() {
		routes = append(routes, routeRow{r.Name, r.Method, r.Action})
	}
	for _, r := range repo.Routes() {
		routes = append(routes, routeRow{r.Name, r.Method, r.Action})
	}
	for _, r := range OpsRoutes() {
		routes = append(routes, routeRow{r.Name, http.MethodGet, auth.Pull})
	}
	table := matrixRoutes(fx, "m/x")
	seen := map[string]bool{}
	for _, r := range routes {
		key := r.name + " " + r.method
		seen[key] = true
		if _, ok := table[key]; !ok {
			t.Errorf("route %s has no row in the authorization matrix: add its request to matrixRoutes (and its policy to expectedDecision if it is not the repository's)", key)
		}
	}
	for key := range table {
		if !seen[key] {
			t.Errorf("the matrix has a row for %s, which no router serves any more", key)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	sort.Slice(routes, func(i, j int) bool { return routes[i].name+routes[i].method < routes[j].name+routes[j].method })

	for _, p := range principals {
		reqs := matrixRoutes(fx, p.ns())
		for _, r := range routes {
			t.Run(p.name+"/"+r.name+"_"+r.method, func(t *testing.T) {
				rq := reqs[r.name+" "+r.method]
				if strings.HasPrefix(rq.path, "{upload:") {
					rq.path = startUpload(t, srv.URL, p.ns()) + rq.path[strings.IndexByte(rq.path, '}')+1:]
				}
				before := lastAuditID(t, s)
				res := matrixDo(t, srv.URL, p.user, p.pass, rq)
				got := decision(t, s, before, res)
				if want := expectedDecision(r.name, r.action, p); got != want {
					t.Fatalf("%s %s as %s: %s (%d %s); want %s", rq.method, rq.path, p.name, got, res.status, res.body, want)
				}
			})
		}
	}
}

type routeRow struct {
	name, method string
	action       auth.Action
}

type matrixResponse struct {
	status int
	header http.Header
	body   string
}

func matrixDo(t *testing.T, base, user, pass string, rq matrixRequest) matrixResponse {
	t.Helper()
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequest(rq.method, base+rq.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if rq.contentType != "" {
		req.Header.Set("Content-Type", rq.contentType)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return matrixResponse{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// uploadRequest is a ChartMuseum-style multipart upload of a chart and its provenance.
func uploadRequest(t *testing.T, ns string, archive, prov []byte) matrixRequest {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for field, data := range map[string][]byte{"chart": archive, "prov": prov} {
		w, err := mw.CreateFormFile(field, field)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(data)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return matrixRequest{method: http.MethodPost, path: "/api/" + ns + "/charts", body: b.Bytes(), contentType: mw.FormDataContentType()}
}

// startUpload opens an upload session in ns's chart repository as the global admin and
// returns its path.
func startUpload(t *testing.T, base, ns string) string {
	t.Helper()
	res := matrixDo(t, base, "admin", "test-password", matrixRequest{method: http.MethodPost, path: "/v2/" + ns + "/myapp/blobs/uploads/"})
	if res.status != http.StatusAccepted {
		t.Fatalf("start an upload in %s: %d %s", ns, res.status, res.body)
	}
	return res.header.Get("Location")
}

func lastAuditID(t *testing.T, s *Server) int64 {
	t.Helper()
	recs, err := s.auth.AuditLog(context.Background(), auth.AuditQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 {
		return 0
	}
	return recs[0].ID
}

// decision reads how the request that answered res was decided: from the audit record of a
// refusal it left, else allowed; and checks that the answer says the same.
func decision(t *testing.T, s *Server, before int64, res matrixResponse) string {
	t.Helper()
	recs, err := s.auth.AuditLog(context.Background(), auth.AuditQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	outcome := ""
	if len(recs) > 0 && recs[0].ID > before {
		outcome = recs[0].Outcome
	}
	switch outcome {
	case auth.OutcomeUnauthenticated:
		if res.status != http.StatusUnauthorized || res.header.Get("WWW-Authenticate") == "" {
			t.Errorf("refused as unauthorized, answered %d (challenge %q); want 401 with a challenge", res.status, res.header.Get("WWW-Authenticate"))
		}
		return "unauthorized"
	case auth.OutcomeDenied:
		if res.status != http.StatusForbidden {
			t.Errorf("refused as denied, answered %d; want 403", res.status)
		}
		return "denied"
	case auth.OutcomeHidden:
		if res.status != http.StatusNotFound && res.status != http.StatusOK {
			t.Errorf("hidden, answered %d; want what a missing namespace gets (404, or 200 for a listing)", res.status)
		}
		return "hidden"
	}
	if res.status == http.StatusUnauthorized || res.status == http.StatusForbidden {
		t.Errorf("answered %d without an audit record of the refusal (outcome %q)", res.status, outcome)
		return fmt.Sprint(res.status)
	}
	return "allowed"
}
