package importer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/client"
	"github.com/chartroom/chartroom/internal/server/servertest"
)

// newClient is a client with explicit credentials (none for "") and no stored logins.
func newClient(t *testing.T, user, pass string) *client.Client {
	t.Helper()
	store, err := client.NewCredentialStore(client.CredentialPaths{Helm: filepath.Join(t.TempDir(), "config.json"), Docker: filepath.Join(t.TempDir(), "docker.json")})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Options{Username: user, Password: pass, PlainHTTP: true, Credentials: store, RepositoryConfig: "-"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func byStatus(rep *Report) map[string]Status {
	out := map[string]Status{}
	for _, v := range rep.Versions {
		out[v.Destination+":"+v.Version] = v.Status
	}
	return out
}

// A ChartMuseum storage directory: archives and .prov files at the top go to the namespace,
// a tenant's subdirectory to the namespace below it, each dated by its file's time; a
// second run finds everything present.
func TestImportChartMuseumStorageDirectory(t *testing.T) {
	ctx := context.Background()
	dst := servertest.Start(t, "pw")
	dir := t.TempDir()
	signer := charttest.NewSigner(t, "Signer")
	write := func(sub, name, version string, when time.Time) {
		t.Helper()
		p := filepath.Join(dir, sub, archiveName(name, version))
		os.MkdirAll(filepath.Dir(p), 0o755)
		a := charttest.Archive(t, name, version, sub)
		if err := os.WriteFile(p, a, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p+".prov", signer.Sign(t, a, archiveName(name, version)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, when, when); err != nil {
			t.Fatal(err)
		}
	}
	when := time.Date(2020, 5, 6, 7, 8, 9, 123456789, time.UTC)
	write("", "alpha", "1.0.0", when)
	write("", "alpha", "1.1.0", when.Add(time.Hour))
	write("tenant", "beta", "0.1.0", when)
	opts := Options{Source: dir, Destination: dst.Host + "/team", SourceClient: newClient(t, "", ""), DestClient: newClient(t, "admin", "pw")}
	rep, err := Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	got := byStatus(rep)
	want := map[string]Status{
		"oci://" + dst.Host + "/team/alpha:1.0.0":       Imported,
		"oci://" + dst.Host + "/team/alpha:1.1.0":       Imported,
		"oci://" + dst.Host + "/team/tenant/beta:0.1.0": Imported,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || rep.Imported != 3 || !rep.OK() {
		t.Fatalf("report %+v", rep)
	}
	// Dated by the file's time, to the nanosecond, in the destination's index.
	idx := get(t, dst.URL+"/team/index.yaml")
	if !strings.Contains(idx, `created: "2020-05-06T07:08:09.123456789Z"`) {
		t.Errorf("the index does not keep the file's date:\n%s", idx)
	}
	if !strings.Contains(get(t, dst.URL+"/team/charts/alpha-1.0.0.tgz.prov"), "BEGIN PGP SIGNATURE") {
		t.Error("the .prov was not imported")
	}
	rep, err = Run(ctx, opts)
	if err != nil || rep.AlreadyPresent != 3 || rep.Imported != 0 {
		t.Fatalf("second run: %+v, %v", rep, err)
	}
}

// A static repository over HTTP whose index names its archives with helm-s3's s3:// URLs:
// each is read beside index.yaml; a digest the archive does not match fails that version
// only, saying so.
func TestImportHelmS3Index(t *testing.T) {
	ctx := context.Background()
	dst := servertest.Start(t, "pw")
	good := charttest.Archive(t, "gamma", "1.0.0", "")
	bad := charttest.Archive(t, "gamma", "2.0.0", "")
	files := map[string][]byte{"/stable/gamma-1.0.0.tgz": good, "/stable/gamma-2.0.0.tgz": bad}
	index := fmt.Sprintf(`apiVersion: v1
entries:
  gamma:
  - name: gamma
    version: 1.0.0
    urls: [s3://bucket/stable/gamma-1.0.0.tgz]
    digest: %s
    created: "2019-01-02T03:04:05Z"
  - name: gamma
    version: 2.0.0
    urls: [s3://bucket/stable/gamma-2.0.0.tgz]
    digest: %s
`, sha(good), sha(good))
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stable/index.yaml" {
			w.Write([]byte(index))
			return
		}
		if b, ok := files[r.URL.Path]; ok {
			w.Write(b)
			return
		}
		http.NotFound(w, r)
	}))
	defer src.Close()
	rep, err := Run(ctx, Options{Source: src.URL + "/stable", Destination: dst.Host + "/stable", SourceClient: newClient(t, "", ""), DestClient: newClient(t, "admin", "pw")})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != 1 || rep.Failed != 1 {
		t.Fatalf("report %+v", rep)
	}
	for _, v := range rep.Versions {
		if v.Version == "2.0.0" && !strings.Contains(v.Why, "has sha256 "+sha(bad)) {
			t.Errorf("2.0.0 failed with %q; want the digest mismatch", v.Why)
		}
	}
	if !strings.Contains(get(t, dst.URL+"/stable/index.yaml"), `created: "2019-01-02T03:04:05Z"`) {
		t.Error("the index does not keep the source's date")
	}
}

func archiveName(name, version string) string { return name + "-" + version + ".tgz" }

func get(t *testing.T, u string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.SetBasicAuth("admin", "pw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b.String())
	}
	return b.String()
}
