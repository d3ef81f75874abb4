package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chartroom/chartroom/internal/blob/blobtest"
	"github.com/chartroom/chartroom/internal/blob/fs"
	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/meta/metatest"
)

func newTestRegistry(t *testing.T, opts Options) *Registry {
	t.Helper()
	return openRegistry(t, t.TempDir(), nil, opts)
}

// openRegistry opens a registry over dir's database and blob store (a restart when they
// exist), with the blob store on clock (nil: the real one).
func openRegistry(t *testing.T, dir string, clock *blobtest.Clock, opts Options) *Registry {
	t.Helper()
	ctx := context.Background()
	db := metatest.Open(t, dir)
	var fsOpts fs.Options
	if clock != nil {
		fsOpts.Now = clock.Now
	}
	store, err := fs.NewWithOptions(filepath.Join(dir, "blobs"), fsOpts)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(ctx, db, store, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// publishBytes receives archive and publishes it with req, as the classic API does.
func (r *Registry) publishBytes(ctx context.Context, archive []byte, req PublishChartRequest) (*ChartVersion, error) {
	up, err := r.ReceiveChart(ctx, bytes.NewReader(archive))
	if err != nil {
		return nil, err
	}
	defer up.Close()
	req.Archive = up
	return r.PublishChart(ctx, req)
}

func TestPublishChartIsVisibleOverOCI(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t, Options{})
	tgz := charttest.Archive(t, "myapp", "1.4.2", "first")
	c, err := r.publishBytes(ctx, tgz, PublishChartRequest{Namespace: "team/charts", FileName: "myapp-1.4.2.tgz", Actor: "admin"})
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
	idx, err := r.Index(ctx, "team/charts", IndexYAML, nil)
	if err != nil || len(idx.Entries) != 1 || idx.Generation != 1 || len(idx.Entries[0].YAML) == 0 {
		t.Fatalf("index %+v err %v", idx, err)
	}

	// Same bytes again: accepted. Different bytes: refused, naming the existing digest.
	if _, err := r.publishBytes(ctx, tgz, PublishChartRequest{Namespace: "team/charts"}); err != nil {
		t.Fatalf("identical re-upload: %v", err)
	}
	_, err = r.publishBytes(ctx, charttest.Archive(t, "myapp", "1.4.2", "changed"), PublishChartRequest{Namespace: "team/charts"})
	if !errors.Is(err, ErrImmutable) || !bytes.Contains([]byte(err.Error()), []byte(c.ChartDigest.String())) {
		t.Fatalf("changed re-upload: %v", err)
	}

	// Delete leaves a tombstone.
	if err := r.DeleteChartVersion(ctx, "team/charts", "myapp", "1.4.2", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := r.OpenChart(ctx, "team/charts", "myapp", "1.4.2", false); !errors.Is(err, ErrChartUnknown) {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := r.publishBytes(ctx, charttest.Archive(t, "myapp", "1.4.2", "changed"), PublishChartRequest{Namespace: "team/charts"}); !errors.Is(err, ErrImmutable) {
		t.Fatalf("different bytes after delete: %v", err)
	}
}

func TestPublishChartRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t, Options{})
	good := charttest.Archive(t, "myapp", "1.0.0", "")
	cases := []struct {
		name    string
		archive []byte
		req     PublishChartRequest
		want    error
	}{
		{"empty body", nil, PublishChartRequest{}, ErrChartInvalid},
		{"not gzip", []byte("hello"), PublishChartRequest{}, ErrChartInvalid},
		{"truncated", good[:len(good)/2], PublishChartRequest{}, ErrChartInvalid},
		{"non-semver version", charttest.Archive(t, "myapp", "v1.0", ""), PublishChartRequest{}, ErrChartInvalid},
		{"file name of another chart", good, PublishChartRequest{FileName: "other-1.0.0.tgz"}, ErrChartInvalid},
		{"prov that is no signed message", good, PublishChartRequest{Prov: []byte("not a prov")}, ErrChartInvalid},
		{"bad namespace", good, PublishChartRequest{Namespace: "Team/../x"}, ErrNameInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Namespace = map[bool]string{true: tc.req.Namespace, false: "team"}[tc.req.Namespace != ""]
			if _, err := r.publishBytes(ctx, tc.archive, tc.req); !errors.Is(err, tc.want) {
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
		archives[i] = charttest.Archive(t, "myapp", "2.0.0", fmt.Sprint("variant ", i))
	}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = r.publishBytes(ctx, archives[i], PublishChartRequest{Namespace: "team"})
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
	c, err := r.ChartVersion(ctx, "team", "myapp", "2.0.0")
	sum := sha256.Sum256(archives[winner])
	if err != nil || c.ChartDigest.Encoded() != hex.EncodeToString(sum[:]) {
		t.Fatalf("chart version %+v (%v), want the winner's digest", c, err)
	}
	if idx, _ := r.Index(ctx, "team", IndexYAML, nil); len(idx.Entries) != 1 || !strings.Contains(string(idx.Entries[0].YAML), hex.EncodeToString(sum[:])) {
		t.Fatalf("index lists %+v, want the winner's digest", idx)
	}
}

func TestPublishChartRefuseExisting(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t, Options{})
	tgz := charttest.Archive(t, "myapp", "1.0.0", "")
	req := PublishChartRequest{Namespace: "team", RefuseExisting: true}
	if _, err := r.publishBytes(ctx, tgz, req); err != nil {
		t.Fatal(err)
	}
	if _, err := r.publishBytes(ctx, tgz, req); !errors.Is(err, ErrVersionExists) {
		t.Fatalf("identical re-upload with RefuseExisting: %v", err)
	}
	state, _ := r.IndexState(ctx, "team")
	if state.Generation != 1 {
		t.Fatalf("refused re-upload changed the namespace: generation %d", state.Generation)
	}
	// After a delete the tombstone lets exactly these bytes back.
	if err := r.DeleteChartVersion(ctx, "team", "myapp", "1.0.0", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := r.publishBytes(ctx, tgz, req); err != nil {
		t.Fatalf("re-publish of the same bytes after delete: %v", err)
	}
}

// An upload is written to disk once: the file ReceiveChart spooled it to becomes the blob
// (moved into the blob store, not copied), and nothing stays in the spool directory, also
// after a refusal.
func TestUploadWrittenOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	spool := filepath.Join(dir, "tmp")
	if err := os.Mkdir(spool, 0o750); err != nil {
		t.Fatal(err)
	}
	r := openRegistry(t, dir, nil, Options{SpoolDir: spool})
	tgz := charttest.Archive(t, "myapp", "1.0.0", "")
	up, err := r.ReceiveChart(ctx, bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	spooled, err := os.Stat(up.f.Name())
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.PublishChart(ctx, PublishChartRequest{Namespace: "team", Archive: up})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := os.Stat(filepath.Join(dir, "blobs", "blobs", "sha256", c.ChartDigest.Encoded()[:2], c.ChartDigest.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(spooled, stored) {
		t.Fatal("the stored archive is a copy of the spooled upload, not the spooled file itself")
	}
	if _, err := r.publishBytes(ctx, []byte("not a chart"), PublishChartRequest{Namespace: "team"}); !errors.Is(err, ErrChartInvalid) {
		t.Fatalf("a refused upload: %v", err)
	}
	if left, _ := os.ReadDir(spool); len(left) != 0 {
		t.Fatalf("the spool directory holds %v", left)
	}
}
