package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/registry/registrytest"
	"github.com/chartroom/chartroom/internal/server/auth"
)

// The tests drive the handler over real HTTP against a real registry: a SQLite file and a
// filesystem blob store in a temporary directory, and the bootstrap admin user.

const (
	testUser     = "admin"
	testPassword = "correct horse battery staple"
)

type env struct {
	t       *testing.T
	url     string
	reg     *registrytest.Env
	authz   *auth.Service
	handler *handler
	logs    *bytes.Buffer
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	e := &env{t: t, logs: &bytes.Buffer{}}
	e.reg = registrytest.New(t, registry.Options{MaxChartSize: 4 << 20})
	e.serve(opts)
	if err := e.authz.Bootstrap(context.Background(), testPassword, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	return e
}

// start reopens the registry over the env's storage and serves a new handler: a restart.
func (e *env) start(opts Options) {
	e.t.Helper()
	e.reg = registrytest.Open(e.t, e.reg.Dir, e.reg.Options())
	e.serve(opts)
}

func (e *env) serve(opts Options) {
	e.authz = auth.New(e.reg.DB, auth.Options{Refresh: -1})
	opts.Logger = slog.New(slog.NewTextHandler(e.logs, nil))
	e.handler = New(e.reg.Registry, missingRegistry(e.t), e.authz, opts).(*handler)
	srv := httptest.NewServer(e.handler)
	e.t.Cleanup(srv.Close)
	e.url = srv.URL
}

// response is what came back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorMessage returns the {"error": …} of a response, failing the test when there is none.
func (r *response) errorMessage(t *testing.T) string {
	t.Helper()
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Error == "" {
		t.Fatalf("status %d: body is not {\"error\": …}: %q", r.status, r.body)
	}
	return body.Error
}

// send sends a request; header is key, value, key, value… ("Authorization", "" sends none).
func (e *env) send(method, path string, body io.Reader, header ...string) *response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.SetBasicAuth(testUser, testPassword)
	req.Header.Set("Accept-Encoding", "identity") // no transparent gzip: tests look at the wire
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *env) get(path string, header ...string) *response {
	e.t.Helper()
	return e.send(http.MethodGet, path, nil, header...)
}

// upload posts an archive as the raw body of POST /api/<ns>/charts.
func (e *env) upload(ns string, tgz []byte) *response {
	e.t.Helper()
	return e.send(http.MethodPost, apiPath(ns, "charts"), bytes.NewReader(tgz), "Content-Type", "application/gzip")
}

// mustUpload uploads and fails the test unless the answer is 201 {"saved":true}.
func (e *env) mustUpload(ns string, tgz []byte) {
	e.t.Helper()
	if r := e.upload(ns, tgz); r.status != http.StatusCreated || string(bytes.TrimSpace(r.body)) != `{"saved":true}` {
		e.t.Fatalf("upload: %d %s", r.status, r.body)
	}
}

// multipartBody builds a multipart/form-data body from field → (file name, content) pairs.
func multipartBody(t *testing.T, fields ...any) (io.Reader, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for i := 0; i+2 < len(fields); i += 3 {
		fw, err := mw.CreateFormFile(fields[i].(string), fields[i+1].(string))
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(fields[i+2].([]byte))
	}
	mw.Close()
	return &b, mw.FormDataContentType()
}

// apiPath is /api/<ns>/<rest>, or /api/<rest> for the root namespace.
func apiPath(ns, rest string) string {
	if ns == "" {
		return "/api/" + rest
	}
	return "/api/" + ns + "/" + rest
}

// nsPath is /<ns>/<rest>, or /<rest> for the root namespace.
func nsPath(ns, rest string) string {
	if ns == "" {
		return "/" + rest
	}
	return "/" + ns + "/" + rest
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// helmIndex is index.yaml as helm reads it.
type helmIndex struct {
	APIVersion string                      `json:"apiVersion"`
	Entries    map[string][]map[string]any `json:"entries"`
	Generated  string                      `json:"generated"`
}

func parseIndex(t *testing.T, b []byte) helmIndex {
	t.Helper()
	var idx helmIndex
	if err := yaml.Unmarshal(b, &idx); err != nil {
		t.Fatalf("index does not parse: %v\n%s", err, b)
	}
	return idx
}

// versionsOf lists a chart's versions in index order.
func (idx helmIndex) versionsOf(name string) []string {
	var out []string
	for _, v := range idx.Entries[name] {
		out = append(out, v["version"].(string))
	}
	return out
}

// storedFiles lists every file of the blob store and the database directory but the
// database's own files, to show that a refused upload stored nothing.
func (e *env) storedFiles() []string {
	e.t.Helper()
	return e.reg.StoredFiles(e.t)
}

// missingRegistry is a registry that holds nothing, for the reads a caller may not make.
func missingRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	return registrytest.New(t, registry.Options{}).Registry
}
