package meta

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// The outbox: events are queued in the transaction of their change, for the webhooks that
// want them, and claimed one at a time per webhook, in order.

func addHook(t *testing.T, db *DB, ns string, events ...string) *Webhook {
	t.Helper()
	if len(events) == 0 {
		events = EventTypes
	}
	w, err := db.AddWebhook(context.Background(), Webhook{Namespace: ns, URL: "http://127.0.0.1:1/" + ns, Events: events, Secret: "0123456789abcdef"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// queued lists a webhook's deliveries oldest first as "type repository[ version]" lines.
func queued(t *testing.T, db *DB, hook int64) []string {
	t.Helper()
	ds, err := db.Deliveries(context.Background(), DeliveryFilter{WebhookID: hook})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(ds) - 1; i >= 0; i-- {
		ev := ds[i].Event
		line := ev.Type + " " + ev.Repository
		if ev.Chart != nil {
			line += " " + ev.Chart.Version
		}
		out = append(out, line)
	}
	return out
}

func TestEventsAreQueuedWithTheirChange(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	all := addHook(t, db, "team")
	charts := addHook(t, db, "team", EventChartPublished)
	other := addHook(t, db, "elsewhere")

	a := chartPush("team/myapp", "1.0.0", "a")
	a.Chart.PushedBy = "ci"
	if _, err := db.PutManifest(ctx, a); err != nil {
		t.Fatal(err)
	}
	// The same archive again under another manifest changes nothing: no event.
	again := chartPush("team/myapp", "1.0.0", "a")
	again.Manifest.Content = []byte(`{"schemaVersion":2,"other":"manifest"}`)
	again.Manifest.Digest = digest.FromBytes(again.Manifest.Content)
	if _, err := db.PutManifest(ctx, again); err != nil {
		t.Fatal(err)
	}
	// An image: new manifest, tag set; the same push again changes nothing; moving the tag does.
	img := imagePush("team/tool", "v1", "latest")
	img.Actor = "alice"
	for range 2 {
		if _, err := db.PutManifest(ctx, img); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.PutManifest(ctx, imagePush("team/tool", "v2", "latest")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutManifest(ctx, imagePush("team/tool", "v1", "latest")); err != nil {
		t.Fatal(err)
	}
	// A push by digest (no tag) of a new manifest is an event too.
	if _, err := db.PutManifest(ctx, imagePush("team/tool", "signature")); err != nil {
		t.Fatal(err)
	}
	// Deleting the chart's manifest, bringing it back, deleting its tag.
	if err := db.DeleteManifest(ctx, "team/myapp", a.Manifest.Digest, false, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutManifest(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteTag(ctx, "team/myapp", "1.0.0", false, "bob"); err != nil {
		t.Fatal(err)
	}
	// Deleting an image's manifest is no event of these types.
	if err := db.DeleteManifest(ctx, "team/tool", imagePush("team/tool", "v2").Manifest.Digest, false, "bob"); err != nil {
		t.Fatal(err)
	}

	want := []string{
		"chart.published team/myapp 1.0.0", "artifact.pushed team/myapp 1.0.0",
		"artifact.pushed team/tool", "artifact.pushed team/tool", "artifact.pushed team/tool", "artifact.pushed team/tool",
		"chart.deleted team/myapp 1.0.0",
		"chart.published team/myapp 1.0.0", "artifact.pushed team/myapp 1.0.0",
		"chart.deleted team/myapp 1.0.0",
	}
	if got := queued(t, db, all.ID); !slices.Equal(got, want) {
		t.Errorf("webhook of all events got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantCharts := []string{"chart.published team/myapp 1.0.0", "chart.published team/myapp 1.0.0"}
	if got := queued(t, db, charts.ID); !slices.Equal(got, wantCharts) {
		t.Errorf("webhook of chart.published got %q, want %q", got, wantCharts)
	}
	if got := queued(t, db, other.ID); len(got) != 0 {
		t.Errorf("webhook of another namespace got %q", got)
	}

	ds, err := db.Deliveries(ctx, DeliveryFilter{WebhookID: all.ID})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(ds)
	ids := map[string]bool{}
	for i, d := range ds {
		if d.State != DeliveryPending || d.Attempts != 0 || ids[d.Event.ID] || len(d.Event.ID) != 36 {
			t.Errorf("delivery %d: state %s, attempts %d, event id %q (seen: %v)", i, d.State, d.Attempts, d.Event.ID, ids[d.Event.ID])
		}
		ids[d.Event.ID] = true
		if i > 0 && ds[i-1].Event.Seq >= d.Event.Seq {
			t.Errorf("events out of commit order: %d then %d", ds[i-1].Event.Seq, d.Event.Seq)
		}
	}
	pub, pushed, img1, deleted := ds[0].Event, ds[1].Event, ds[2].Event, ds[6].Event
	if pub.Actor != "ci" || pub.Namespace != "team" || pub.Digest != a.Manifest.Digest || pub.MediaType != a.Manifest.MediaType ||
		pub.Chart.Name != "myapp" || pub.Chart.Digest != a.Chart.ChartDigest || len(pub.Tags) != 0 {
		t.Errorf("chart.published = %+v %+v", pub, pub.Chart)
	}
	if !slices.Equal(pushed.Tags, []string{"1.0.0"}) || pushed.Chart == nil || pushed.Actor != "ci" {
		t.Errorf("artifact.pushed of the chart = %+v", pushed)
	}
	if img1.Actor != "alice" || img1.Chart != nil || !slices.Equal(img1.Tags, []string{"latest"}) || img1.Digest != img.Manifest.Digest {
		t.Errorf("artifact.pushed of the image = %+v", img1)
	}
	if deleted.Actor != "bob" || deleted.Digest != a.Manifest.Digest || deleted.Chart.Version != "1.0.0" || deleted.MediaType == "" {
		t.Errorf("chart.deleted = %+v", deleted)
	}
	if !pub.Time.Equal(ds[0].Event.Time) || pub.Time.IsZero() {
		t.Errorf("event time %v", pub.Time)
	}
}

// A change that does not commit queues nothing: a refused push leaves no event behind.
func TestRefusedChangeQueuesNothing(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	hook := addHook(t, db, "team")
	if _, err := db.PutManifest(ctx, chartPush("team/myapp", "1.0.0", "a")); err != nil {
		t.Fatal(err)
	}
	var conflict *ChartConflictError
	if _, err := db.PutManifest(ctx, chartPush("team/myapp", "1.0.0", "b")); !errors.As(err, &conflict) {
		t.Fatalf("different content: %v", err)
	}
	// An image whose blob is missing: refused after its manifest row was written.
	missing := imagePush("team/tool", "v1", "latest")
	missing.Blobs = []digest.Digest{digest.FromString("absent")}
	var me *MissingError
	if _, err := db.PutManifest(ctx, missing); !errors.As(err, &me) {
		t.Fatalf("missing blob: %v", err)
	}
	if got := queued(t, db, hook.ID); len(got) != 2 {
		t.Fatalf("deliveries after refused pushes: %q", got)
	}
	var events int
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM webhook_events`).Scan(&events); err != nil || events != 2 {
		t.Fatalf("events stored: %d %v", events, err)
	}
}

// Without a webhook that wants it, an event is not stored at all.
func TestEventsNobodyWantsAreNotStored(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	addHook(t, db, "team", EventChartDeleted)
	if _, err := db.PutManifest(ctx, chartPush("team/myapp", "1.0.0", "a")); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM webhook_events`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("events stored: %d %v", n, err)
	}
	select {
	case <-db.Queued():
		t.Fatal("Queued signalled though nothing was queued")
	default:
	}
	if err := db.DeleteTag(ctx, "team/myapp", "1.0.0", false, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case <-db.Queued():
	default:
		t.Fatal("Queued not signalled after chart.deleted was queued")
	}
}

// clock is a settable time for a database under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func claimIDs(t *testing.T, db *DB, owner string, n int) []int64 {
	t.Helper()
	cs, err := db.ClaimDeliveries(context.Background(), owner, time.Minute, n)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, c := range cs {
		if c.Webhook.ID != c.WebhookID || c.Webhook.Secret == "" || c.Event.ID == "" {
			t.Fatalf("claim %+v lacks its webhook or event", c)
		}
		ids = append(ids, c.ID)
	}
	return ids
}

func TestClaimsOneAtATimePerWebhookInOrder(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	db.now = clk.now
	h1 := addHook(t, db, "team", EventChartPublished)
	h2 := addHook(t, db, "other", EventChartPublished)
	for i := range 3 {
		if _, err := db.PutManifest(ctx, chartPush("team/myapp", fmt.Sprintf("1.0.%d", i), fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	o := chartPush("other/myapp", "2.0.0", "o")
	o.Chart.Namespace = "other"
	if _, err := db.PutManifest(ctx, o); err != nil {
		t.Fatal(err)
	}
	d1 := func(i int) int64 { // the i-th delivery of h1 (0-based)
		ds, _ := db.Deliveries(ctx, DeliveryFilter{WebhookID: h1.ID})
		return ds[len(ds)-1-i].ID
	}
	d2, _ := db.Deliveries(ctx, DeliveryFilter{WebhookID: h2.ID})

	// One head per webhook; nothing more while they are claimed, by anyone.
	if got, want := claimIDs(t, db, "a", 10), []int64{d1(0), d2[0].ID}; !slices.Equal(got, want) {
		t.Fatalf("first claim %v, want the heads %v", got, want)
	}
	if got := claimIDs(t, db, "b", 10); len(got) != 0 {
		t.Fatalf("claimed %v while both heads are claimed", got)
	}
	// Success: the next one of h1 may go.
	if err := db.FinishAttempt(ctx, d1(0), "a", DeliveryOutcome{Succeeded: true, Status: 204}); err != nil {
		t.Fatal(err)
	}
	if got := claimIDs(t, db, "b", 10); !slices.Equal(got, []int64{d1(1)}) {
		t.Fatalf("after success, claimed %v, want %d", got, d1(1))
	}
	// A failed attempt with a retry keeps the webhook's later deliveries waiting until it is due.
	if err := db.FinishAttempt(ctx, d1(1), "b", DeliveryOutcome{Status: 503, Error: "answered 503", RetryAt: clk.now().Add(10 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if got := claimIDs(t, db, "b", 10); len(got) != 0 {
		t.Fatalf("claimed %v before the retry is due", got)
	}
	clk.add(10 * time.Second)
	if got := claimIDs(t, db, "b", 10); !slices.Equal(got, []int64{d1(1)}) {
		t.Fatalf("retry: claimed %v, want %d", got, d1(1))
	}
	// Failing for good lets the next one go.
	if err := db.FinishAttempt(ctx, d1(1), "b", DeliveryOutcome{Error: "connection refused"}); err != nil {
		t.Fatal(err)
	}
	if got := claimIDs(t, db, "b", 10); !slices.Equal(got, []int64{d1(2)}) {
		t.Fatalf("after failing for good, claimed %v, want %d", got, d1(2))
	}

	// An expired lease is taken over; its first holder can no longer record an outcome.
	clk.add(time.Minute)
	if got := claimIDs(t, db, "c", 10); !slices.Equal(got, []int64{d1(2), d2[0].ID}) {
		t.Fatalf("after the leases expired, claimed %v", got)
	}
	if err := db.FinishAttempt(ctx, d2[0].ID, "a", DeliveryOutcome{Succeeded: true}); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("finish by the expired holder: %v, want ErrLeaseLost", err)
	}
	if err := db.FinishAttempt(ctx, d2[0].ID, "c", DeliveryOutcome{Succeeded: true, Status: 200}); err != nil {
		t.Fatal(err)
	}
	// A restart releases the claims (the data directory's lock proves nobody else sends).
	if n, err := db.ReleaseClaims(ctx); err != nil || n != 1 {
		t.Fatalf("release: %d %v", n, err)
	}
	if got := claimIDs(t, db, "d", 10); !slices.Equal(got, []int64{d1(2)}) {
		t.Fatalf("after release, claimed %v", got)
	}

	ds, _ := db.Deliveries(ctx, DeliveryFilter{WebhookID: h1.ID})
	slices.Reverse(ds)
	states := []string{}
	for _, d := range ds {
		states = append(states, fmt.Sprintf("%s/%d/%d", d.State, d.Attempts, d.LastStatus))
	}
	if want := []string{"succeeded/1/204", "failed/2/0", "pending/0/0"}; !slices.Equal(states, want) {
		t.Fatalf("states %v, want %v", states, want)
	}
	if ds[1].LastError != "connection refused" || ds[1].Finished.IsZero() || !ds[0].LastAttempt.Equal(time.Unix(1_800_000_000, 0).UTC()) {
		t.Fatalf("failed delivery %+v", ds[1])
	}
	failing, _ := db.Deliveries(ctx, DeliveryFilter{Failing: true})
	if len(failing) != 1 || failing[0].ID != d1(1) {
		t.Fatalf("failing deliveries %v", failing)
	}

	// Redelivering the failed one: it is the head again, ahead of the pending one.
	if _, err := db.Redeliver(ctx, d1(2)); !errors.Is(err, ErrDeliveryPending) {
		t.Fatalf("redeliver of a pending delivery: %v", err)
	}
	if _, err := db.ReleaseClaims(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Redeliver(ctx, d1(1)); err != nil {
		t.Fatal(err)
	}
	if got := claimIDs(t, db, "e", 10); !slices.Equal(got, []int64{d1(1)}) {
		t.Fatalf("after redeliver, claimed %v, want %d", got, d1(1))
	}
}

// Two senders on the same database file (two replicas, or two processes) claiming at once
// never both get the same delivery, and together send each webhook's deliveries in order.
func TestConcurrentClaimsNeverShareADelivery(t *testing.T) {
	ctx := context.Background()
	open := testDatabase(t)
	var dbs []*DB
	for range 2 {
		dbs = append(dbs, open(t))
	}
	const hooks, perHook = 4, 15
	for i := range hooks {
		addHook(t, dbs[0], fmt.Sprintf("ns%d", i))
	}
	for v := range perHook {
		for i := range hooks {
			if _, err := dbs[0].PutManifest(ctx, imagePush(fmt.Sprintf("ns%d/app", i), fmt.Sprint(v))); err != nil {
				t.Fatal(err)
			}
		}
	}
	var mu sync.Mutex
	sent := map[int64][]int64{} // webhook → deliveries in the order they were finished
	seen := map[int64]string{}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, owner := dbs[i%2], fmt.Sprintf("sender-%d", i)
			idle := 0
			for idle < 50 {
				cs, err := db.ClaimDeliveries(ctx, owner, time.Minute, 3)
				if err != nil {
					errs <- err
					return
				}
				if len(cs) == 0 {
					idle++
					time.Sleep(time.Millisecond)
					continue
				}
				idle = 0
				for _, c := range cs {
					mu.Lock()
					if prev, ok := seen[c.ID]; ok {
						mu.Unlock()
						errs <- fmt.Errorf("delivery %d claimed by %s and %s", c.ID, prev, owner)
						return
					}
					seen[c.ID] = owner
					sent[c.WebhookID] = append(sent[c.WebhookID], c.ID)
					mu.Unlock()
					if err := db.FinishAttempt(ctx, c.ID, owner, DeliveryOutcome{Succeeded: true, Status: 200}); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != hooks*perHook {
		t.Fatalf("%d deliveries sent, want %d", len(seen), hooks*perHook)
	}
	for hook, ids := range sent {
		if !slices.IsSorted(ids) {
			t.Errorf("webhook %d: deliveries sent in the order %v", hook, ids)
		}
	}
}

func TestDeleteWebhookAndPrune(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	db.now = clk.now
	keep := addHook(t, db, "team")
	gone := addHook(t, db, "team")
	for i := range 2 {
		if _, err := db.PutManifest(ctx, chartPush("team/myapp", fmt.Sprintf("1.0.%d", i), fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := db.DeleteWebhook(ctx, gone.ID, nil); err != nil || n != 4 {
		t.Fatalf("delete: %d pending dropped, %v", n, err)
	}
	if _, err := db.DeleteWebhook(ctx, gone.ID, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete again: %v", err)
	}
	if got := queued(t, db, gone.ID); len(got) != 0 {
		t.Fatalf("deliveries of the deleted webhook: %q", got)
	}
	hooks, err := db.Webhooks(ctx)
	if err != nil || len(hooks) != 1 || hooks[0].ID != keep.ID || hooks[0].Pending != 4 || hooks[0].Secret == "" {
		t.Fatalf("webhooks: %+v %v", hooks, err)
	}
	// Succeed the first two; prune those finished before a time.
	for range 2 {
		cs, err := db.ClaimDeliveries(ctx, "a", time.Minute, 1)
		if err != nil || len(cs) != 1 {
			t.Fatalf("claim: %v %v", cs, err)
		}
		if err := db.FinishAttempt(ctx, cs[0].ID, "a", DeliveryOutcome{Succeeded: true}); err != nil {
			t.Fatal(err)
		}
		clk.add(time.Hour)
	}
	if n, err := db.PruneDeliveries(ctx, clk.now().Add(-90*time.Minute)); err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	if got := queued(t, db, keep.ID); len(got) != 3 {
		t.Fatalf("after prune: %q", got)
	}
	var events int
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM webhook_events`).Scan(&events); err != nil || events != 3 {
		t.Fatalf("events left: %d %v", events, err)
	}
}
