package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/registry/registrytest"
)

// gcImage pushes an image manifest (one layer of its own) to repo under ref (a tag, or its
// digest for none), with subject when not nil, and returns its descriptor and layer.
func gcImage(t *testing.T, e *registrytest.Env, repo, ref, layer string, subject *ocispec.Descriptor) (ocispec.Descriptor, ocispec.Descriptor) {
	t.Helper()
	cfg := e.PushBlob(t, repo, ocispec.MediaTypeImageConfig, []byte(`{}`))
	l := e.PushBlob(t, repo, ocispec.MediaTypeImageLayer, []byte(layer))
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: cfg, Layers: []ocispec.Descriptor{l}, Subject: subject}
	if subject != nil {
		m.ArtifactType = "application/vnd.example.sbom"
	}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(body), Size: int64(len(body))}
	if ref == "" {
		ref = d.Digest.String()
	}
	if _, err := e.PutManifest(context.Background(), registry.PutManifestRequest{Repository: repo, Reference: ref,
		ContentType: ocispec.MediaTypeImageManifest, Body: body}); err != nil {
		t.Fatal(err)
	}
	return d, l
}

// gcIndex pushes an image index of children to repo under ref ("" for its digest).
func gcIndex(t *testing.T, e *registrytest.Env, repo, ref string, children ...ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	body, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: children})
	if err != nil {
		t.Fatal(err)
	}
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(body), Size: int64(len(body))}
	if ref == "" {
		ref = d.Digest.String()
	}
	if _, err := e.PutManifest(context.Background(), registry.PutManifestRequest{Repository: repo, Reference: ref,
		ContentType: ocispec.MediaTypeImageIndex, Body: body}); err != nil {
		t.Fatal(err)
	}
	return d
}

func hasManifest(t *testing.T, e *registrytest.Env, repo string, d digest.Digest) bool {
	t.Helper()
	_, err := e.GetManifest(context.Background(), repo, d.String(), false)
	if errors.Is(err, registry.ErrManifestUnknown) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func chartConfig(t *testing.T, archive []byte) []byte {
	t.Helper()
	v, err := chart.ValidateArchive(bytes.NewReader(archive), chart.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := chart.ConfigJSON(v.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGCRemovesOnlyWhatNothingNeeds: a collection removes the untagged manifests nothing
// refers to (an image, an index and its child, the manifest of a deleted chart version), the
// blobs only they used, a blob nothing ever used and an abandoned upload session, all older
// than the cutoff; it keeps what is tagged, what a kept index or a kept subject needs
// (children, referrers), live chart versions, and anything younger than the cutoff. A dry
// run removes nothing. A deleted version stays a tombstone: only its bytes come back.
func TestGCRemovesOnlyWhatNothingNeeds(t *testing.T) {
	ctx := context.Background()
	e := registrytest.New(t, registry.Options{})
	const repo = "team/app"

	live := charttest.Minimal(t, "myapp", "1.0.0", "live")
	if _, err := e.PushChart(t, "team/myapp", "1.0.0", chartConfig(t, live), live, nil); err != nil {
		t.Fatal(err)
	}
	deleted := charttest.Minimal(t, "myapp", "0.9.0", "deleted")
	if _, err := e.Publish(t, deleted, registry.PublishChartRequest{Namespace: "team"}); err != nil {
		t.Fatal(err)
	}
	deletedCV, err := e.ChartVersion(ctx, "team", "myapp", "0.9.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteChartVersion(ctx, "team", "myapp", "0.9.0", "alice"); err != nil {
		t.Fatal(err)
	}

	tagged, taggedLayer := gcImage(t, e, repo, "v1", "tagged layer", nil)
	referrer, referrerLayer := gcImage(t, e, repo, "", "sbom of v1", &tagged)
	untagged, untaggedLayer := gcImage(t, e, repo, "", "untagged layer", nil)
	orphanRef, _ := gcImage(t, e, repo, "", "sbom of nothing", &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest,
		Digest: digest.FromString("gone"), Size: 2})
	child, childLayer := gcImage(t, e, repo, "", "child of an untagged index", nil)
	index := gcIndex(t, e, repo, "", child)
	keptChild, keptChildLayer := gcImage(t, e, repo, "", "child of a tagged index", nil)
	gcIndex(t, e, repo, "multi", keptChild)
	never := e.PushBlob(t, repo, ocispec.MediaTypeImageLayer, []byte("uploaded, never used"))
	upload, err := e.StartUpload(ctx, repo, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.AppendUpload(ctx, repo, upload, 0, bytes.NewReader([]byte("abandoned"))); err != nil {
		t.Fatal(err)
	}

	cutoff := time.Now()
	young := e.PushBlob(t, repo, ocispec.MediaTypeImageLayer, []byte("uploaded after the cutoff"))
	youngImage, _ := gcImage(t, e, repo, "", "untagged, after the cutoff", nil)

	before := e.StoredFiles(t)
	dry, err := e.GC(ctx, registry.GCOptions{Cutoff: cutoff, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.StoredFiles(t); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("a dry run changed the store:\nbefore %v\nafter  %v", before, got)
	}
	// untagged, orphanRef, index and child (deleting a chart version deletes its manifest).
	if dry.Manifests != 4 || dry.Uploads != 1 || dry.Blobs != 0 || len(dry.Versions) != 0 {
		t.Fatalf("dry run: %+v", dry)
	}
	if !hasManifest(t, e, repo, untagged.Digest) {
		t.Fatal("a dry run removed a manifest")
	}

	rep, err := e.GC(ctx, registry.GCOptions{Cutoff: cutoff})
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []digest.Digest{untagged.Digest, orphanRef.Digest, index.Digest, child.Digest} {
		if hasManifest(t, e, repo, gone) {
			t.Errorf("manifest %s is still there", gone)
		}
	}
	if hasManifest(t, e, "team/myapp", deletedCV.ManifestDigest) {
		t.Error("the deleted chart version's manifest is still there")
	}
	// untagged layer, child layer, never-used blob, the deleted version's archive.
	for _, gone := range []digest.Digest{untaggedLayer.Digest, childLayer.Digest, never.Digest, deletedCV.ChartDigest} {
		if e.HasBlob(t, gone) {
			t.Errorf("blob %s is still stored", gone)
		}
	}
	for _, kept := range []digest.Digest{tagged.Digest, referrer.Digest, keptChild.Digest, youngImage.Digest} {
		if !hasManifest(t, e, repo, kept) {
			t.Errorf("manifest %s was removed", kept)
		}
	}
	for _, kept := range []digest.Digest{taggedLayer.Digest, referrerLayer.Digest, keptChildLayer.Digest, young.Digest} {
		if b, err := readBlob(t, e, repo, kept); err != nil || len(b) == 0 {
			t.Errorf("blob %s: %v", kept, err)
		}
	}
	if _, err := e.UploadOffset(ctx, repo, upload); !errors.Is(err, registry.ErrUploadUnknown) {
		t.Errorf("the abandoned upload session: %v, want it gone", err)
	}
	rc, _, _, err := e.OpenChart(ctx, "team", "myapp", "1.0.0", false)
	if err != nil {
		t.Fatalf("the live chart: %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, live) {
		t.Fatal("the live chart's archive changed")
	}
	if rep.Manifests != 4 || rep.Uploads != 1 || rep.Blobs < 5 || rep.Bytes <= 0 {
		t.Fatalf("report: %+v", rep)
	}

	// The tombstone: other bytes are refused, the same bytes come back.
	other := charttest.Minimal(t, "myapp", "0.9.0", "other bytes")
	if _, err := e.Publish(t, other, registry.PublishChartRequest{Namespace: "team"}); !errors.Is(err, registry.ErrImmutable) {
		t.Fatalf("republish of a collected version with other bytes: %v, want ErrImmutable", err)
	}
	if _, err := e.Publish(t, deleted, registry.PublishChartRequest{Namespace: "team"}); err != nil {
		t.Fatalf("republish of a collected version with its bytes: %v", err)
	}
	rc, _, _, err = e.OpenChart(ctx, "team", "myapp", "0.9.0", false)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, deleted) {
		t.Fatal("the version published again serves other bytes")
	}

	st, err := e.DB.GetGCState(ctx)
	if err != nil || st.Runs != 1 || st.ManifestsRemoved != 4 || st.BytesReclaimed != rep.Bytes || st.LastFinished.IsZero() || st.Holder != "" {
		t.Fatalf("recorded state: %+v, %v", st, err)
	}
}

// TestGCOneAtATime: while a collection holds the lease (here another process's), another
// does not start.
func TestGCOneAtATime(t *testing.T) {
	ctx := context.Background()
	e := registrytest.New(t, registry.Options{})
	if err := e.DB.AcquireGCLease(ctx, "replica-2", time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := e.GC(ctx, registry.GCOptions{}); !errors.Is(err, meta.ErrGCRunning) {
		t.Fatalf("GC while another holds the lease: %v, want ErrGCRunning", err)
	}
	if err := e.DB.ReleaseGCLease(ctx, "replica-2", time.Now(), false, meta.GCStats{}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.GC(ctx, registry.GCOptions{}); err != nil {
		t.Fatalf("GC after the lease was released: %v", err)
	}
}

// TestGCUnderConcurrentPushes: two replicas share the database and the blob store;
// collections run again and again on both (one at a time: the other is told one runs) while
// charts and images are pushed to both (some reusing the bytes of garbage the collections
// delete); then everything pushed is read back intact from both. A push may be refused only as a client retries it (the blob was being
// deleted as it was uploaded), never accepted and then lost.
func TestGCUnderConcurrentPushes(t *testing.T) {
	ctx := context.Background()
	e := registrytest.New(t, registry.Options{})
	const garbageN = 8
	for i := range garbageN {
		gcImage(t, e, "team/garbage", "", fmt.Sprintf("garbage %d", i), nil)
	}
	replicas := []*registrytest.Env{e, registrytest.Open(t, e.Dir, registry.Options{})}
	cutoff := time.Now()

	stop := make(chan struct{})
	var gcMu sync.Mutex
	var gcRuns, gcSkipped, gcErrs int
	var gcWG sync.WaitGroup
	for _, rep := range replicas {
		gcWG.Add(1)
		go func() {
			defer gcWG.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := rep.GC(ctx, registry.GCOptions{Cutoff: cutoff})
				gcMu.Lock()
				switch {
				case err == nil:
					gcRuns++
				case errors.Is(err, meta.ErrGCRunning):
					gcSkipped++
				default:
					t.Errorf("gc: %v", err)
					gcErrs++
				}
				gcMu.Unlock()
				if err != nil && !errors.Is(err, meta.ErrGCRunning) {
					return
				}
				if err != nil {
					time.Sleep(5 * time.Millisecond) // let the other replica's run go on
				}
			}
		}()
	}

	type pushed struct {
		repo, tag string
		layer     []byte
		archive   []byte // a chart: the archive served by the classic repository
	}
	const workers, perWorker = 4, 6
	results := make([][]pushed, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		e := replicas[w%len(replicas)]
		go func() {
			defer wg.Done()
			for i := range perWorker {
				var p pushed
				err := retry(func() error {
					switch i % 3 {
					case 0: // a chart over OCI
						v := fmt.Sprintf("1.%d.%d", w, i)
						archive := charttest.Minimal(t, "chart", v, "")
						p = pushed{repo: "team/chart", tag: v, archive: archive}
						_, err := pushChart(e, "team/chart", v, chartConfigNoT(archive), archive)
						return err
					case 1: // a chart over the upload API
						v := fmt.Sprintf("2.%d.%d", w, i)
						archive := charttest.Minimal(t, "uploaded", v, "")
						p = pushed{repo: "team/uploaded", tag: v, archive: archive}
						up, err := e.ReceiveChart(ctx, bytes.NewReader(archive))
						if err != nil {
							return err
						}
						defer up.Close()
						_, err = e.PublishChart(ctx, registry.PublishChartRequest{Namespace: "team", Archive: up})
						return err
					default: // an image whose layer is garbage's bytes, in another repository
						layer := []byte(fmt.Sprintf("garbage %d", (w*perWorker+i)%garbageN))
						tag := fmt.Sprintf("w%d-%d", w, i)
						p = pushed{repo: "team/images", tag: tag, layer: layer}
						return pushImage(e, "team/images", tag, layer)
					}
				})
				if err != nil {
					t.Errorf("push %d of worker %d: %v", i, w, err)
					continue
				}
				results[w] = append(results[w], p)
			}
		}()
	}
	wg.Wait()
	close(stop)
	gcWG.Wait()
	if gcErrs > 0 {
		t.FailNow()
	}
	t.Logf("%d collections ran during the pushes (%d found another running)", gcRuns, gcSkipped)
	// One more, with everything older than now collectable: it too keeps all that is tagged.
	if _, err := e.GC(ctx, registry.GCOptions{Cutoff: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for i, ps := range results {
		e := replicas[(i+1)%len(replicas)] // read from the other replica than the one pushed to
		for _, p := range ps {
			if p.archive != nil {
				ns, name := "team", map[string]string{"team/chart": "chart", "team/uploaded": "uploaded"}[p.repo]
				rc, _, _, err := e.OpenChart(ctx, ns, name, p.tag, false)
				if err != nil {
					t.Errorf("%s %s: %v", p.repo, p.tag, err)
					continue
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, p.archive) {
					t.Errorf("%s %s: archive read back differs (%v)", p.repo, p.tag, err)
				}
				continue
			}
			m, err := e.GetManifest(ctx, p.repo, p.tag, true)
			if err != nil {
				t.Errorf("%s:%s: %v", p.repo, p.tag, err)
				continue
			}
			var doc ocispec.Manifest
			if err := json.Unmarshal(m.Content, &doc); err != nil {
				t.Fatal(err)
			}
			for _, d := range append([]ocispec.Descriptor{doc.Config}, doc.Layers...) {
				b, err := readBlob(t, e, p.repo, d.Digest)
				if err != nil || digest.FromBytes(b) != d.Digest {
					t.Errorf("%s:%s blob %s: %v", p.repo, p.tag, d.Digest, err)
				}
			}
			if got, _ := readBlob(t, e, p.repo, digest.FromBytes(p.layer)); !bytes.Equal(got, p.layer) {
				t.Errorf("%s:%s: layer read back differs", p.repo, p.tag)
			}
		}
	}
}

// retry runs push again when the registry asked for it (a blob deleted by a collection as it
// was uploaded: upload unknown, or the manifest finds it missing), as a client would.
func retry(push func() error) error {
	var err error
	for range 20 {
		err = push()
		if !errors.Is(err, registry.ErrUploadUnknown) && !errors.Is(err, registry.ErrManifestBlobUnknown) {
			return err
		}
	}
	return err
}

// chartConfigNoT is chartConfig for goroutines (no t.Fatal outside the test's goroutine).
func chartConfigNoT(archive []byte) []byte {
	v, err := chart.ValidateArchive(bytes.NewReader(archive), chart.Limits{})
	if err != nil {
		return nil
	}
	b, _ := chart.ConfigJSON(v.Metadata)
	return b
}

func putBlob(e *registrytest.Env, repo, mediaType string, data []byte) (ocispec.Descriptor, error) {
	d := digest.FromBytes(data)
	_, err := e.PutBlob(context.Background(), repo, d, int64(len(data)), bytes.NewReader(data))
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}, err
}

func pushChart(e *registrytest.Env, repo, tag string, config, archive []byte) (*registry.PutManifestResult, error) {
	cfg, err := putBlob(e, repo, chart.ConfigMediaType, config)
	if err != nil {
		return nil, err
	}
	layer, err := putBlob(e, repo, chart.ChartLayerMediaType, archive)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: cfg, Layers: []ocispec.Descriptor{layer}})
	return e.PutManifest(context.Background(), registry.PutManifestRequest{Repository: repo, Reference: tag,
		ContentType: ocispec.MediaTypeImageManifest, Body: body})
}

func pushImage(e *registrytest.Env, repo, tag string, layer []byte) error {
	cfg, err := putBlob(e, repo, ocispec.MediaTypeImageConfig, []byte(`{}`))
	if err != nil {
		return err
	}
	l, err := putBlob(e, repo, ocispec.MediaTypeImageLayer, layer)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: cfg, Layers: []ocispec.Descriptor{l}})
	_, err = e.PutManifest(context.Background(), registry.PutManifestRequest{Repository: repo, Reference: tag,
		ContentType: ocispec.MediaTypeImageManifest, Body: body})
	return err
}

// TestGCRetention: a namespace's retention rules delete, at each collection, the prerelease
// chart versions they no longer keep (the newest N per chart; those older than D), as a
// delete by gc: tombstones (never published again with other bytes), chart.deleted queued for
// webhooks, an audit record each. Releases and other namespaces are untouched.
func TestGCRetention(t *testing.T) {
	ctx := context.Background()
	e := registrytest.New(t, registry.Options{})
	hook, err := e.DB.AddWebhook(ctx, meta.Webhook{Namespace: "team", URL: "https://hooks.example/x", Events: []string{meta.EventChartDeleted}, Secret: "s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(ns, name, version string) []byte {
		t.Helper()
		archive := charttest.Minimal(t, name, version, "")
		if _, err := e.Publish(t, archive, registry.PublishChartRequest{Namespace: ns}); err != nil {
			t.Fatal(err)
		}
		return archive
	}
	for _, v := range []string{"1.0.0-rc.1", "1.0.0-rc.2", "1.0.0", "1.1.0-beta.1"} {
		publish("team", "app", v)
		publish("other", "app", v)
	}
	publish("team", "lib", "0.1.0-alpha.1")
	rc1 := charttest.Minimal(t, "app", "1.0.0-rc.1", "")

	keep := 1
	if err := e.DB.SetNamespaceRetention(ctx, "team", meta.Retention{KeepPrereleases: &keep}, nil); err != nil {
		t.Fatal(err)
	}
	dry, err := e.GC(ctx, registry.GCOptions{DryRun: true})
	if err != nil || len(dry.Versions) != 2 {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	rep, err := e.GC(ctx, registry.GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []registry.GCVersion{
		{Namespace: "team", Name: "app", Version: "1.0.0-rc.2", Rule: "keep-prereleases 1"},
		{Namespace: "team", Name: "app", Version: "1.0.0-rc.1", Rule: "keep-prereleases 1"},
	}
	if fmt.Sprint(rep.Versions) != fmt.Sprint(want) {
		t.Fatalf("deleted %v, want %v", rep.Versions, want)
	}
	live := func(ns, name string) []string {
		t.Helper()
		vs, err := e.ChartVersions(ctx, ns, name)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, v := range vs {
			out = append(out, v.Version)
		}
		return out
	}
	if got := fmt.Sprint(live("team", "app")); got != "[1.1.0-beta.1 1.0.0]" {
		t.Errorf("team/app keeps %s", got)
	}
	if got := fmt.Sprint(live("team", "lib")); got != "[0.1.0-alpha.1]" {
		t.Errorf("team/lib keeps %s", got)
	}
	if got := len(live("other", "app")); got != 4 {
		t.Errorf("another namespace lost versions: %d left", got)
	}
	if _, err := e.Publish(t, charttest.Minimal(t, "app", "1.0.0-rc.1", "other bytes"), registry.PublishChartRequest{Namespace: "team"}); !errors.Is(err, registry.ErrImmutable) {
		t.Errorf("a version retention deleted, published with other bytes: %v, want ErrImmutable", err)
	}
	ds, err := e.DB.Deliveries(ctx, meta.DeliveryFilter{WebhookID: hook.ID})
	if err != nil || len(ds) != 2 || ds[0].Event.Type != meta.EventChartDeleted || ds[0].Event.Actor != registry.GCActor {
		t.Fatalf("webhook deliveries: %+v, %v", ds, err)
	}
	recs, err := e.DB.Audit(ctx, meta.AuditQuery{Actor: registry.GCActor})
	if err != nil || len(recs) != 2 || recs[0].Action != "gc.retention" || recs[0].Repository != "team/app" {
		t.Fatalf("audit: %+v, %v", recs, err)
	}

	// Older than a day: the beta (published now) stays; with an age of 0 it would go.
	day := 24 * time.Hour
	if err := e.DB.SetNamespaceRetention(ctx, "team", meta.Retention{DeletePrereleasesOlderThan: &day}, nil); err != nil {
		t.Fatal(err)
	}
	if rep, err := e.GC(ctx, registry.GCOptions{}); err != nil || len(rep.Versions) != 0 {
		t.Fatalf("older than a day: %+v, %v", rep, err)
	}
	tiny := time.Nanosecond
	if err := e.DB.SetNamespaceRetention(ctx, "team", meta.Retention{DeletePrereleasesOlderThan: &tiny}, nil); err != nil {
		t.Fatal(err)
	}
	if rep, err := e.GC(ctx, registry.GCOptions{}); err != nil || len(rep.Versions) != 2 {
		t.Fatalf("older than 1ns: %+v, %v", rep, err)
	}
	if got := fmt.Sprint(live("team", "app")); got != "[1.0.0]" {
		t.Errorf("team/app keeps %s", got)
	}
	// The same bytes may come back (and stay until the next collection).
	if _, err := e.Publish(t, rc1, registry.PublishChartRequest{Namespace: "team"}); err != nil {
		t.Errorf("a version retention deleted, published again with its bytes: %v", err)
	}
}
