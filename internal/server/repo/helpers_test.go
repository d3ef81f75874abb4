package repo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"sigs.k8s.io/yaml"

	blobfs "github.com/chartroom/chartroom/internal/blob/fs"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/provenance"
	"github.com/chartroom/chartroom/internal/registry"
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
	dir     string
	url     string
	reg     *registry.Registry
	db      *meta.DB
	authz   *auth.Service
	handler *handler
	logs    *bytes.Buffer
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := meta.OpenSQLite(ctx, filepath.Join(dir, "chartroom.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{t: t, dir: dir, db: db, logs: &bytes.Buffer{}}
	e.start(opts)
	if err := e.authz.Bootstrap(ctx, testPassword, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	return e
}

// start builds the registry and handler over the env's storage and serves them: called again,
// it is a restart.
func (e *env) start(opts Options) {
	e.t.Helper()
	bs, err := blobfs.New(filepath.Join(e.dir, "blobs"))
	if err != nil {
		e.t.Fatal(err)
	}
	e.reg, err = registry.New(context.Background(), e.db, bs, registry.Options{MaxChartSize: 4 << 20})
	if err != nil {
		e.t.Fatal(err)
	}
	e.authz = auth.New(e.db, auth.Options{})
	opts.Logger = slog.New(slog.NewTextHandler(e.logs, nil))
	e.handler = New(e.reg, e.authz, opts).(*handler)
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

// tarEntry is one entry of a test archive.
type tarEntry struct {
	name     string
	body     string
	typeflag byte   // 0: regular file
	size     int64  // > 0: a file of this many zero bytes (body ignored)
	link     string // symlink target
}

// tgz builds a gzip tar from entries.
func tgz(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: e.typeflag, Linkname: e.link}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(e.body))
			if e.size > 0 {
				hdr.Size = e.size
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if e.size > 0 {
			io.CopyN(tw, zeros{}, e.size)
		} else if hdr.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// chartTgz builds a valid chart archive; extra lines are appended to Chart.yaml and note makes
// archives of the same version differ.
func chartTgz(t testing.TB, name, version, note string, chartYAMLExtra ...string) []byte {
	t.Helper()
	chartYAML := fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\nappVersion: \"app-%s\"\ndescription: Test chart %s\n", name, version, version, name)
	for _, l := range chartYAMLExtra {
		chartYAML += l + "\n"
	}
	return tgz(t,
		tarEntry{name: name + "/Chart.yaml", body: chartYAML},
		tarEntry{name: name + "/values.yaml", body: "replicas: 1\n"},
		tarEntry{name: name + "/templates/cm.yaml", body: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  note: " + fmt.Sprintf("%q", note) + "\n"},
	)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// signer is a throwaway OpenPGP key.
func signer(t testing.TB) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity("Chart Signer", "", "signer@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func signProv(t testing.TB, e *openpgp.Entity, archive []byte, fileName string) []byte {
	t.Helper()
	prov, err := provenance.Sign(bytes.NewReader(archive), fileName, e)
	if err != nil {
		t.Fatal(err)
	}
	return prov
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
	var out []string
	root := filepath.Join(e.dir, "blobs")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	sort.Strings(out)
	return out
}
