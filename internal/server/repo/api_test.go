package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/chart/charttest"
)

// chartVersionJSON is the fields of ChartMuseum's chart version object the tests look at.
type chartVersionJSON struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	AppVersion string   `json:"appVersion"`
	APIVersion string   `json:"apiVersion"`
	URLs       []string `json:"urls"`
	Digest     string   `json:"digest"`
	Created    string   `json:"created"`
}

func TestAPIReads(t *testing.T) {
	for _, ns := range []string{"", "team/charts"} {
		t.Run("namespace "+ns, func(t *testing.T) {
			e := newEnv(t, Options{})
			archives := map[string][]byte{}
			for _, v := range []string{"1.0.0", "2.0.0-rc.1", "1.1.0"} {
				archives[v] = charttest.Archive(t, "myapp", v, "")
				e.mustUpload(ns, archives[v])
			}
			e.mustUpload(ns, charttest.Archive(t, "another", "0.1.0", ""))
			e.mustUpload(ns, charttest.Archive(t, "zeta", "0.1.0", ""))

			var all map[string][]chartVersionJSON
			r := e.get(apiPath(ns, "charts"))
			if err := json.Unmarshal(r.body, &all); err != nil || r.status != http.StatusOK {
				t.Fatalf("%d %s: %v", r.status, r.body, err)
			}
			if len(all) != 3 || len(all["myapp"]) != 3 {
				t.Fatalf("list: %s", r.body)
			}
			first := all["myapp"][0]
			want := chartVersionJSON{Name: "myapp", Version: "2.0.0-rc.1", AppVersion: "app-2.0.0-rc.1", APIVersion: "v2",
				URLs: []string{"charts/myapp-2.0.0-rc.1.tgz"}, Digest: sha256Hex(archives["2.0.0-rc.1"]), Created: first.Created}
			if !reflect.DeepEqual(first, want) || first.Created == "" {
				t.Fatalf("first version %+v, want %+v", first, want)
			}

			var page map[string][]chartVersionJSON
			json.Unmarshal(e.get(apiPath(ns, "charts?offset=1&limit=1")).body, &page)
			if len(page) != 1 || len(page["myapp"]) != 3 {
				t.Fatalf("offset=1 limit=1: %v", page)
			}
			for _, q := range []string{"offset=-1", "limit=0", "limit=x"} {
				if r := e.get(apiPath(ns, "charts?"+q)); r.status != http.StatusBadRequest {
					t.Fatalf("%s: %d", q, r.status)
				}
			}

			var versions []chartVersionJSON
			json.Unmarshal(e.get(apiPath(ns, "charts/myapp")).body, &versions)
			if len(versions) != 3 || versions[0].Version != "2.0.0-rc.1" || versions[2].Version != "1.0.0" || !reflect.DeepEqual(versions[0], first) {
				t.Fatalf("chart: %+v", versions)
			}
			var one chartVersionJSON
			json.Unmarshal(e.get(apiPath(ns, "charts/myapp/1.1.0")).body, &one)
			if !reflect.DeepEqual(one, versions[1]) {
				t.Fatalf("version: %+v, want %+v", one, versions[1])
			}
			json.Unmarshal(e.get(apiPath(ns, "charts/myapp/latest")).body, &one)
			if one.Version != "1.1.0" {
				t.Fatalf("latest is %s, want the highest stable 1.1.0", one.Version)
			}

			statuses := []struct {
				method, path string
				status       int
			}{
				{"HEAD", apiPath(ns, "charts/myapp"), http.StatusOK},
				{"HEAD", apiPath(ns, "charts/nope"), http.StatusNotFound},
				{"HEAD", apiPath(ns, "charts/myapp/1.0.0"), http.StatusOK},
				{"HEAD", apiPath(ns, "charts/myapp/9.9.9"), http.StatusNotFound},
				{"GET", apiPath(ns, "charts/nope"), http.StatusNotFound},
				{"GET", apiPath(ns, "charts/myapp/9.9.9"), http.StatusNotFound},
				{"HEAD", nsPath(ns, "charts/myapp-1.0.0.tgz"), http.StatusOK},
				{"HEAD", nsPath(ns, "charts/myapp-1.0.0.tgz.prov"), http.StatusNotFound},
				{"GET", nsPath(ns, "charts/myapp-9.9.9.tgz"), http.StatusNotFound},
			}
			for _, s := range statuses {
				r := e.send(s.method, s.path, nil)
				if r.status != s.status {
					t.Errorf("%s %s: %d, want %d", s.method, s.path, r.status, s.status)
				}
				if s.method == "HEAD" && len(r.body) != 0 {
					t.Errorf("%s %s: a body", s.method, s.path)
				}
				if s.method == "GET" && s.status != http.StatusOK {
					r.errorMessage(t)
				}
			}
		})
	}
}

func TestAPIDeleteLeavesTombstone(t *testing.T) {
	e := newEnv(t, Options{})
	archive := charttest.Archive(t, "myapp", "1.0.0", "")
	e.mustUpload("team", archive)
	e.mustUpload("team", charttest.Archive(t, "myapp", "1.1.0", ""))

	if r := e.send("DELETE", "/api/team/charts/myapp/1.0.0", nil, "Authorization", ""); r.status != http.StatusUnauthorized {
		t.Fatalf("anonymous delete: %d", r.status)
	}
	if r := e.send("DELETE", "/api/team/charts/myapp/latest", nil); r.status != http.StatusBadRequest {
		t.Fatalf("delete latest: %d", r.status)
	}
	r := e.send("DELETE", "/api/team/charts/myapp/1.0.0", nil)
	if r.status != http.StatusOK || string(bytes.TrimSpace(r.body)) != `{"deleted":true}` {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := e.send("DELETE", "/api/team/charts/myapp/1.0.0", nil); r.status != http.StatusNotFound {
		t.Fatalf("delete again: %d", r.status)
	}
	if got := parseIndex(t, e.get("/team/index.yaml").body).versionsOf("myapp"); !reflect.DeepEqual(got, []string{"1.1.0"}) {
		t.Fatalf("index after delete: %v", got)
	}
	if r := e.get("/team/charts/myapp-1.0.0.tgz"); r.status != http.StatusNotFound {
		t.Fatalf("download after delete: %d", r.status)
	}
	if r := e.upload("team", charttest.Archive(t, "myapp", "1.0.0", "new bytes")); r.status != http.StatusConflict {
		t.Fatalf("other bytes after delete: %d %s", r.status, r.body)
	}
	e.mustUpload("team", archive) // the tombstone lets the same bytes back
	if got := parseIndex(t, e.get("/team/index.yaml").body).versionsOf("myapp"); !reflect.DeepEqual(got, []string{"1.1.0", "1.0.0"}) {
		t.Fatalf("index after re-upload: %v", got)
	}
}

func TestAPIUploadIsTheOCIArtifact(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	key := charttest.NewSigner(t, "Chart Signer")
	archive := charttest.Archive(t, "myapp", "1.0.0", "")
	prov := key.Sign(t, archive, "myapp-1.0.0.tgz")
	body, ct := multipartBody(t, "chart", "myapp-1.0.0.tgz", archive, "prov", "myapp-1.0.0.tgz.prov", prov)
	if r := e.send("POST", "/api/team/charts", body, "Content-Type", ct); r.status != http.StatusCreated {
		t.Fatalf("%d %s", r.status, r.body)
	}
	m, err := e.reg.GetManifest(ctx, "team/myapp", "1.0.0", true)
	if err != nil {
		t.Fatal(err)
	}
	var doc ocispec.Manifest
	if err := json.Unmarshal(m.Content, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Config.MediaType != chart.ConfigMediaType || len(doc.Layers) != 2 {
		t.Fatalf("manifest %s", m.Content)
	}
	for _, l := range doc.Layers {
		rc, _, err := e.reg.OpenBlob(ctx, "team/myapp", l.Digest, 0)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		switch l.MediaType {
		case chart.ChartLayerMediaType:
			if !bytes.Equal(b, archive) || l.Digest.Encoded() != sha256Hex(archive) {
				t.Fatal("chart layer differs from the upload")
			}
		case chart.ProvLayerMediaType:
			if !bytes.Equal(b, prov) {
				t.Fatal("provenance layer differs from the upload")
			}
		default:
			t.Fatalf("layer %s", l.MediaType)
		}
	}
	dl := e.get("/team/charts/myapp-1.0.0.tgz")
	if dl.header.Get("ETag") != `"sha256:`+sha256Hex(archive)+`"` {
		t.Fatalf("archive ETag %q", dl.header.Get("ETag"))
	}
	if r := e.get("/team/charts/myapp-1.0.0.tgz", "If-None-Match", dl.header.Get("ETag")); r.status != http.StatusNotModified {
		t.Fatalf("archive revalidation: %d", r.status)
	}
	if !strings.Contains(dl.header.Get("Cache-Control"), "immutable") {
		t.Fatalf("archive Cache-Control %q", dl.header.Get("Cache-Control"))
	}
}
