package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

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
	t     *testing.T
	url   string
	reg   *registrytest.Env
	logs  *bytes.Buffer
	authz *auth.Service
}

func newEnv(t *testing.T, opts registry.Options) *env {
	t.Helper()
	return newEnvAuth(t, opts, auth.Options{})
}

func newEnvAuth(t *testing.T, opts registry.Options, authOpts auth.Options) *env {
	t.Helper()
	reg := registrytest.New(t, opts)
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	if authOpts.Refresh == 0 {
		authOpts.Refresh = -1 // grants a test makes apply to its next request
	}
	authOpts.Logger = log
	authz := auth.New(reg.DB, authOpts)
	if err := authz.Bootstrap(context.Background(), testPassword, log); err != nil {
		t.Fatal(err)
	}
	missing := registrytest.New(t, opts)
	srv := httptest.NewServer(New(reg.Registry, missing.Registry, authz, Options{Logger: log}))
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, reg: reg, logs: logs, authz: authz}
}

// request is one HTTP request of a test.
type request struct {
	method, path string
	body         []byte
	header       map[string]string
	anonymous    bool // send no credentials
	streamed     bool // send the body without Content-Length (chunked)
}

// response is what came back.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) send(rq request) *response {
	e.t.Helper()
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
		if rq.streamed {
			body = io.NopCloser(body) // hides the length: net/http sends it chunked
		}
	}
	req, err := http.NewRequest(rq.method, e.url+rq.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range rq.header {
		req.Header.Set(k, v)
	}
	if !rq.anonymous {
		req.SetBasicAuth(testUser, testPassword)
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
	if v := resp.Header.Get("Docker-Distribution-API-Version"); v != "registry/2.0" {
		e.t.Errorf("%s %s: Docker-Distribution-API-Version = %q", rq.method, rq.path, v)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

// do sends an authenticated request; header is key, value, key, value…
func (e *env) do(method, path string, body []byte, header ...string) *response {
	e.t.Helper()
	h := map[string]string{}
	for i := 0; i+1 < len(header); i += 2 {
		h[header[i]] = header[i+1]
	}
	return e.send(request{method: method, path: path, body: body, header: h})
}

// code returns the first OCI error code of an error answer ("" if none).
func (r *response) code() string {
	var eb errorBody
	if json.Unmarshal(r.body, &eb) != nil || len(eb.Errors) == 0 {
		return ""
	}
	return eb.Errors[0].Code
}

func (r *response) message() string {
	var eb errorBody
	if json.Unmarshal(r.body, &eb) != nil || len(eb.Errors) == 0 {
		return ""
	}
	return eb.Errors[0].Message
}

// expect fails the test unless the answer has the status and, for errors, the code.
func (r *response) expect(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status || r.code() != code {
		t.Fatalf("got %d %q, want %d %q; body: %s", r.status, r.code(), status, code, r.body)
	}
}

// pushBlob uploads data to repo in one POST and returns its sha256 digest.
func (e *env) pushBlob(repo string, data []byte) digest.Digest {
	e.t.Helper()
	d := digest.FromBytes(data)
	e.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), data).expect(e.t, http.StatusCreated, "")
	return d
}

func descriptor(mediaType string, data []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
}

// imageManifest returns an OCI image manifest over the given config and layers.
func imageManifest(config ocispec.Descriptor, layers []ocispec.Descriptor, subject *ocispec.Descriptor, annotations map[string]string) []byte {
	m := ocispec.Manifest{
		MediaType:   ocispec.MediaTypeImageManifest,
		Config:      config,
		Layers:      layers,
		Subject:     subject,
		Annotations: annotations,
	}
	m.SchemaVersion = 2
	if m.Layers == nil {
		m.Layers = []ocispec.Descriptor{}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// pushImage pushes a config and one layer to repo and returns their manifest (not pushed).
func (e *env) pushImage(repo, layer string, subject *ocispec.Descriptor) []byte {
	e.t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	e.pushBlob(repo, cfg)
	e.pushBlob(repo, []byte(layer))
	return imageManifest(descriptor(ocispec.MediaTypeImageConfig, cfg),
		[]ocispec.Descriptor{descriptor(ocispec.MediaTypeImageLayer, []byte(layer))}, subject, nil)
}

func (e *env) putManifest(repo, ref string, body []byte) *response {
	e.t.Helper()
	return e.do("PUT", "/v2/"+repo+"/manifests/"+ref, body, "Content-Type", ocispec.MediaTypeImageManifest)
}
