package repo

import (
	"bufio"
	"bytes"
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"
)

// diskCache keeps the latest rendered index of each namespace and format on local disk, so
// that a restarted server answers its first index request from one file read instead of
// reading the whole namespace. It is only a cache: a copy of another generation is ignored,
// a missing or unreadable one costs a rebuild, and nothing else depends on it. With no
// directory it does nothing.
//
// Only indexes that list charts are kept (an empty one costs nothing to rebuild, and anyone
// may ask for any number of empty namespaces), and the copies are bounded in bytes: the
// least recently used (written or read; the order survives restarts as file times) are
// removed first.
type diskCache struct {
	dir string
	max int64
	log *slog.Logger

	mu    sync.Mutex // also serialises writes, so renames land in generation order
	files map[string]*list.Element
	lru   *list.List // of *diskFile, most recently used first
	bytes int64
}

// diskFile is one index copy on disk.
type diskFile struct {
	name string // base name, see fileName
	size int64
	gen  int64 // generation written by this process; -1 for a file found at start
}

// diskHeader is the first line of a cached index file.
type diskHeader struct {
	Namespace  string `json:"namespace"`
	JSON       bool   `json:"json"`
	Generation int64  `json:"generation"`
	Updated    int64  `json:"updated"` // Unix nanoseconds, 0 when never changed
	URLTag     string `json:"urlTag"`
	Entries    int    `json:"entries"`
}

// Index copies are named <sha256(namespace)[:16] hex>.v2.<format>. Any other name in the
// directory (copies of earlier releases, which also kept empty indexes, or temporary files
// a crash left) is removed at start.
var cacheFileName = regexp.MustCompile(`^[0-9a-f]{32}\.v2\.(yaml|json)$`)

func fileName(key indexKey) string {
	sum := sha256.Sum256([]byte(key.ns))
	format := "yaml"
	if key.json {
		format = "json"
	}
	return hex.EncodeToString(sum[:16]) + ".v2." + format
}

// newDiskCache takes stock of the copies in dir (their sizes, and their last use from their
// modification times), removes stray files and trims the copies to max bytes.
func newDiskCache(dir string, max int64, log *slog.Logger) *diskCache {
	d := &diskCache{dir: dir, max: max, log: log, files: map[string]*list.Element{}, lru: list.New()}
	if dir == "" {
		return d
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("cannot read the index cache directory; indexes will be rebuilt", "dir", dir, "error", err)
	}
	type found struct {
		name string
		size int64
		used time.Time
	}
	var keep []found
	var stray []string
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || !cacheFileName.MatchString(e.Name()) {
			if err == nil && info.Mode().IsRegular() {
				stray = append(stray, e.Name())
			}
			continue
		}
		keep = append(keep, found{e.Name(), info.Size(), info.ModTime()})
	}
	sort.Slice(keep, func(i, j int) bool { return keep[i].used.Before(keep[j].used) })
	for _, f := range keep { // oldest first, so the newest ends in front
		d.files[f.name] = d.lru.PushFront(&diskFile{name: f.name, size: f.size, gen: -1})
		d.bytes += f.size
	}
	d.evictLocked()
	if len(stray) > 0 {
		// Copies of earlier releases may be many: remove them without holding up the start.
		go func() {
			for _, name := range stray {
				_ = os.Remove(filepath.Join(dir, name))
			}
			log.Info("removed stale files from the index cache directory", "dir", dir, "files", len(stray))
		}()
	}
	return d
}

// load returns the cached index of key if it is of generation gen and rendered with the
// same URLs, else nil. A copy read counts as used.
func (d *diskCache) load(key indexKey, gen int64, urlTag string) *indexDoc {
	if d.dir == "" {
		return nil
	}
	name := fileName(key)
	f, err := os.Open(filepath.Join(d.dir, name))
	if err != nil {
		return nil
	}
	defer f.Close()
	br := bufio.NewReader(f)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return nil
	}
	var h diskHeader
	if json.Unmarshal(line, &h) != nil || h.Namespace != key.ns || h.JSON != key.json || h.Generation != gen || h.URLTag != urlTag {
		return nil
	}
	plain, err := io.ReadAll(br)
	if err != nil {
		return nil
	}
	d.touch(name)
	var updated time.Time
	if h.Updated != 0 {
		updated = time.Unix(0, h.Updated).UTC()
	}
	doc := newIndexDoc(key, gen, updated, plain, urlTag)
	doc.count = h.Entries
	return doc
}

// touch marks a copy used now, in memory and in its modification time (for the next start).
func (d *diskCache) touch(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if el, ok := d.files[name]; ok {
		d.lru.MoveToFront(el)
		now := time.Now()
		_ = os.Chtimes(filepath.Join(d.dir, name), now, now)
	}
}

// store writes doc in the background (temporary file, then rename), unless a newer
// generation of the same index was written already. An index that lists no chart is not
// kept: an older copy of it is removed instead.
func (d *diskCache) store(doc *indexDoc, urlTag string) {
	if d.dir == "" {
		return
	}
	name := fileName(doc.key)
	if doc.count == 0 {
		d.mu.Lock()
		d.removeLocked(name)
		d.mu.Unlock()
		return
	}
	h := diskHeader{Namespace: doc.key.ns, JSON: doc.key.json, Generation: doc.gen, URLTag: urlTag, Entries: doc.count}
	if !doc.updated.IsZero() {
		h.Updated = doc.updated.UnixNano()
	}
	line, _ := json.Marshal(h)
	header := append(line, '\n')
	size := int64(len(header) + len(doc.plain))
	if size > d.max {
		return
	}
	go func() {
		if err := d.write(name, doc.gen, header, doc.plain); err != nil {
			d.log.Warn("could not keep a copy of the index on disk; a restart will rebuild it", "namespace", doc.key.ns, "error", err)
		}
	}()
}

func (d *diskCache) write(name string, gen int64, header, body []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if el, ok := d.files[name]; ok && gen > 0 && el.Value.(*diskFile).gen >= gen {
		return nil // a newer generation landed first
	}
	if err := os.MkdirAll(d.dir, 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(d.dir, ".index-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, io.MultiReader(bytes.NewReader(header), bytes.NewReader(body)))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(d.dir, name)); err != nil {
		return err
	}
	if el, ok := d.files[name]; ok {
		f := el.Value.(*diskFile)
		d.bytes += n - f.size
		f.size, f.gen = n, gen
		d.lru.MoveToFront(el)
	} else {
		d.files[name] = d.lru.PushFront(&diskFile{name: name, size: n, gen: gen})
		d.bytes += n
	}
	d.evictLocked()
	return nil
}

// evictLocked removes the least recently used copies until they fit in max bytes.
func (d *diskCache) evictLocked() {
	for d.bytes > d.max && d.lru.Len() > 0 {
		d.removeLocked(d.lru.Back().Value.(*diskFile).name)
	}
}

func (d *diskCache) removeLocked(name string) {
	el, ok := d.files[name]
	if !ok {
		return
	}
	f := el.Value.(*diskFile)
	d.lru.Remove(el)
	delete(d.files, name)
	d.bytes -= f.size
	if err := os.Remove(filepath.Join(d.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.log.Warn("could not remove a copy from the index cache", "file", name, "error", err)
	}
}
