package repo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/provenance/provtest"
)

func gzipOf(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// TestBadUploads sends every kind of bad input; each must answer 400 with {"error": …} saying
// what is wrong, store nothing, leave the index unchanged and leave the server serving.
func TestBadUploads(t *testing.T) {
	e := newEnv(t, Options{})
	key := charttest.NewSigner(t, "Chart Signer")
	good := charttest.Archive(t, "myapp", "1.0.0", "")
	other := charttest.Archive(t, "myapp", "1.0.0", "other bytes")
	chartYAML := "apiVersion: v2\nname: myapp\nversion: 1.0.0\n"
	base := charttest.Archive(t, "base", "1.0.0", "")
	e.mustUpload("team", base)
	indexBefore := e.get("/team/index.yaml")
	filesBefore := e.storedFiles()

	type body struct {
		contentType string
		data        io.Reader
	}
	raw := func(b []byte) func(*testing.T) body {
		return func(*testing.T) body { return body{"application/octet-stream", bytes.NewReader(b)} }
	}
	form := func(fields ...any) func(*testing.T) body {
		return func(t *testing.T) body {
			r, ct := multipartBody(t, fields...)
			return body{ct, r}
		}
	}
	cases := []struct {
		name   string
		method string
		path   string
		body   func(*testing.T) body
		says   string // a fragment of the error message
	}{
		{"empty body", "POST", "/api/team/charts", raw(nil), "empty"},
		{"not gzip", "POST", "/api/team/charts", raw([]byte("this is not a chart")), "gzip"},
		{"not tar", "POST", "/api/team/charts", raw(gzipOf([]byte("gzip, but no tar inside, just some text that is long enough"))), "tar"},
		{"truncated archive", "POST", "/api/team/charts", raw(good[:len(good)/2]), ""},
		{"decompression bomb", "POST", "/api/team/charts", raw(charttest.Tgz(t,
			charttest.Entry{Name: "myapp/Chart.yaml", Body: chartYAML},
			charttest.Entry{Name: "myapp/templates/bomb.yaml", Size: 6 << 20})), "limit"},
		{"path traversal", "POST", "/api/team/charts", raw(charttest.Tgz(t,
			charttest.Entry{Name: "myapp/Chart.yaml", Body: chartYAML},
			charttest.Entry{Name: "myapp/../../etc/passwd", Body: "root"})), ".."},
		{"absolute path", "POST", "/api/team/charts", raw(charttest.Tgz(t,
			charttest.Entry{Name: "/myapp/Chart.yaml", Body: chartYAML})), ""},
		{"symlink", "POST", "/api/team/charts", raw(charttest.Tgz(t,
			charttest.Entry{Name: "myapp/Chart.yaml", Body: chartYAML},
			charttest.Entry{Name: "myapp/values.yaml", Type: tar.TypeSymlink, Link: "/etc/passwd"})), ""},
		{"two top-level directories", "POST", "/api/team/charts", raw(charttest.Tgz(t,
			charttest.Entry{Name: "myapp/Chart.yaml", Body: chartYAML},
			charttest.Entry{Name: "other/Chart.yaml", Body: chartYAML})), ""},
		{"missing Chart.yaml", "POST", "/api/team/charts", raw(charttest.Tgz(t,
			charttest.Entry{Name: "myapp/values.yaml", Body: "a: 1\n"})), "Chart.yaml"},
		{"invalid Chart.yaml", "POST", "/api/team/charts", raw(charttest.Tgz(t,
			charttest.Entry{Name: "myapp/Chart.yaml", Body: "apiVersion: v2\nName: [myapp\nversion: 1.0.0\n"})), "Chart.yaml"},
		{"Chart.yaml without name", "POST", "/api/team/charts", raw(charttest.Tgz(t,
			charttest.Entry{Name: "myapp/Chart.yaml", Body: "apiVersion: v2\nversion: 1.0.0\n"})), "name"},
		{"non-SemVer version", "POST", "/api/team/charts", raw(charttest.Archive(t, "myapp", "v1.0", "")), "SemVer"},
		{"name in archive differs from name in URL", "PUT", "/team/charts/other-1.0.0.tgz", raw(good), "other-1.0.0.tgz"},
		{"version in archive differs from URL", "PUT", "/team/charts/myapp-2.0.0.tgz", raw(good), "myapp-1.0.0.tgz"},
		{"URL without a SemVer version", "PUT", "/team/charts/myapp-latest.tgz", raw(good), "SemVer"},
		{"prov for another archive", "POST", "/api/team/charts", form(
			"chart", "myapp-1.0.0.tgz", good, "prov", "myapp-1.0.0.tgz.prov", key.Sign(t, other, "myapp-1.0.0.tgz")), "digest"},
		{"prov naming another file", "POST", "/api/team/charts", form(
			"chart", "myapp-1.0.0.tgz", good, "prov", "x.prov", key.Sign(t, good, "myapp-9.0.0.tgz")), "myapp-1.0.0.tgz"},
		{"prov with a signature of 40 zero bytes", "POST", "/api/team/charts", form(
			"chart", "myapp-1.0.0.tgz", good, "prov", "myapp-1.0.0.tgz.prov", provtest.ZeroSignature(t, key.Sign(t, good, "myapp-1.0.0.tgz"))), "not a valid OpenPGP signature"},
		{"prov with a truncated signature armor", "POST", "/api/team/charts", form(
			"chart", "myapp-1.0.0.tgz", good, "prov", "myapp-1.0.0.tgz.prov", provtest.TruncatedArmor(t, key.Sign(t, good, "myapp-1.0.0.tgz"))), "not a valid OpenPGP signature"},
		{"prov that is not clear-signed", "POST", "/api/team/charts", form(
			"chart", "myapp-1.0.0.tgz", good, "prov", "x.prov", []byte("files:\n  myapp-1.0.0.tgz: sha256:00\n")), "PGP"},
		{"multipart without a chart field", "POST", "/api/team/charts", form(
			"prov", "myapp-1.0.0.tgz.prov", key.Sign(t, good, "myapp-1.0.0.tgz")), `"chart"`},
		{"multipart with another field only", "POST", "/api/team/charts", form("file", "myapp-1.0.0.tgz", good), `"chart"`},
		{"multipart with an empty chart", "POST", "/api/team/charts", form("chart", "myapp-1.0.0.tgz", []byte{}), "empty"},
		{"multipart with two charts", "POST", "/api/team/charts", form(
			"chart", "a.tgz", good, "chart", "b.tgz", good), "two"},
		{"malformed multipart", "POST", "/api/team/charts", func(*testing.T) body {
			return body{"multipart/form-data; boundary=xyz", strings.NewReader("--xyz\r\nbroken")}
		}, "multipart"},
		{"multipart without boundary", "POST", "/api/team/charts", func(*testing.T) body {
			return body{"multipart/form-data", bytes.NewReader(good)}
		}, "multipart"},
		{"chart name that is no repository name", "POST", "/api/team/charts", raw(charttest.Archive(t, "MyApp", "1.0.0", "")), ""},
		{"namespace v2, the OCI API's", "POST", "/api/v2/charts", raw(good), "reserved"},
		{"namespace under v2/", "POST", "/api/v2/team/charts", raw(good), "/v2/ belongs to the OCI Distribution API"},
		{"prov alone, not signed", "POST", "/api/team/prov", raw([]byte("hello")), "PGP"},
		{"prov alone, empty", "POST", "/api/team/prov", raw(nil), "empty"},
		{"prov alone for another archive", "POST", "/api/team/prov", raw(key.Sign(t, charttest.Archive(t, "base", "1.0.0", "not the published bytes"), "base-1.0.0.tgz")), "digest"},
		{"prov alone with a signature of 40 zero bytes", "POST", "/api/team/prov", raw(provtest.ZeroSignature(t, key.Sign(t, base, "base-1.0.0.tgz"))), "not a valid OpenPGP signature"},
		{"prov alone with a truncated signature armor", "POST", "/api/team/prov", raw(provtest.TruncatedArmor(t, key.Sign(t, base, "base-1.0.0.tgz"))), "not a valid OpenPGP signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.body(t)
			r := e.send(tc.method, tc.path, b.data, "Content-Type", b.contentType)
			if r.status != http.StatusBadRequest {
				t.Fatalf("%d %s, want 400", r.status, r.body)
			}
			msg := r.errorMessage(t)
			t.Log(msg)
			if !strings.Contains(msg, tc.says) {
				t.Errorf("error %q does not mention %q", msg, tc.says)
			}
			if files := e.storedFiles(); !reflect.DeepEqual(files, filesBefore) {
				t.Fatalf("a refused upload stored files: %v", files)
			}
			after := e.get("/team/index.yaml")
			if !bytes.Equal(after.body, indexBefore.body) || after.header.Get("ETag") != indexBefore.header.Get("ETag") {
				t.Fatal("a refused upload changed the index")
			}
		})
	}
	if repos, _ := e.reg.Catalog(context.Background(), 0, ""); !reflect.DeepEqual(repos, []string{"team/base"}) {
		t.Fatalf("repositories after refused uploads: %v", repos)
	}
	// The server keeps serving, and the refused .prov files took no version's place.
	e.mustUpload("team", good)
	if r := e.send("POST", "/api/team/prov", bytes.NewReader(key.Sign(t, base, "base-1.0.0.tgz"))); r.status != http.StatusCreated {
		t.Fatalf("the real .prov of base 1.0.0 after the refused ones: %d %s", r.status, r.body)
	}
	if got := parseIndex(t, e.get("/team/index.yaml").body).versionsOf("myapp"); !reflect.DeepEqual(got, []string{"1.0.0"}) {
		t.Fatalf("after the bad uploads: %v", got)
	}
}

func TestUploadTooLarge(t *testing.T) {
	e := newEnv(t, Options{}) // the env's registry takes archives up to 4 MiB
	big := make([]byte, 5<<20)
	r := e.send("POST", "/api/team/charts", bytes.NewReader(big))
	if r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d %s", r.status, r.body)
	}
	r.errorMessage(t)
	body, ct := multipartBody(t, "chart", "big.tgz", big)
	if r := e.send("POST", "/api/team/charts", body, "Content-Type", ct); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("multipart: %d %s", r.status, r.body)
	}
}

func TestUploadForms(t *testing.T) {
	e := newEnv(t, Options{})
	key := charttest.NewSigner(t, "Chart Signer")
	cases := []struct {
		name    string
		ns      string
		send    func(ns string, tgz, prov []byte) *response
		version string
		prov    bool
	}{
		{"raw body", "team", func(ns string, tgz, _ []byte) *response { return e.upload(ns, tgz) }, "1.0.0", false},
		{"raw body to the root namespace", "", func(ns string, tgz, _ []byte) *response { return e.upload(ns, tgz) }, "1.0.0", false},
		{"raw body to team/charts", "team/charts", func(ns string, tgz, _ []byte) *response { return e.upload(ns, tgz) }, "1.0.0", false},
		{"multipart as cm-push sends it", "team", func(ns string, tgz, _ []byte) *response {
			body, ct := multipartBody(t, "chart", "/tmp/build/myapp-1.1.0.tgz", tgz)
			return e.send("POST", apiPath(ns, "charts"), body, "Content-Type", ct)
		}, "1.1.0", false},
		{"multipart with prov", "team", func(ns string, tgz, prov []byte) *response {
			body, ct := multipartBody(t, "chart", "myapp-1.2.0.tgz", tgz, "prov", "myapp-1.2.0.tgz.prov", prov)
			return e.send("POST", apiPath(ns, "charts"), body, "Content-Type", ct)
		}, "1.2.0", true},
		{"multipart with prov first", "team", func(ns string, tgz, prov []byte) *response {
			body, ct := multipartBody(t, "prov", "p", prov, "other", "x", []byte("ignored"), "chart", "c", tgz)
			return e.send("POST", apiPath(ns, "charts"), body, "Content-Type", ct)
		}, "1.3.0", true},
		{"PUT to the archive URL", "team", func(ns string, tgz, _ []byte) *response {
			return e.send("PUT", nsPath(ns, "charts/myapp-1.4.0.tgz"), bytes.NewReader(tgz))
		}, "1.4.0", false},
		{"chart, then prov alone", "team", func(ns string, tgz, prov []byte) *response {
			if r := e.upload(ns, tgz); r.status != http.StatusCreated {
				return r
			}
			return e.send("POST", apiPath(ns, "prov"), bytes.NewReader(prov))
		}, "1.5.0", true},
		{"chart, then prov alone as multipart", "team/charts", func(ns string, tgz, prov []byte) *response {
			if r := e.upload(ns, tgz); r.status != http.StatusCreated {
				return r
			}
			body, ct := multipartBody(t, "prov", "myapp-1.6.0.tgz.prov", prov)
			return e.send("POST", apiPath(ns, "prov"), body, "Content-Type", ct)
		}, "1.6.0", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			archive := charttest.Archive(t, "myapp", tc.version, "")
			file := "myapp-" + tc.version + ".tgz"
			prov := key.Sign(t, archive, file)
			r := tc.send(tc.ns, archive, prov)
			if r.status != http.StatusCreated || string(bytes.TrimSpace(r.body)) != `{"saved":true}` {
				t.Fatalf("%d %s", r.status, r.body)
			}
			got := e.get(nsPath(tc.ns, "charts/"+file))
			if got.status != http.StatusOK || !bytes.Equal(got.body, archive) || got.header.Get("Content-Type") != contentTypeArchive {
				t.Fatalf("download: %d, same bytes %v", got.status, bytes.Equal(got.body, archive))
			}
			p := e.get(nsPath(tc.ns, "charts/"+file+".prov"))
			if tc.prov != (p.status == http.StatusOK) || tc.prov && !bytes.Equal(p.body, prov) {
				t.Fatalf("provenance: %d (want it: %v)", p.status, tc.prov)
			}
			idx := parseIndex(t, e.get(nsPath(tc.ns, "index.yaml")).body)
			found := false
			for _, v := range idx.Entries["myapp"] {
				found = found || v["version"] == tc.version && v["digest"] == sha256Hex(archive)
			}
			if !found {
				t.Fatalf("%s not in the index", tc.version)
			}
		})
	}
}

func TestUploadConflicts(t *testing.T) {
	e := newEnv(t, Options{})
	key := charttest.NewSigner(t, "Chart Signer")
	archive := charttest.Archive(t, "myapp", "1.0.0", "")
	e.mustUpload("team", archive)
	cases := []struct {
		name   string
		method string
		path   string
		body   []byte
		status int
		says   string
	}{
		{"same bytes again", "POST", "/api/team/charts", archive, http.StatusConflict, "already"},
		{"other bytes", "POST", "/api/team/charts", charttest.Archive(t, "myapp", "1.0.0", "x"), http.StatusConflict, "immutable"},
		{"?force", "POST", "/api/team/charts?force", charttest.Archive(t, "myapp", "1.0.0", "x"), http.StatusConflict, "force"},
		{"?force=true, same bytes", "POST", "/api/team/charts?force=true", archive, http.StatusConflict, "force"},
		{"PUT over it", "PUT", "/team/charts/myapp-1.0.0.tgz", charttest.Archive(t, "myapp", "1.0.0", "y"), http.StatusConflict, "immutable"},
		{"same version in another namespace", "POST", "/api/other/charts", charttest.Archive(t, "myapp", "1.0.0", "x"), http.StatusCreated, ""},
		{"prov twice", "POST", "/api/other/prov", nil, http.StatusConflict, "provenance"},
	}
	otherProv := key.Sign(t, cases[5].body, "myapp-1.0.0.tgz")
	cases[6].body = otherProv
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "prov twice" {
				if r := e.send("POST", tc.path, bytes.NewReader(tc.body)); r.status != http.StatusCreated {
					t.Fatalf("first prov: %d %s", r.status, r.body)
				}
			}
			r := e.send(tc.method, tc.path, bytes.NewReader(tc.body))
			if r.status != tc.status {
				t.Fatalf("%d %s, want %d", r.status, r.body, tc.status)
			}
			if tc.status != http.StatusCreated {
				if msg := r.errorMessage(t); !strings.Contains(msg, tc.says) {
					t.Errorf("error %q does not mention %q", msg, tc.says)
				}
			}
		})
	}
	idx := parseIndex(t, e.get("/team/index.yaml").body)
	if d := idx.Entries["myapp"][0]["digest"]; d != sha256Hex(archive) || len(idx.Entries["myapp"]) != 1 {
		t.Fatalf("index after conflicts: %v", idx.Entries)
	}
}

func TestConcurrentUploadsOneWinner(t *testing.T) {
	e := newEnv(t, Options{})
	const n = 20
	archives := make([][]byte, n)
	for i := range archives {
		archives[i] = charttest.Archive(t, "myapp", "2.0.0", strings.Repeat("v", i+1))
	}
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range archives {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			statuses[i] = e.upload("team", archives[i]).status
		}(i)
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, s := range statuses {
		switch {
		case s == http.StatusCreated && winner >= 0:
			t.Fatalf("two winners: %d and %d", winner, i)
		case s == http.StatusCreated:
			winner = i
		case s != http.StatusConflict:
			t.Fatalf("upload %d: %d", i, s)
		}
	}
	if winner < 0 {
		t.Fatal("no winner")
	}
	idx := parseIndex(t, e.get("/team/index.yaml").body)
	if v := idx.Entries["myapp"]; len(v) != 1 || v[0]["digest"] != sha256Hex(archives[winner]) {
		t.Fatalf("index lists %v, want the winner's digest", v)
	}
	if got := e.get("/team/charts/myapp-2.0.0.tgz"); !bytes.Equal(got.body, archives[winner]) {
		t.Fatal("the download is not the winner's archive")
	}
}
