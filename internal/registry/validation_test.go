package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/chart/charttest"
)

// zeroChart is the audit's archive: a valid chart whose n files of size zero bytes make
// about 100 KB compressed and 95 MiB decompressed for n = 19, size = 5 MiB (each file under
// the 5 MiB per-file limit, the whole under the 100 MiB total).
func zeroChart(t *testing.T, name, version string, n int, size int64) []byte {
	t.Helper()
	entries := []charttest.Entry{{Name: name + "/Chart.yaml", Body: fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\n", name, version)}}
	for i := range n {
		entries = append(entries, charttest.Entry{Name: fmt.Sprintf("%s/templates/zeros-%02d.txt", name, i), Size: size})
	}
	return charttest.Tgz(t, entries...)
}

// allocated returns the bytes f allocates on the heap (the whole process's: the test must
// not run in parallel with others).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestValidationMemory: publishing the audit's archive, over the upload API's path and as an
// OCI manifest, allocates a few MiB, not the 95 MiB it decompresses to. Before validation
// streamed, each of these held the whole decompressed chart, and twelve concurrent uploads
// took the server past a GiB.
func TestValidationMemory(t *testing.T) {
	const budget = 8 << 20
	ctx := context.Background()
	r := newTestRegistry(t, Options{})

	tgz := zeroChart(t, "big", "1.0.0", 19, 5<<20)
	if len(tgz) > 200<<10 {
		t.Fatalf("the test archive has %d bytes, want about 100 KB", len(tgz))
	}
	var err error
	got := allocated(func() {
		_, err = r.publishBytes(ctx, tgz, PublishChartRequest{Namespace: "team", Actor: "admin"})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("PublishChart of a %d-byte archive that decompresses to 95 MiB allocated %d KiB", len(tgz), got>>10)
	if got > budget {
		t.Errorf("PublishChart allocated %d bytes for a %d-byte archive, want under %d: validation holds the decompressed content", got, len(tgz), budget)
	}

	// helm push: config and chart layer first, then the manifest, whose PUT validates the layer.
	const repo = "team/big2"
	tgz = zeroChart(t, "big2", "1.0.0", 19, 5<<20)
	config := []byte(`{"apiVersion":"v2","name":"big2","version":"1.0.0"}`)
	layer := ocispec.Descriptor{MediaType: chart.ChartLayerMediaType, Digest: digest.FromBytes(tgz), Size: int64(len(tgz))}
	cfg := ocispec.Descriptor{MediaType: chart.ConfigMediaType, Digest: digest.FromBytes(config), Size: int64(len(config))}
	for _, b := range []struct {
		d    ocispec.Descriptor
		data []byte
	}{{layer, tgz}, {cfg, config}} {
		if _, err := r.PutBlob(ctx, repo, b.d.Digest, b.d.Size, bytes.NewReader(b.data)); err != nil {
			t.Fatal(err)
		}
	}
	manifest, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{layer}})
	got = allocated(func() {
		_, err = r.PutManifest(ctx, PutManifestRequest{Repository: repo, Reference: "1.0.0", ContentType: ocispec.MediaTypeImageManifest, Body: manifest, Actor: "admin"})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("PutManifest of a chart whose %d-byte layer decompresses to 95 MiB allocated %d KiB", len(tgz), got>>10)
	if got > budget {
		t.Errorf("PutManifest allocated %d bytes for a %d-byte chart layer, want under %d: validation holds the decompressed content", got, len(tgz), budget)
	}
}

// TestValidationWaitsForASlot: with every validation slot taken, a publish waits, and gives
// up when its context ends, storing nothing.
func TestValidationWaitsForASlot(t *testing.T) {
	r := newTestRegistry(t, Options{})
	for i := 0; i < cap(r.validations); i++ {
		r.validations <- struct{}{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tgz := charttest.Archive(t, "myapp", "1.0.0", "")
	_, err := r.publishBytes(ctx, tgz, PublishChartRequest{Namespace: "team"})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrChartInvalid) || !strings.Contains(err.Error(), "waiting for a validation slot") {
		t.Fatalf("publish with every slot taken and a cancelled context: %v, want context.Canceled", err)
	}
	if repos, _ := r.Catalog(context.Background(), 0, ""); len(repos) != 0 {
		t.Fatalf("a publish that never validated left repositories behind: %v", repos)
	}
	for i := 0; i < cap(r.validations); i++ {
		<-r.validations
	}
	if _, err := r.publishBytes(context.Background(), tgz, PublishChartRequest{Namespace: "team"}); err != nil {
		t.Fatalf("publish once slots are free: %v", err)
	}
	if len(r.validations) != 0 {
		t.Fatalf("%d validation slots still taken after the publish", len(r.validations))
	}
}
