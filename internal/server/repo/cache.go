package repo

import (
	"bytes"
	"compress/gzip"
	"container/list"
	"context"
	"sync"
	"time"
	"unsafe"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/repoindex"
)

// indexKey names one rendered index: a namespace in one format. The external URL is fixed
// for the life of a handler, so it is part of every key implicitly (and of every ETag).
type indexKey struct {
	ns   string
	json bool
}

// indexDoc is one rendered index of a namespace at a generation. It never changes once
// built; the gzip form is computed on first demand, once, and kept.
type indexDoc struct {
	key     indexKey
	gen     int64
	updated time.Time // the namespace's last change: Last-Modified
	plain   []byte
	etag    string // of plain; the gzip form's is etagGzip
	etagGz  string

	// index is the registry's index plain was written from, kept so that the next change
	// updates it instead of reading the namespace again; nil for an index loaded from disk.
	index *registry.Index
	// count is how many chart versions the index lists: an index of none is not cached.
	count int

	gzOnce sync.Once
	gz     []byte
	cache  *indexCache // charged for the gzip bytes while it holds this doc; set at build
}

// Fixed costs of a cached document, besides its bytes: the structures that hold it (the
// document, its LRU item and list element, its map slot with the key) and, per entry, the
// entry and the parsed version Sort keeps beside it.
var (
	docOverhead = int64(unsafe.Sizeof(indexDoc{}) + unsafe.Sizeof(cacheItem{}) + unsafe.Sizeof(list.Element{}) +
		2*unsafe.Sizeof(indexKey{}) + 2*unsafe.Sizeof(uintptr(0)) + mapSlotOverhead)
	entryOverhead = int64(unsafe.Sizeof(repoindex.Entry{})) + parsedVersionSize
)

const (
	// mapSlotOverhead is a map slot's share of control bytes and growth slack.
	mapSlotOverhead = 16
	// parsedVersionSize is what a parsed semantic version holds (its struct and strings).
	parsedVersionSize = 160
)

// size is what the document holds in memory, besides a gzip form charged later: its bytes
// (by capacity, as allocated) and the structures around them.
func (d *indexDoc) size() int64 {
	n := docOverhead + int64(len(d.key.ns)+cap(d.plain)+len(d.etag)+len(d.etagGz))
	if d.index == nil {
		return n
	}
	entries := d.index.Entries
	n += int64(unsafe.Sizeof(registry.Index{})) + int64(cap(entries)-len(entries))*int64(unsafe.Sizeof(repoindex.Entry{}))
	for i := range entries {
		e := &entries[i]
		n += entryOverhead + int64(len(e.Name)+len(e.Version)+cap(e.YAML)+cap(e.JSON)+len(e.URL))
	}
	return n
}

// gzipped returns the gzip form of the index, compressing it on first call.
func (d *indexDoc) gzipped() []byte {
	d.gzOnce.Do(func() {
		var b bytes.Buffer
		b.Grow(len(d.plain) / 6)
		zw, _ := gzip.NewWriterLevel(&b, gzip.DefaultCompression)
		_, _ = zw.Write(d.plain)
		_ = zw.Close()
		d.gz = b.Bytes()
		if d.cache != nil {
			d.cache.charge(d, int64(cap(d.gz)))
		}
	})
	return d.gz
}

// indexCache keeps rendered indexes in memory, bounded by bytes (least recently used
// evicted first), and lets concurrent requests for a stale index share one rebuild.
// Indexes that list no chart are served but not kept: anyone may ask for any number of
// empty namespaces. It is safe for concurrent use.
type indexCache struct {
	max int64 // < 0: keep nothing

	mu      sync.Mutex
	lru     *list.List // of *cacheItem, most recently used first
	items   map[indexKey]*list.Element
	bytes   int64
	flights map[indexKey]*flight
}

type cacheItem struct {
	key  indexKey
	doc  *indexDoc
	size int64
}

// flight is a rebuild in progress; waiters read doc and err after done is closed.
type flight struct {
	done chan struct{}
	doc  *indexDoc
	err  error
}

func newIndexCache(max int64) *indexCache {
	return &indexCache{max: max, lru: list.New(), items: map[indexKey]*list.Element{}, flights: map[indexKey]*flight{}}
}

// rebuildTimeout bounds one rebuild, which runs detached from the request that started it
// (other requests may be waiting for it).
const rebuildTimeout = 2 * time.Minute

// get returns the index of key at generation gen or newer, building it with build when the
// cached one is older or missing; build receives the older one (nil if none) to update.
// Concurrent callers share one build; a caller never gets an index older than the
// generation it asked for (read-your-writes).
func (c *indexCache) get(ctx context.Context, key indexKey, gen int64, build func(ctx context.Context, prev *indexDoc) (*indexDoc, error)) (*indexDoc, error) {
	for {
		var prev *indexDoc
		c.mu.Lock()
		if el, ok := c.items[key]; ok {
			it := el.Value.(*cacheItem)
			if it.doc.gen >= gen {
				c.lru.MoveToFront(el)
				c.mu.Unlock()
				return it.doc, nil
			}
			prev = it.doc
		}
		if f, ok := c.flights[key]; ok {
			c.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if f.err != nil {
				return nil, f.err
			}
			if f.doc.gen >= gen {
				return f.doc, nil
			}
			continue // that build started before the change this caller must see
		}
		f := &flight{done: make(chan struct{})}
		c.flights[key] = f
		c.mu.Unlock()

		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rebuildTimeout)
		doc, err := build(bctx, prev)
		cancel()
		c.mu.Lock()
		delete(c.flights, key)
		if err == nil {
			c.putLocked(key, doc)
		}
		c.mu.Unlock()
		f.doc, f.err = doc, err
		close(f.done)
		return doc, err
	}
}

// putLocked stores doc under key unless a newer one is there, then evicts down to max. An
// empty index replaces the cached one by nothing.
func (c *indexCache) putLocked(key indexKey, doc *indexDoc) {
	if el, ok := c.items[key]; ok {
		it := el.Value.(*cacheItem)
		if it.doc.gen > doc.gen {
			return
		}
		c.bytes -= it.size
		c.lru.Remove(el)
		delete(c.items, key)
	}
	size := doc.size()
	if c.max < 0 || size > c.max || doc.count == 0 {
		return
	}
	c.items[key] = c.lru.PushFront(&cacheItem{key: key, doc: doc, size: size})
	c.bytes += size
	c.evictLocked()
}

// charge adds n bytes (a gzip form computed later) to doc's entry, if still cached.
func (c *indexCache) charge(doc *indexDoc, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[doc.key]
	if !ok || el.Value.(*cacheItem).doc != doc {
		return
	}
	it := el.Value.(*cacheItem)
	it.size += n
	c.bytes += n
	c.evictLocked()
}

func (c *indexCache) evictLocked() {
	for c.bytes > c.max && c.lru.Len() > 0 {
		el := c.lru.Back()
		it := el.Value.(*cacheItem)
		c.lru.Remove(el)
		delete(c.items, it.key)
		c.bytes -= it.size
	}
}
