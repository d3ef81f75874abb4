package repo

// stats reports the cache's entries and bytes.
func (c *indexCache) stats() (entries int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.bytes
}

// stats reports the copies on disk and their bytes.
func (d *diskCache) stats() (files int, bytes int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lru.Len(), d.bytes
}
