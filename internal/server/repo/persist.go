package repo

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// diskCache keeps the latest rendered index of each namespace and format on local disk, so
// that a restarted server answers its first index request from one file read instead of
// reading the whole namespace. It is only a cache: a copy of another generation is ignored,
// a missing or unreadable one costs a rebuild, and nothing else depends on it. With no
// directory it does nothing.
type diskCache struct {
	dir string
	log *slog.Logger

	mu     sync.Mutex
	stored map[indexKey]int64 // generation last written per key, so an older one never overwrites it
}

// diskHeader is the first line of a cached index file.
type diskHeader struct {
	Namespace  string `json:"namespace"`
	JSON       bool   `json:"json"`
	Generation int64  `json:"generation"`
	Updated    int64  `json:"updated"` // Unix nanoseconds, 0 when never changed
	URLTag     string `json:"urlTag"`
}

func newDiskCache(dir string, log *slog.Logger) *diskCache {
	return &diskCache{dir: dir, log: log, stored: map[indexKey]int64{}}
}

func (d *diskCache) path(key indexKey) string {
	sum := sha256.Sum256([]byte(key.ns))
	format := "yaml"
	if key.json {
		format = "json"
	}
	return filepath.Join(d.dir, hex.EncodeToString(sum[:16])+"."+format)
}

// load returns the cached index of key if it is of generation gen and rendered with the
// same URLs, else nil.
func (d *diskCache) load(key indexKey, gen int64, urlTag string) *indexDoc {
	if d.dir == "" {
		return nil
	}
	f, err := os.Open(d.path(key))
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
	var updated time.Time
	if h.Updated != 0 {
		updated = time.Unix(0, h.Updated).UTC()
	}
	return newIndexDoc(key, gen, updated, plain, urlTag)
}

// store writes doc in the background (temporary file, then rename), unless a newer
// generation of the same index was written already.
func (d *diskCache) store(doc *indexDoc, urlTag string) {
	if d.dir == "" {
		return
	}
	d.mu.Lock()
	if d.stored[doc.key] >= doc.gen && doc.gen > 0 {
		d.mu.Unlock()
		return
	}
	d.stored[doc.key] = doc.gen
	d.mu.Unlock()
	go func() {
		h := diskHeader{Namespace: doc.key.ns, JSON: doc.key.json, Generation: doc.gen, URLTag: urlTag}
		if !doc.updated.IsZero() {
			h.Updated = doc.updated.UnixNano()
		}
		line, _ := json.Marshal(h)
		if err := d.write(doc.key, append(line, '\n'), doc.plain); err != nil {
			d.log.Warn("could not keep a copy of the index on disk; a restart will rebuild it", "namespace", doc.key.ns, "error", err)
		}
	}()
}

func (d *diskCache) write(key indexKey, header, body []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock() // one writer at a time: renames land in generation order
	if err := os.MkdirAll(d.dir, 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(d.dir, ".index-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, io.MultiReader(bytes.NewReader(header), bytes.NewReader(body)))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), d.path(key))
}
