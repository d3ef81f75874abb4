package repo

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/repoindex"
)

// dirFiles counts the finished copies in a cache directory and their bytes.
func dirFiles(t *testing.T, dir string) (n int, size int64) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		n++
		size += info.Size()
	}
	return n, size
}

// Requests for namespaces without charts, however many, add nothing to the memory cache or
// to the copies on disk; a namespace that loses its last chart drops its cached index.
func TestEmptyNamespacesAreNotCached(t *testing.T) {
	cacheDir := filepath.Join(t.TempDir(), "index-cache")
	e := newEnv(t, Options{CacheDir: cacheDir})
	for i := range 200 {
		for _, path := range []string{"/empty-%d/index.yaml", "/empty-%d/index.json"} {
			r := e.get(fmt.Sprintf(path, i))
			if r.status != http.StatusOK {
				t.Fatalf("GET %s = %d %s", fmt.Sprintf(path, i), r.status, r.body)
			}
		}
	}
	if n, size := e.handler.index.stats(); n != 0 || size != 0 {
		t.Fatalf("memory cache after 400 empty indexes: %d entries, %d bytes; want none", n, size)
	}
	if n, _ := dirFiles(t, cacheDir); n != 0 {
		t.Fatalf("%d index copies on disk after 400 empty indexes; want none", n)
	}

	e.mustUpload("team", charttest.Archive(t, "myapp", "1.0.0", ""))
	if r := e.get("/team/index.yaml"); r.status != http.StatusOK {
		t.Fatal(r.status)
	}
	waitForFiles(t, cacheDir, 1)
	if n, _ := e.handler.index.stats(); n != 1 {
		t.Fatalf("memory cache holds %d indexes; want the one listing a chart", n)
	}
	if r := e.send(http.MethodDelete, apiPath("team", "charts/myapp/1.0.0"), nil); r.status != http.StatusOK {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := e.get("/team/index.yaml"); r.status != http.StatusOK || len(parseIndex(t, r.body).Entries) != 0 {
		t.Fatalf("index after the delete: %d %s", r.status, r.body)
	}
	if n, size := e.handler.index.stats(); n != 0 || size != 0 {
		t.Fatalf("memory cache after the namespace emptied: %d entries, %d bytes; want none", n, size)
	}
	if n, _ := dirFiles(t, cacheDir); n != 0 {
		t.Fatalf("%d index copies on disk after the namespace emptied; want none", n)
	}
}

// The memory budget is charged what a cached index really holds: its bytes by capacity and
// the structures around them, not only the rendered text.
func TestIndexCacheChargesRealSizes(t *testing.T) {
	t.Run("known sizes", func(t *testing.T) {
		plain := make([]byte, 1000, 1024)
		doc := newIndexDoc(indexKey{ns: "team/charts"}, 7, time.Time{}, plain, "abcd1234")
		doc.index = &registry.Index{Entries: make([]repoindex.Entry, 2, 4)}
		doc.index.Entries[0] = repoindex.Entry{Name: "myapp", Version: "1.0.0", YAML: make([]byte, 300, 512), URL: "charts/myapp-1.0.0.tgz"}
		doc.index.Entries[1] = repoindex.Entry{Name: "other", Version: "2.10.3", YAML: make([]byte, 200), URL: "charts/other-2.10.3.tgz"}
		doc.count = 2
		bytesHeld := int64(len("team/charts") + 1024 + len(doc.etag) + len(doc.etagGz) +
			len("myapp") + len("1.0.0") + 512 + len("charts/myapp-1.0.0.tgz") +
			len("other") + len("2.10.3") + 200 + len("charts/other-2.10.3.tgz"))
		structures := docOverhead + 4*int64(sizeofEntry())
		if got := doc.size(); got < bytesHeld+structures {
			t.Fatalf("size() = %d; want at least the %d bytes held and %d of structures", got, bytesHeld, structures)
		}
		c := newIndexCache(1 << 20)
		c.putLocked(doc.key, doc)
		if _, charged := c.stats(); charged != doc.size() {
			t.Fatalf("cache charged %d; want %d", charged, doc.size())
		}
		doc.cache = c
		gz := doc.gzipped()
		if _, charged := c.stats(); charged != doc.size()+int64(cap(gz)) {
			t.Fatalf("after gzip, cache charged %d; want %d", charged, doc.size()+int64(cap(gz)))
		}
	})
	t.Run("heap", func(t *testing.T) {
		// What the budget counts must be most of what the heap grows by while indexes of
		// one small entry each pile up (as the indexes of many small namespaces do).
		const n = 3000
		c := newIndexCache(1 << 40)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range n {
			key := indexKey{ns: fmt.Sprintf("team-%06d/charts", i)}
			entries := []repoindex.Entry{{Name: "myapp", Version: "1.0.0", YAML: []byte("  - name: myapp\n    version: 1.0.0\n"), URL: "charts/myapp-1.0.0.tgz"}}
			plain := []byte("apiVersion: v1\nentries:\n  myapp:\n  - name: myapp\n    version: 1.0.0\n    urls:\n    - charts/myapp-1.0.0.tgz\ngenerated: \"2024-01-01T00:00:00Z\"\n")
			doc := newIndexDoc(key, 1, time.Time{}, plain, "abcd1234")
			doc.index, doc.count = &registry.Index{Namespace: key.ns, Entries: entries}, 1
			c.mu.Lock()
			c.putLocked(key, doc)
			c.mu.Unlock()
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
		entries, charged := c.stats()
		if entries != n {
			t.Fatalf("%d entries cached; want %d", entries, n)
		}
		if charged < grown*3/4 {
			t.Fatalf("the budget counts %d bytes (%d per index) for a heap grown by %d (%d per index); want at least 3/4 of it",
				charged, charged/n, grown, grown/n)
		}
		t.Logf("charged %d bytes per index; heap grew by %d per index", charged/n, grown/n)
		runtime.KeepAlive(c)
	})
}

func sizeofEntry() uintptr { return unsafe.Sizeof(repoindex.Entry{}) }

// The copies on disk stay within their byte bound, the least recently used (written or
// read) going first, and a restart takes stock of them: same accounting, same order.
func TestDiskCacheIsBoundedAcrossRestarts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index-cache")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	doc := func(ns string) *indexDoc {
		d := newIndexDoc(indexKey{ns: ns}, 1, time.Time{}, bytes.Repeat([]byte("x"), 1000), "tag")
		d.count = 1
		return d
	}
	// One copy is its 1000 bytes and a header line of about 100.
	const max = 3500 // room for three
	store := func(d *diskCache, ns string) {
		t.Helper()
		d.store(doc(ns), "tag")
		name := fileName(indexKey{ns: ns})
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			d.mu.Lock()
			_, ok := d.files[name]
			d.mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the copy of %s was not written", ns)
			}
		}
	}
	loaded := func(d *diskCache, ns string) bool {
		return d.load(indexKey{ns: ns}, 1, "tag") != nil
	}
	check := func(d *diskCache, want ...string) {
		t.Helper()
		files, size := d.stats()
		onDisk, diskSize := dirFiles(t, dir)
		if files != len(want) || onDisk != len(want) || size != diskSize || size > max {
			t.Fatalf("accounted %d copies, %d bytes; on disk %d, %d bytes; want %d copies within %d bytes",
				files, size, onDisk, diskSize, len(want), max)
		}
		for _, ns := range want {
			if !loaded(d, ns) {
				t.Fatalf("the copy of %s is gone; want %v kept", ns, want)
			}
		}
	}

	d := newDiskCache(dir, max, log)
	for _, ns := range []string{"a", "b", "c"} {
		store(d, ns)
		time.Sleep(20 * time.Millisecond) // distinct file times
	}
	if !loaded(d, "a") { // a is now the most recently used, b the least
		t.Fatal("a not loaded")
	}
	time.Sleep(20 * time.Millisecond)
	store(d, "d")
	if loaded(d, "b") {
		t.Fatal("the least recently used copy (b) was kept over the bound")
	}
	check(d, "a", "c", "d") // (each check loads them: c, d, a from oldest use to newest below)

	// A restart finds the same copies, in the same order of use.
	time.Sleep(20 * time.Millisecond)
	loaded(d, "c")
	time.Sleep(20 * time.Millisecond)
	loaded(d, "a")
	d2 := newDiskCache(dir, max, log)
	if files, size := d2.stats(); files != 3 || size != func() int64 { _, s := d.stats(); return s }() {
		t.Fatalf("after a restart: %d copies, %d bytes accounted; want what was there", files, size)
	}
	store(d2, "e") // evicts the least recently used: d
	if loaded(d2, "d") {
		t.Fatal("after a restart, the least recently used copy (d) was kept over the bound")
	}
	check(d2, "c", "a", "e")

	// A restart with a smaller bound trims at once; stray and old-format files are removed.
	os.WriteFile(filepath.Join(dir, "0123456789abcdef0123456789abcdef.yaml"), []byte("old format"), 0o640)
	os.WriteFile(filepath.Join(dir, ".index-123"), []byte("left by a crash"), 0o640)
	d3 := newDiskCache(dir, 2500, log)
	if files, size := d3.stats(); files != 2 || size > 2500 {
		t.Fatalf("after a restart with room for two: %d copies, %d bytes", files, size)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		entries, _ := os.ReadDir(dir)
		if len(entries) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stray files not removed: %d entries", len(entries))
		}
	}
}
