// Package staticindex builds the index.yaml of a static chart repository (a directory of
// .tgz archives served by GitHub Pages, a bucket or any file server) with the entries, digests
// and URLs `helm repo index` (Helm v3.22.0, pkg/repo IndexDirectory) writes, using every core.
//
// Per archive, the cost is reading the file once, hashing it and decompressing it to find
// Chart.yaml (and requirements.yaml, which Helm merges into the metadata); values.yaml and
// templates are not parsed, since no index field comes from them. Entries are rendered once
// ([repoindex.Render]) and the index is written by concatenation ([repoindex.WriteYAML]).
package staticindex

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/repoindex"
)

// Options tune [Build]. The zero value indexes with URLs relative to the index, one worker
// per usable CPU, Helm's decompression limits, the current time as created/generated, and
// the YAML form.
type Options struct {
	// BaseURL prefixes every archive's URL (helm repo index --url); empty means URLs
	// relative to the index ("mychart-1.0.0.tgz", "sub/mychart-1.0.0.tgz").
	BaseURL string
	// Workers is the number of archives read in parallel; ≤ 0 means two per usable CPU
	// (one reading a file while the other decompresses).
	Workers int
	// JSON builds the index to be written in JSON form (helm repo index --json): only that
	// form of each entry is rendered, and Index.Write writes it.
	JSON bool
	// Limits bound each archive's decompressed content; zero fields take
	// chart.DefaultMaxTotalSize and chart.DefaultMaxFileSize (Helm's limits).
	Limits chart.Limits
	// Now is the created time of new entries and the generated time of the index, as
	// Helm's time.Now(); the zero value means time.Now().
	Now time.Time
}

// Skipped is an archive left out of the index, and why. Helm leaves the same archives out
// silently ("assume this is not a chart").
type Skipped struct {
	// Path is the archive's path relative to the indexed directory ('/'-separated), or
	// "<merge file>: name version" for an entry of a merged index.
	Path string
	// Err says what is wrong with it.
	Err error
}

// Shadowed is an entry of a merged index that an archive of the directory replaced.
type Shadowed struct {
	// Name and Version are the entry's, Digest its digest ("" when it had none).
	Name, Version, Digest string
}

// Index is an index being built: sorted entries, plus what was left out.
type Index struct {
	// Entries are the index's chart versions, sorted as Helm sorts them.
	Entries []repoindex.Entry
	// Generated is the index's generation time.
	Generated time.Time
	// Archives is how many archives of the directory are in Entries.
	Archives int
	// Merged is how many entries came from a merged index ([Index.Merge]).
	Merged int
	// Skipped lists archives and merged entries left out, in path order.
	Skipped []Skipped
	// Warnings are changes made to kept entries (e.g. extra URLs dropped).
	Warnings []string
	// Shadowed are the entries of merged indexes left out because an archive of the
	// directory has their chart version (the archive wins), in the merged index's order.
	Shadowed []Shadowed

	versions map[string]*versionSet // chart name → versions present
	archived map[string]*versionSet // chart name → versions of the directory's archives
	json     bool                   // the form entries are rendered in (Options.JSON)
}

// Build indexes the chart archives in dir as `helm repo index DIR --url BaseURL` does:
// the files matching dir/*.tgz and dir/*/*.tgz (Helm's "**/*.tgz" glob matches one level of
// subdirectories), each entry's URL being BaseURL joined with the archive's directory and
// file name. Archives that are not valid charts are skipped and listed in Index.Skipped.
// An error is returned only when the directory cannot be listed or an archive cannot be
// read.
func Build(ctx context.Context, dir string, opts Options) (*Index, error) {
	if opts.Limits.MaxTotalSize <= 0 {
		opts.Limits.MaxTotalSize = chart.DefaultMaxTotalSize
	}
	if opts.Limits.MaxFileSize <= 0 {
		opts.Limits.MaxFileSize = chart.DefaultMaxFileSize
	}
	if opts.Workers <= 0 {
		opts.Workers = 2 * runtime.GOMAXPROCS(0)
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("index: %s is not a directory: give the directory holding the .tgz archives", dir)
	}
	paths, err := listArchives(dir)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", dir, err)
	}

	type result struct {
		entry   repoindex.Entry
		skipped error
		err     error
	}
	results := make([]result, len(paths))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(opts.Workers, max(len(paths), 1)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var w chart.ArchiveWalker
			for i := range jobs {
				r := &results[i]
				r.entry, r.skipped, r.err = indexArchive(dir, paths[i], opts, &w)
			}
		}()
	}
feed:
	for i := range paths {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("index %s: %w", dir, err)
	}

	ix := &Index{Generated: opts.Now, versions: map[string]*versionSet{}, archived: map[string]*versionSet{}, json: opts.JSON}
	for i, r := range results {
		rel, _ := filepath.Rel(dir, paths[i])
		switch {
		case r.err != nil:
			return nil, r.err
		case r.skipped != nil:
			ix.Skipped = append(ix.Skipped, Skipped{Path: filepath.ToSlash(rel), Err: r.skipped})
		default:
			ix.Entries = append(ix.Entries, r.entry)
			ix.versionsOf(r.entry.Name).add(r.entry.Version)
			if ix.archived[r.entry.Name] == nil {
				ix.archived[r.entry.Name] = newVersionSet()
			}
			ix.archived[r.entry.Name].add(r.entry.Version)
			ix.Archives++
		}
	}
	repoindex.Sort(ix.Entries)
	return ix, nil
}

// listArchives lists what Helm's globs dir/*.tgz then dir/**/*.tgz find (Go's "**" is "*":
// one level of subdirectories, followed through symbolic links, names starting with '.'
// included), in the same order, without reading dir's own name as a pattern.
func listArchives(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var top, sub []string
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if strings.HasSuffix(e.Name(), ".tgz") {
			top = append(top, p)
		}
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			continue
		}
		inner, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		for _, f := range inner {
			if strings.HasSuffix(f.Name(), ".tgz") {
				sub = append(sub, filepath.Join(p, f.Name()))
			}
		}
	}
	return append(top, sub...), nil
}

// indexArchive reads one archive. skipped reports an archive that is not a valid chart;
// err one that cannot be read.
func indexArchive(dir, p string, opts Options, w *chart.ArchiveWalker) (e repoindex.Entry, skipped, err error) {
	f, err := os.Open(p)
	if err != nil {
		return e, nil, fmt.Errorf("index: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return e, nil, fmt.Errorf("index: %w", err)
	}
	if fi.IsDir() {
		return e, errors.New("is a directory, not a chart archive"), nil
	}
	if fi.Size() > opts.Limits.MaxTotalSize {
		return e, fmt.Errorf("is larger than the total limit of %d bytes", opts.Limits.MaxTotalSize), nil
	}
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return e, nil, fmt.Errorf("index: read %s: %w", p, err)
	}
	sum := sha256.Sum256(data)
	md, verr := readMetadata(data, opts.Limits, w)
	if verr != nil {
		return e, verr, nil
	}
	meta, err := json.Marshal(md)
	if err != nil {
		return e, nil, fmt.Errorf("index %s: %w", p, err)
	}
	digest := hex.EncodeToString(sum[:])
	y, j, err := repoindex.RenderForms(meta, opts.Now, digest, forms(opts.JSON))
	if err != nil {
		return e, nil, fmt.Errorf("index %s: %w", p, err)
	}
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return e, nil, fmt.Errorf("index: %w", err)
	}
	parent, file := filepath.Split(rel)
	parent = strings.TrimSuffix(parent, string(os.PathSeparator))
	return repoindex.Entry{Name: md.Name, Version: md.Version, YAML: y, JSON: j, URL: archiveURL(opts.BaseURL, filepath.ToSlash(parent), file), Digest: digest}, nil, nil
}

// archiveURL is Helm's: urlutil.URLJoin(URLJoin(base, parentDir), file), falling back to
// path.Join when base does not parse, and the bare file name when both are empty.
func archiveURL(base, parent, file string) string {
	parentURL, err := urlJoin(base, parent)
	if err != nil {
		parentURL = path.Join(base, parent)
	}
	if parentURL == "" {
		return file
	}
	u, err := urlJoin(parentURL, file)
	if err != nil {
		return path.Join(parentURL, file)
	}
	return u
}

// urlJoin is Helm's internal/urlutil.URLJoin.
func urlJoin(base string, paths ...string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	u.Path = path.Join(append([]string{u.Path}, paths...)...)
	return u.String(), nil
}

// Write writes the index in the form it was built for: index.yaml, or its JSON form
// (Options.JSON).
func (ix *Index) Write(w io.Writer) error {
	if ix.json {
		return repoindex.WriteJSON(w, ix.Entries, ix.Generated)
	}
	return repoindex.WriteYAML(w, ix.Entries, ix.Generated)
}

// forms is the entry form an index written as JSON (or not) needs.
func forms(asJSON bool) repoindex.Forms {
	if asJSON {
		return repoindex.JSONForm
	}
	return repoindex.YAMLForm
}

// Charts is how many distinct charts the index lists.
func (ix *Index) Charts() int { return len(ix.versions) }

func (ix *Index) versionsOf(name string) *versionSet {
	vs := ix.versions[name]
	if vs == nil {
		vs = newVersionSet()
		ix.versions[name] = vs
	}
	return vs
}
