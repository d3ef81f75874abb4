package registry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"

	"github.com/chartroom/chartroom/internal/blob/fs"
	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/meta"
)

func newTestRegistry(t *testing.T, opts Options) *Registry {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := meta.OpenSQLite(ctx, filepath.Join(dir, "chartroom.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := fs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(ctx, db, store, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// archive builds a chart .tgz with the given Chart.yaml fields and one extra file.
func archive(t *testing.T, name, version, extra string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	files := map[string]string{
		"Chart.yaml":          fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\nappVersion: \"1.0\"\n", name, version),
		"values.yaml":         "replicas: 1\n",
		"templates/cm.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
		"templates/NOTES.txt": extra,
	}
	for _, n := range []string{"Chart.yaml", "values.yaml", "templates/cm.yaml", "templates/NOTES.txt"} {
		body := files[n]
		if err := tw.WriteHeader(&tar.Header{Name: name + "/" + n, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestPublishChartIsVisibleOverOCI(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t, Options{})
	tgz := archive(t, "myapp", "1.4.2", "first")
	c, err := r.PublishChart(ctx, PublishChartRequest{Namespace: "team/charts", Archive: bytes.NewReader(tgz), FileName: "myapp-1.4.2.tgz", Actor: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(tgz)
	if c.ChartDigest.Encoded() != hex.EncodeToString(sum[:]) || c.Repository != "team/charts/myapp" {
		t.Fatalf("published %+v", c)
	}
	m, err := r.GetManifest(ctx, "team/charts/myapp", "1.4.2", true)
	if err != nil || m.Digest != c.ManifestDigest || m.ConfigMediaType != chart.ConfigMediaType {
		t.Fatalf("manifest by tag: %+v %v", m, err)
	}
	rc, size, _, err := r.OpenChart(ctx, "team/charts", "myapp", "1.4.2", false)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, tgz) || size != int64(len(tgz)) {
		t.Fatal("archive bytes differ from the upload")
	}
	entries, state, err := r.IndexEntries(ctx, "team/charts", meta.IndexYAML, 0)
	if err != nil || len(entries) != 1 || state.Generation != 1 || len(entries[0].Entry) == 0 {
		t.Fatalf("index entries %+v state %+v err %v", entries, state, err)
	}

	// Same bytes again: accepted. Different bytes: refused, naming the existing digest.
	if _, err := r.PublishChart(ctx, PublishChartRequest{Namespace: "team/charts", Archive: bytes.NewReader(tgz)}); err != nil {
		t.Fatalf("identical re-upload: %v", err)
	}
	_, err = r.PublishChart(ctx, PublishChartRequest{Namespace: "team/charts", Archive: bytes.NewReader(archive(t, "myapp", "1.4.2", "changed"))})
	if !errors.Is(err, ErrImmutable) || !bytes.Contains([]byte(err.Error()), []byte(c.ChartDigest.String())) {
		t.Fatalf("changed re-upload: %v", err)
	}

	// Delete leaves a tombstone.
	if err := r.DeleteChartVersion(ctx, "team/charts", "myapp", "1.4.2"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := r.OpenChart(ctx, "team/charts", "myapp", "1.4.2", false); !errors.Is(err, ErrChartUnknown) {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := r.PublishChart(ctx, PublishChartRequest{Namespace: "team/charts", Archive: bytes.NewReader(archive(t, "myapp", "1.4.2", "changed"))}); !errors.Is(err, ErrImmutable) {
		t.Fatalf("different bytes after delete: %v", err)
	}
}

func TestPublishChartRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t, Options{})
	good := archive(t, "myapp", "1.0.0", "")
	cases := []struct {
		name string
		req  PublishChartRequest
		want error
	}{
		{"empty body", PublishChartRequest{Archive: bytes.NewReader(nil)}, ErrChartInvalid},
		{"not gzip", PublishChartRequest{Archive: bytes.NewReader([]byte("hello"))}, ErrChartInvalid},
		{"truncated", PublishChartRequest{Archive: bytes.NewReader(good[:len(good)/2])}, ErrChartInvalid},
		{"non-semver version", PublishChartRequest{Archive: bytes.NewReader(archive(t, "myapp", "v1.0", ""))}, ErrChartInvalid},
		{"file name of another chart", PublishChartRequest{Archive: bytes.NewReader(good), FileName: "other-1.0.0.tgz"}, ErrChartInvalid},
		{"prov that is no signed message", PublishChartRequest{Archive: bytes.NewReader(good), Prov: []byte("not a prov")}, ErrChartInvalid},
		{"bad namespace", PublishChartRequest{Namespace: "Team/../x", Archive: bytes.NewReader(good)}, ErrNameInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Namespace = map[bool]string{true: tc.req.Namespace, false: "team"}[tc.req.Namespace != ""]
			if _, err := r.PublishChart(ctx, tc.req); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if repos, _ := r.Catalog(ctx, 0, ""); len(repos) != 0 {
		t.Fatalf("refused uploads left repositories behind: %v", repos)
	}
}

func TestConcurrentPublishOneWinner(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t, Options{})
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	archives := make([][]byte, n)
	for i := range archives {
		archives[i] = archive(t, "myapp", "2.0.0", fmt.Sprint("variant ", i))
	}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = r.PublishChart(ctx, PublishChartRequest{Namespace: "team", Archive: bytes.NewReader(archives[i])})
		}(i)
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("two winners: %d and %d", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, ErrImmutable):
			t.Fatalf("upload %d: %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no winner")
	}
	entries, _, _ := r.IndexEntries(ctx, "team", meta.IndexYAML, 0)
	sum := sha256.Sum256(archives[winner])
	if len(entries) != 1 || entries[0].ChartDigest.Encoded() != hex.EncodeToString(sum[:]) {
		t.Fatalf("index lists %+v, want the winner's digest", entries)
	}
}

func TestPublishChartRefuseExisting(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t, Options{})
	tgz := archive(t, "myapp", "1.0.0", "")
	req := func() PublishChartRequest {
		return PublishChartRequest{Namespace: "team", Archive: bytes.NewReader(tgz), RefuseExisting: true}
	}
	if _, err := r.PublishChart(ctx, req()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.PublishChart(ctx, req()); !errors.Is(err, ErrVersionExists) {
		t.Fatalf("identical re-upload with RefuseExisting: %v", err)
	}
	state, _ := r.NamespaceState(ctx, "team")
	if state.Generation != 1 {
		t.Fatalf("refused re-upload changed the namespace: generation %d", state.Generation)
	}
	// After a delete the tombstone lets exactly these bytes back.
	if err := r.DeleteChartVersion(ctx, "team", "myapp", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.PublishChart(ctx, req()); err != nil {
		t.Fatalf("re-publish of the same bytes after delete: %v", err)
	}
}
