package client

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
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
)

// A hostile repository: its index.yaml or its charts hold YAML alias bombs (one 1 MiB
// anchored string, 3,000 aliases: a few KB that sigs.k8s.io/yaml would expand to 3 GiB and
// more). Pull, dependency build and the index reader refuse them with a clear error, in
// little memory. The server is an httptest server serving files, as any web server holding
// a classic repository would.

// aliasBomb is the audit's YAML: a 1 MiB string anchored once and aliased 3,000 times.
func aliasBomb(prefix string) string {
	var b strings.Builder
	b.WriteString(prefix)
	fmt.Fprintf(&b, "bomb: &bomb %q\nbombs:\n", strings.Repeat("x", 1<<20))
	for i := 0; i < 3000; i++ {
		b.WriteString("- *bomb\n")
	}
	return b.String()
}

// bombChart is a chart archive whose values.yaml is an alias bomb.
func bombChart(t *testing.T, name, version string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range [][2]string{
		{"Chart.yaml", "apiVersion: v2\nname: " + name + "\nversion: " + version + "\n"},
		{"values.yaml", aliasBomb("")},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: name + "/" + f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f[1]))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// hostileRepo serves files (path → body) as a classic chart repository.
func hostileRepo(t *testing.T, files map[string][]byte) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// repoWithBombChart serves an ordinary index.yaml listing bomb 1.0.0, whose archive is an
// alias bomb.
func repoWithBombChart(t *testing.T) string {
	tgz := bombChart(t, "bomb", "1.0.0")
	if len(tgz) > 8<<10 {
		t.Fatalf("the bomb archive has %d bytes; the attack needs only a few KB", len(tgz))
	}
	sum := sha256.Sum256(tgz)
	index := "apiVersion: v1\nentries:\n  bomb:\n  - name: bomb\n    version: 1.0.0\n    digest: " + hex.EncodeToString(sum[:]) +
		"\n    urls:\n    - charts/bomb-1.0.0.tgz\ngenerated: \"2026-01-01T00:00:00Z\"\n"
	return hostileRepo(t, map[string][]byte{"/index.yaml": []byte(index), "/charts/bomb-1.0.0.tgz": tgz})
}

func TestPullRefusesAliasBombChart(t *testing.T) {
	repo := repoWithBombChart(t)
	c := newTestEnv(t).client(t, Options{})
	ref, err := c.ParseChartRef([]string{repo, "bomb"}, "")
	if err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	_, err = c.Pull(context.Background(), ref, PullOptions{Version: "1.0.0", DestDir: dest})
	oneLineError(t, err, nil, "bomb-1.0.0.tgz", "is not a valid chart archive", "values.yaml", "aliases")
	if names := listDir(t, dest); len(names) != 0 {
		t.Errorf("a refused pull left %v behind", names)
	}
}

func TestDependencyBuildRefusesAliasBombChart(t *testing.T) {
	repo := repoWithBombChart(t)
	c := newTestEnv(t).client(t, Options{})
	ctx := context.Background()
	app := testChart(t, t.TempDir(), "app", "1.0.0", "  - name: bomb\n    version: 1.0.0\n    repository: "+repo+"\n", "x")
	if _, err := c.Lock(ctx, app); err != nil {
		t.Fatal(err)
	}
	_, err := c.BuildDependencies(ctx, app, BuildOptions{})
	oneLineError(t, err, nil, "bomb-1.0.0.tgz", "is not a valid chart archive", "aliases")
	entries, _ := os.ReadDir(filepath.Join(app, "charts"))
	for _, e := range entries {
		t.Errorf("a refused build left charts/%s behind", e.Name())
	}
}

func TestIndexReaderRefusesAliasBomb(t *testing.T) {
	index := aliasBomb("apiVersion: v1\nentries:\n  app:\n  - name: app\n    version: 1.0.0\n    urls: [charts/app-1.0.0.tgz]\n")
	repo := hostileRepo(t, map[string][]byte{"/index.yaml": []byte(index)})
	c := newTestEnv(t).client(t, Options{})
	ref, err := c.ParseChartRef([]string{repo, "app"}, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Pull(context.Background(), ref, PullOptions{DestDir: t.TempDir()})
	oneLineError(t, err, nil, repo+"/index.yaml is not a chart repository index", "aliases")
}
