package repo

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chartroom/chartroom/internal/chart/charttest"
)

func TestIndexIsWhatHelmReads(t *testing.T) {
	for _, ns := range []string{"", "team", "team/charts"} {
		t.Run("namespace "+ns, func(t *testing.T) {
			e := newEnv(t, Options{})
			archives := map[string][]byte{}
			for _, v := range []string{"1.0.0", "1.10.0", "1.2.0-rc.1", "1.2.0", "0.9.0"} {
				archives[v] = charttest.Archive(t, "my-app", v, "", "keywords: [a, b]", "home: https://example.com")
				e.mustUpload(ns, archives[v])
			}
			e.mustUpload(ns, charttest.Archive(t, "other", "2.0.0", ""))

			r := e.get(nsPath(ns, "index.yaml"))
			if r.status != http.StatusOK || r.header.Get("Content-Type") != contentTypeYAML {
				t.Fatalf("%d %s %s", r.status, r.header.Get("Content-Type"), r.body)
			}
			idx := parseIndex(t, r.body)
			if idx.APIVersion != "v1" || idx.Generated == "" {
				t.Fatalf("apiVersion %q generated %q", idx.APIVersion, idx.Generated)
			}
			if got := strings.Join(idx.versionsOf("my-app"), " "); got != "1.10.0 1.2.0 1.2.0-rc.1 1.0.0 0.9.0" {
				t.Fatalf("versions newest first: %s", got)
			}
			v := idx.Entries["my-app"][0]
			want := map[string]any{
				"apiVersion": "v2", "name": "my-app", "version": "1.10.0", "appVersion": "app-1.10.0",
				"description": "Test chart my-app", "home": "https://example.com", "keywords": []any{"a", "b"},
				"digest": sha256Hex(archives["1.10.0"]), "urls": []any{"charts/my-app-1.10.0.tgz"},
			}
			for k, w := range want {
				if !reflect.DeepEqual(v[k], w) {
					t.Errorf("%s = %#v, want %#v", k, v[k], w)
				}
			}
			if _, err := time.Parse(time.RFC3339, v["created"].(string)); err != nil {
				t.Errorf("created %v: %v", v["created"], err)
			}
			// The url downloads the archive whose digest the index gives.
			a := e.get(nsPath(ns, v["urls"].([]any)[0].(string)))
			if a.status != http.StatusOK || sha256Hex(a.body) != v["digest"] {
				t.Fatalf("download: %d, digest %s", a.status, sha256Hex(a.body))
			}

			// The JSON form is the same document.
			for _, path := range []string{nsPath(ns, "index.json"), nsPath(ns, "index.yaml?format=json")} {
				j := e.get(path)
				var fromJSON helmIndex
				if err := json.Unmarshal(j.body, &fromJSON); err != nil || j.header.Get("Content-Type") != contentTypeJSON {
					t.Fatalf("%s: %v %s", path, err, j.header.Get("Content-Type"))
				}
				if !reflect.DeepEqual(fromJSON, idx) {
					t.Fatalf("%s differs from index.yaml", path)
				}
			}
		})
	}
}

func TestIndexExternalURL(t *testing.T) {
	e := newEnv(t, Options{ExternalURL: "https://charts.example.com/"})
	e.mustUpload("team/charts", charttest.Archive(t, "myapp", "1.0.0", ""))
	e.mustUpload("", charttest.Archive(t, "myapp", "1.0.0", ""))
	for ns, want := range map[string]string{
		"team/charts": "https://charts.example.com/team/charts/charts/myapp-1.0.0.tgz",
		"":            "https://charts.example.com/charts/myapp-1.0.0.tgz",
	} {
		idx := parseIndex(t, e.get(nsPath(ns, "index.yaml")).body)
		if got := idx.Entries["myapp"][0]["urls"].([]any)[0]; got != want {
			t.Errorf("namespace %q: url %v, want %s", ns, got, want)
		}
	}
}

func TestEmptyNamespaceIndex(t *testing.T) {
	e := newEnv(t, Options{})
	r := e.get("/nobody/yet/index.yaml")
	idx := parseIndex(t, r.body)
	if r.status != http.StatusOK || idx.APIVersion != "v1" || len(idx.Entries) != 0 || r.header.Get("ETag") == "" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if lm := r.header.Get("Last-Modified"); lm != "" {
		t.Fatalf("a namespace that never changed has Last-Modified %s", lm)
	}
	if again := e.get("/nobody/yet/index.yaml", "If-None-Match", r.header.Get("ETag")); again.status != http.StatusNotModified {
		t.Fatalf("revalidating the empty index: %d", again.status)
	}
}

func TestIndexCachingHeaders(t *testing.T) {
	e := newEnv(t, Options{})
	e.mustUpload("team", charttest.Archive(t, "myapp", "1.0.0", ""))

	plain := e.get("/team/index.yaml")
	etag := plain.header.Get("ETag")
	switch {
	case plain.status != http.StatusOK:
		t.Fatalf("%d", plain.status)
	case !strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, "W/"):
		t.Fatalf("ETag %q is not strong", etag)
	case plain.header.Get("Cache-Control") != "no-cache":
		t.Fatalf("Cache-Control %q", plain.header.Get("Cache-Control"))
	case plain.header.Get("Last-Modified") == "":
		t.Fatal("no Last-Modified")
	case plain.header.Get("Content-Encoding") != "":
		t.Fatal("gzip without Accept-Encoding")
	case !strings.Contains(plain.header.Get("Vary"), "Accept-Encoding"):
		t.Fatal("no Vary: Accept-Encoding")
	}

	gz := e.get("/team/index.yaml", "Accept-Encoding", "gzip")
	gzTag := gz.header.Get("ETag")
	if gz.header.Get("Content-Encoding") != "gzip" || gzTag == etag || gzTag == "" {
		t.Fatalf("gzip: encoding %q etag %q", gz.header.Get("Content-Encoding"), gzTag)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz.body))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, _ := io.ReadAll(zr)
	if !bytes.Equal(unzipped, plain.body) {
		t.Fatal("gzip body does not decompress to the plain index")
	}

	cases := []struct {
		name   string
		header []string
		status int
	}{
		{"matching ETag", []string{"If-None-Match", etag}, http.StatusNotModified},
		{"matching gzip ETag", []string{"If-None-Match", gzTag, "Accept-Encoding", "gzip"}, http.StatusNotModified},
		{"ETag in a list", []string{"If-None-Match", `"x", ` + etag}, http.StatusNotModified},
		{"plain ETag asking gzip", []string{"If-None-Match", etag, "Accept-Encoding", "gzip"}, http.StatusOK},
		{"other ETag", []string{"If-None-Match", `"other"`}, http.StatusOK},
		{"not modified since", []string{"If-Modified-Since", plain.header.Get("Last-Modified")}, http.StatusNotModified},
		{"modified since", []string{"If-Modified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"}, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.get("/team/index.yaml", tc.header...)
			if r.status != tc.status {
				t.Fatalf("%d, want %d", r.status, tc.status)
			}
			if tc.status == http.StatusNotModified && (len(r.body) != 0 || r.header.Get("ETag") == "") {
				t.Fatalf("304 with body %q, ETag %q", r.body, r.header.Get("ETag"))
			}
		})
	}

	head := e.send(http.MethodHead, "/team/index.yaml", nil)
	if head.status != http.StatusOK || head.header.Get("ETag") != etag || head.header.Get("Content-Length") != plain.header.Get("Content-Length") {
		t.Fatalf("HEAD: %d %v", head.status, head.header)
	}

	// Read-your-writes: the upload that answered 201 is in the very next GET, whose ETag changed.
	e.mustUpload("team", charttest.Archive(t, "myapp", "1.1.0", ""))
	r := e.get("/team/index.yaml", "If-None-Match", etag)
	if r.status != http.StatusOK || r.header.Get("ETag") == etag {
		t.Fatalf("after upload: %d ETag %q", r.status, r.header.Get("ETag"))
	}
	if got := parseIndex(t, r.body).versionsOf("myapp"); !reflect.DeepEqual(got, []string{"1.1.0", "1.0.0"}) {
		t.Fatalf("after upload: %v", got)
	}
}

func TestIndexCacheReusesRendering(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	e.mustUpload("team", charttest.Archive(t, "myapp", "1.0.0", ""))
	d1, err := e.handler.indexDoc(ctx, "team", false)
	if err != nil {
		t.Fatal(err)
	}
	d2, _ := e.handler.indexDoc(ctx, "team", false)
	if d1 != d2 {
		t.Fatal("an unchanged namespace's index was rendered twice")
	}
	if g1, g2 := d1.gzipped(), d2.gzipped(); &g1[0] != &g2[0] {
		t.Fatal("gzip computed twice for one generation")
	}
	if j, _ := e.handler.indexDoc(ctx, "team", true); j == d1 {
		t.Fatal("YAML and JSON share a cache entry")
	}
	e.mustUpload("team", charttest.Archive(t, "myapp", "1.1.0", ""))
	d3, _ := e.handler.indexDoc(ctx, "team", false)
	if d3 == d1 || d3.gen <= d1.gen || d3.etag == d1.etag {
		t.Fatal("a changed namespace's index was not rebuilt")
	}
	if e.upload("team", charttest.Archive(t, "myapp", "1.1.0", "other bytes")).status != http.StatusConflict {
		t.Fatal("conflicting upload accepted")
	}
	if d4, _ := e.handler.indexDoc(ctx, "team", false); d4 != d3 {
		t.Fatal("a refused upload invalidated the index")
	}
}

func TestIndexCacheIsBounded(t *testing.T) {
	e := newEnv(t, Options{IndexCacheBytes: 3000})
	ctx := context.Background()
	for _, ns := range []string{"a", "b", "c", "d", "e"} {
		e.mustUpload(ns, charttest.Archive(t, "myapp", "1.0.0", ""))
		d, err := e.handler.indexDoc(ctx, ns, false)
		if err != nil {
			t.Fatal(err)
		}
		d.gzipped()
		if n, size := e.handler.index.stats(); size > 3000 || n == 0 {
			t.Fatalf("after %s: %d entries, %d bytes", ns, n, size)
		}
	}
	// Evicted or not, every namespace still answers.
	for _, ns := range []string{"a", "e"} {
		if r := e.get("/" + ns + "/index.yaml"); r.status != http.StatusOK || len(parseIndex(t, r.body).Entries) != 1 {
			t.Fatalf("%s: %d", ns, r.status)
		}
	}

	off := newEnv(t, Options{IndexCacheBytes: -1})
	off.mustUpload("team", charttest.Archive(t, "myapp", "1.0.0", ""))
	if r := off.get("/team/index.yaml"); r.status != http.StatusOK || len(parseIndex(t, r.body).Entries) != 1 {
		t.Fatalf("cache off: %d", r.status)
	}
	if n, _ := off.handler.index.stats(); n != 0 {
		t.Fatalf("cache off holds %d entries", n)
	}
}

func TestIndexAfterRestart(t *testing.T) {
	e := newEnv(t, Options{})
	e.mustUpload("team", charttest.Archive(t, "myapp", "1.0.0", ""))
	before := e.get("/team/index.yaml")
	e.start(Options{})
	after := e.get("/team/index.yaml")
	if after.status != http.StatusOK || !bytes.Equal(after.body, before.body) || after.header.Get("ETag") != before.header.Get("ETag") {
		t.Fatalf("after restart: %d, same body %v, ETag %q vs %q", after.status, bytes.Equal(after.body, before.body),
			after.header.Get("ETag"), before.header.Get("ETag"))
	}
}

func TestIndexNeedsCredentials(t *testing.T) {
	e := newEnv(t, Options{})
	r := e.get("/team/index.yaml", "Authorization", "")
	if r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("%d %v", r.status, r.header)
	}
	r.errorMessage(t)
}
