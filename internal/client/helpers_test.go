package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/provenance"
	"github.com/chartroom/chartroom/internal/server/servertest"
)

// The tests run the client against a real chartroom server in-process: a SQLite file and a
// filesystem blob store in a temporary directory, the OCI API under /v2/ and the classic
// repository everywhere else, as `chartroom serve` routes them.

const (
	testUser     = "admin"
	testPassword = "correct horse battery staple"
)

type testServer struct {
	url  string // http://127.0.0.1:PORT
	host string // 127.0.0.1:PORT
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	srv := servertest.Start(t, testPassword)
	return &testServer{url: srv.URL, host: srv.Host}
}

// oci is the server's OCI location for namespace ns.
func (s *testServer) oci(ns string) string { return "oci://" + s.host + "/" + ns }

// repo is the server's classic repository URL for namespace ns.
func (s *testServer) repo(ns string) string { return s.url + "/" + ns }

// testEnv isolates credential files and helm's repository list in a temporary directory.
type testEnv struct {
	dir        string
	helmConfig string
	docker     string
	repoConfig string
}

func newTestEnv(t *testing.T) *testEnv {
	dir := t.TempDir()
	return &testEnv{
		dir:        dir,
		helmConfig: filepath.Join(dir, "helm", "registry", "config.json"),
		docker:     filepath.Join(dir, "docker", "config.json"),
		repoConfig: filepath.Join(dir, "helm", "repositories.yaml"),
	}
}

// client builds a client over the env's files with opts (PlainHTTP set).
func (e *testEnv) client(t *testing.T, opts Options) *Client {
	t.Helper()
	store, err := NewCredentialStore(CredentialPaths{Helm: e.helmConfig, Docker: e.docker})
	if err != nil {
		t.Fatal(err)
	}
	opts.Credentials = store
	opts.PlainHTTP = true
	if opts.RepositoryConfig == "" {
		opts.RepositoryConfig = e.repoConfig
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// admin is a client with the admin's credentials given explicitly.
func (e *testEnv) admin(t *testing.T) *Client {
	return e.client(t, Options{Username: testUser, Password: testPassword})
}

// testChart writes a chart directory name/ under dir and returns its path. deps is the
// YAML of Chart.yaml's dependencies list ("" for none); extra changes a template so that
// the same version can be packaged with other content.
func testChart(t *testing.T, dir, name, version, deps, extra string) string {
	t.Helper()
	cd := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Join(cd, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	yaml := "apiVersion: v2\nname: " + name + "\nversion: " + version + "\ndescription: A test chart\nappVersion: \"1.0\"\n" +
		"maintainers:\n  - name: Jane\n    email: jane@example.com\nannotations:\n  example.com/team: platform\n"
	if deps != "" {
		yaml += "dependencies:\n" + deps
	}
	files := map[string]string{
		"Chart.yaml":            yaml,
		"values.yaml":           "replicas: 1\n",
		"templates/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  extra: " + extra + "\n",
	}
	for n, body := range files {
		if err := os.WriteFile(filepath.Join(cd, n), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return cd
}

// testArchive packages a chart into dir and returns the archive's path.
func testArchive(t *testing.T, dir, name, version, extra string) string {
	t.Helper()
	src := testChart(t, filepath.Join(dir, "src-"+name+"-"+version+"-"+extra), name, version, "", extra)
	path, _, err := chart.PackageToDir(context.Background(), src, dir, chart.PackageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A fixed mtime, so the OCI created annotation is predictable.
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return path
}

// testSigner is a fresh OpenPGP key and its public keyring.
type testSigner struct {
	entity  *openpgp.Entity
	keyring openpgp.EntityList
}

func newTestSigner(t *testing.T, name string) *testSigner {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", strings.ToLower(name)+"@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	if err := e.Serialize(&pub); err != nil {
		t.Fatal(err)
	}
	kr, err := provenance.LoadKeyring(&pub)
	if err != nil {
		t.Fatal(err)
	}
	return &testSigner{entity: e, keyring: kr}
}

// sign writes archive.prov.
func (s *testSigner) sign(t *testing.T, archive string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	prov, err := provenance.Sign(f, filepath.Base(archive), s.entity)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(archive+".prov", prov, 0o644); err != nil {
		t.Fatal(err)
	}
}

// verifier is a VerifyFunc over the signer's keyring.
func (s *testSigner) verifier() VerifyFunc {
	return func(archive io.Reader, name string, prov []byte) (string, error) {
		v, err := provenance.Verify(archive, name, prov, s.keyring)
		if err != nil {
			return "", err
		}
		return v.Signer(), nil
	}
}

// readFile returns a file's bytes.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// listDir lists a directory's entries (hidden ones included).
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// oneLineError fails unless err is a one-line *Error of kind (nil: any) containing each of want.
func oneLineError(t *testing.T, err error, kind error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error")
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T is not a *client.Error: %v", err, err)
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Errorf("error is not %v: %v", kind, err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans lines: %q", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q lacks %q", msg, w)
		}
	}
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
