package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestRepoConcurrentUploads races 20 uploads of one name and version with different bytes:
// exactly one wins (201), the others get 409, and the index lists the winner's digest.
func TestRepoConcurrentUploads(t *testing.T) {
	srv := StartServer(t)
	c := adminClient(srv)
	const n = 20
	archives := make([][]byte, n)
	for i := range archives {
		archives[i] = repoArchive(t, "myapp", "3.0.0", strings.Repeat("x", i+1))
	}
	statuses := make([]int, n)
	bodies := make([]string, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range archives {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			resp, body, err := c.do("POST", "/api/team/charts", archives[i], map[string]string{"Content-Type": "application/gzip"})
			if err != nil {
				t.Error(err)
				return
			}
			statuses[i], bodies[i] = resp.StatusCode, string(body)
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
		case s == http.StatusConflict:
			if !strings.Contains(bodies[i], `"error"`) {
				t.Errorf("409 without an error body: %s", bodies[i])
			}
		default:
			t.Fatalf("upload %d: %d %s", i, s, bodies[i])
		}
	}
	if winner < 0 {
		t.Fatal("no upload won")
	}
	idx := repoGetIndex(t, c, "team")
	if v := idx.Entries["myapp"]; len(v) != 1 || v[0].Digest != sha256Hex(archives[winner]) {
		t.Fatalf("index lists %+v; want only the winner's digest %s", v, sha256Hex(archives[winner]))
	}
	if !bytes.Equal(repoGet(t, c, "/team/charts/myapp-3.0.0.tgz", http.StatusOK), archives[winner]) {
		t.Fatal("the download is not the winner's archive")
	}
}

// TestRepoChartMuseumAPI checks the upload API as scripts and helm cm-push use it: status
// codes, JSON bodies, immutability (?force included), delete with its tombstone, the root
// namespace, index caching headers, and an index that survives a restart unchanged.
func TestRepoChartMuseumAPI(t *testing.T) {
	srv := StartServer(t)
	c := adminClient(srv)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	v1 := write("myapp-1.0.0.tgz", repoArchive(t, "myapp", "1.0.0", ""))
	v1changed := write("changed.tgz", repoArchive(t, "myapp", "1.0.0", "changed"))

	type call struct {
		name        string
		method      string
		path        string
		body        []byte
		contentType string
		status      int
		want        string // the body, or a fragment of it
	}
	cmPush, cmType := repoMultipart(t, map[string]string{"chart": v1}) // as helm cm-push sends it
	changedPush, changedCT := repoMultipart(t, map[string]string{"chart": v1changed})
	root := repoArchive(t, "rootchart", "0.1.0", "")
	calls := []call{
		{"anonymous upload", "POST", "/api/team/charts", nil, "", http.StatusUnauthorized, `"error"`},
		{"cm-push upload", "POST", "/api/team/charts", cmPush, cmType, http.StatusCreated, `{"saved":true}`},
		{"again", "POST", "/api/team/charts", cmPush, cmType, http.StatusConflict, `"error"`},
		{"changed, --force", "POST", "/api/team/charts?force", changedPush, changedCT, http.StatusConflict, "immutable"},
		{"not gzip", "POST", "/api/team/charts", []byte("hello"), "application/octet-stream", http.StatusBadRequest, "gzip"},
		{"list", "GET", "/api/team/charts", nil, "", http.StatusOK, `"myapp":[{`},
		{"chart", "GET", "/api/team/charts/myapp", nil, "", http.StatusOK, `"urls":["charts/myapp-1.0.0.tgz"]`},
		{"version", "GET", "/api/team/charts/myapp/1.0.0", nil, "", http.StatusOK, `"digest":"` + fileSHA256(t, v1) + `"`},
		{"head version", "HEAD", "/api/team/charts/myapp/1.0.0", nil, "", http.StatusOK, ""},
		{"unknown chart", "GET", "/api/team/charts/nope", nil, "", http.StatusNotFound, `"error"`},
		{"delete", "DELETE", "/api/team/charts/myapp/1.0.0", nil, "", http.StatusOK, `{"deleted":true}`},
		{"deleted", "GET", "/team/charts/myapp-1.0.0.tgz", nil, "", http.StatusNotFound, `"error"`},
		{"other bytes after delete", "POST", "/api/team/charts", changedPush, changedCT, http.StatusConflict, "deleted"},
		{"same bytes after delete", "POST", "/api/team/charts", cmPush, cmType, http.StatusCreated, `{"saved":true}`},
		{"root namespace upload", "POST", "/api/charts", root, "application/gzip", http.StatusCreated, `{"saved":true}`},
		{"root namespace list", "GET", "/api/charts", nil, "", http.StatusOK, `"rootchart":[{`},
		{"root namespace index", "GET", "/index.yaml", nil, "", http.StatusOK, "rootchart-0.1.0.tgz"},
		{"root namespace archive", "GET", "/charts/rootchart-0.1.0.tgz", nil, "", http.StatusOK, ""},
	}
	for _, k := range calls {
		cl := c
		if k.status == http.StatusUnauthorized {
			cl = newOCIClient(srv, "", "")
		}
		var hdr map[string]string
		if k.contentType != "" {
			hdr = map[string]string{"Content-Type": k.contentType}
		}
		resp, body, err := cl.do(k.method, k.path, k.body, hdr)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != k.status || !strings.Contains(string(body), k.want) {
			t.Fatalf("%s: %s %s = %d %s; want %d with %q", k.name, k.method, k.path, resp.StatusCode, body, k.status, k.want)
		}
		if resp.StatusCode >= 400 && k.method != "HEAD" && resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: error Content-Type %q", k.name, resp.Header.Get("Content-Type"))
		}
	}

	t.Log("the index: strong ETag, 304, gzip, Last-Modified, no-cache")
	resp, plain, _ := c.do("GET", "/team/index.yaml", nil, map[string]string{"Accept-Encoding": "identity"})
	etag := resp.Header.Get("ETag")
	if etag == "" || strings.HasPrefix(etag, "W/") || resp.Header.Get("Last-Modified") == "" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("index headers: %v", resp.Header)
	}
	if resp, _, _ := c.do("GET", "/team/index.yaml", nil, map[string]string{"If-None-Match": etag, "Accept-Encoding": "identity"}); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", resp.StatusCode)
	}
	resp, zipped, _ := c.do("GET", "/team/index.yaml", nil, map[string]string{"Accept-Encoding": "gzip"})
	zr, err := gzip.NewReader(bytes.NewReader(zipped))
	if err != nil || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip: %v %v", err, resp.Header)
	}
	if unzipped, _ := io.ReadAll(zr); !bytes.Equal(unzipped, plain) {
		t.Fatal("the gzip index differs from the plain one")
	}

	t.Log("after a restart the index is the same, with the same ETag")
	srv.Stop()
	srv.Restart()
	resp, again, _ := c.do("GET", "/team/index.yaml", nil, map[string]string{"Accept-Encoding": "identity"})
	if !bytes.Equal(again, plain) || resp.Header.Get("ETag") != etag {
		t.Fatalf("after restart: same body %v, ETag %q vs %q", bytes.Equal(again, plain), resp.Header.Get("ETag"), etag)
	}
	var list map[string][]repoIndexVersion
	if err := json.Unmarshal(repoGet(t, c, "/api/team/charts", http.StatusOK), &list); err != nil || len(list["myapp"]) != 1 {
		t.Fatalf("list after restart: %v %v", list, err)
	}
}
