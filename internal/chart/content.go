package chart

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"path"
	"sort"
	"strings"
)

// ContentDigest reads a chart archive and returns a digest of what it holds as a chart: the
// chart directory's name and the path and bytes of every file, in path order. What only the
// packaging decides does not count: entry timestamps, owners, modes and order, directory
// entries, PAX records, the gzip header and compression level. A subchart archive
// (charts/<name>.tgz, as Helm loads it) counts by its own ContentDigest, so a dependency
// packaged again unchanged is the same content too.
//
// Two archives with the same ContentDigest give Helm the same chart; archives that differ in
// bytes but not in ContentDigest were packaged differently, e.g. at another time by a
// packager that stamps it. The archive is read streaming, within lim (as [LoadArchive] would
// read it), and refused as LoadArchive refuses an archive's entries and streams.
func ContentDigest(r io.Reader, lim Limits) (string, error) {
	return contentDigest(r, newBudget(lim), 0)
}

func contentDigest(r io.Reader, b *budget, depth int) (string, error) {
	type entry struct{ name, sum string }
	var (
		entries []entry
		nested  error
	)
	h := entryHandler{
		keep: func(string) bool { return false },
		consume: func(f *File, size int64, r io.Reader) {
			if sub := subchartArchive(f.Name); sub && depth < maxNesting {
				sum, err := contentDigest(r, b, depth+1)
				if err != nil && nested == nil {
					nested = err
				}
				entries = append(entries, entry{f.Name, "chart:" + sum})
				return
			}
			hash := sha256.New()
			if _, err := io.Copy(hash, r); err != nil {
				return // the walker reports the broken stream
			}
			entries = append(entries, entry{f.Name, hex.EncodeToString(hash.Sum(nil))})
		},
	}
	var w ArchiveWalker
	root, _, err := w.walk(r, b, h)
	if err != nil {
		return "", err
	}
	if nested != nil {
		return "", nested
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	sum := sha256.New()
	io.WriteString(sum, root+"\n")
	for _, e := range entries {
		io.WriteString(sum, e.name+"\x00"+e.sum+"\n")
	}
	return "sha256:" + hex.EncodeToString(sum.Sum(nil)), nil
}

// subchartArchive reports whether rel, a path in a chart, is an archive Helm loads as a
// subchart: charts/<name>.tgz of the chart or of one of its subchart directories.
func subchartArchive(rel string) bool {
	_, rest, ok := chartLevel(rel)
	if !ok {
		return false
	}
	name, isSub := strings.CutPrefix(rest, ChartsDir+"/")
	return isSub && !strings.Contains(name, "/") && subchartName(name) && path.Ext(name) == ".tgz"
}
