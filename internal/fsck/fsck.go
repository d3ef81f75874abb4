// Package fsck checks a chartroom data directory: that the metadata database and the blob
// store agree, that every stored blob still hashes to its digest, that manifests and chart
// versions have what they need, and what is left over. It repairs, on request, only what can
// be repaired without losing anything that is intact.
//
// It reads the database through a read-only connection inside one snapshot and never
// creates or cleans anything unless asked to repair, so it can run beside `chartroom serve`.
// Because a blob is always stored before the database records it, a check that reads the
// database first and the blob store second never mistakes a push in progress for damage: at
// worst such a blob shows as an orphan.
package fsck

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/blob"
	blobfs "github.com/chartroom/chartroom/internal/blob/fs"
	"github.com/chartroom/chartroom/internal/meta"
)

// DefaultStaleAfter is how long a temporary file or upload session must have been left
// untouched before it counts as abandoned, when Options.StaleAfter is zero.
const DefaultStaleAfter = 24 * time.Hour

// Options say what to check and whether to repair. Paths are those `chartroom serve` uses.
type Options struct {
	// DataDir is the data directory (shown in the report).
	DataDir string
	// Database is the SQLite database file.
	Database string
	// Blobs is the root of the filesystem blob store.
	Blobs string
	// LostFound receives the blobs that Repair takes out of the store because their bytes no
	// longer match their digest.
	LostFound string
	// Repair fixes what can be fixed without losing intact content (see the README).
	// Without it nothing is written.
	Repair bool
	// StaleAfter is how long a leftover must have been untouched for Repair to remove it;
	// 0 means DefaultStaleAfter.
	StaleAfter time.Duration
}

// Severity ranks a finding.
type Severity string

// Severities.
const (
	// Problem is damage or an inconsistency: the exit code is 1.
	Problem Severity = "problem"
	// Note is worth knowing but harmless (orphans, leftovers).
	Note Severity = "note"
)

// Finding is one thing the check found, with what it means and what to do about it.
type Finding struct {
	Category string   `json:"category"`
	Kind     string   `json:"kind"`
	Severity Severity `json:"severity"`
	// Subject is what the finding is about: a digest, repository@digest, a chart version or a path.
	Subject string `json:"subject"`
	// Detail is what was found.
	Detail string `json:"detail"`
	// Meaning is what it means for users of the registry.
	Meaning string `json:"meaning"`
	// Action is what to do about it.
	Action string `json:"action"`
	// Repaired says what --repair did about it; "" when it did nothing.
	Repaired string `json:"repaired,omitempty"`
	// RepairFailed says why a repair that was tried failed.
	RepairFailed string `json:"repairFailed,omitempty"`
}

// Category is the summary of one part of the check.
type Category struct {
	Name     string `json:"name"`
	Summary  string `json:"summary"`
	Problems int    `json:"problems"`
	Notes    int    `json:"notes"`
}

// Report is the result of a check.
type Report struct {
	DataDir    string     `json:"dataDir"`
	Repair     bool       `json:"repair"`
	Categories []Category `json:"categories"`
	Findings   []Finding  `json:"findings"`
	// Problems counts the findings of severity Problem, repaired or not.
	Problems int `json:"problems"`
	// Repaired counts the findings --repair fixed.
	Repaired int `json:"repaired"`
	Notes    int `json:"notes"`
}

// Category names, in report order.
const (
	catDatabase  = "database"
	catBlobs     = "blobs"
	catManifests = "manifests"
	catCharts    = "charts"
	catOrphans   = "orphans"
	catLeftovers = "leftovers"
)

// ErrNothingToCheck means the directory holds neither a database nor blobs.
var ErrNothingToCheck = errors.New("nothing to check")

// Run checks the data directory. It returns an error only when it could not check (the
// directory does not exist, I/O errors); what it finds is in the report.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = DefaultStaleAfter
	}
	fi, err := os.Stat(opts.DataDir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("no data directory at %s: check --data-dir (or data-dir in the config file)", opts.DataDir)
	case err != nil:
		return nil, fmt.Errorf("data directory: %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("data directory %s is not a directory", opts.DataDir)
	}
	c := &checker{opts: opts, report: &Report{DataDir: opts.DataDir, Repair: opts.Repair}, summaries: map[string]string{}}
	c.store, err = blobfs.OpenExisting(opts.Blobs)
	if err != nil && !errors.Is(err, blob.ErrNotFound) {
		return nil, err
	}
	hasBlobs, err := blobfs.HasBlobs(opts.Blobs)
	if err != nil {
		return nil, err
	}
	if err := c.openDatabase(ctx, hasBlobs); err != nil {
		return nil, err
	}
	if c.db != nil {
		defer c.db.Close()
		defer c.snap.Close()
		if err := c.load(ctx); err != nil {
			return nil, err
		}
	}
	if err := c.checkStore(ctx); err != nil {
		return nil, err
	}
	if c.db != nil {
		c.checkRecordedBlobs(ctx)
		c.checkCharts()
		c.checkOrphans()
	}
	if err := c.checkLeftovers(); err != nil {
		return nil, err
	}
	return c.finish(), nil
}

// checker holds what one run has learnt.
type checker struct {
	opts   Options
	report *Report
	store  *blobfs.Store // nil when there is no blob store
	db     *meta.DB      // nil when there is no usable database
	snap   *meta.Snapshot

	summaries map[string]string

	// From the database.
	recorded   map[digest.Digest]int64 // blobs table
	links      map[repoDigest]bool     // repository_blobs
	linkedAny  map[digest.Digest]bool
	references map[repoDigest][]digest.Digest
	dependents map[digest.Digest][]string // blob → manifests (repo@digest) that reference it
	manifests  map[repoDigest]*manifestInfo
	tags       map[repoTag]digest.Digest
	charts     []meta.ChartVersion

	// From the blob store.
	stored map[digest.Digest]*storedBlob
}

type repoDigest struct {
	repo string
	d    digest.Digest
}

type repoTag struct{ repo, tag string }

// storedBlob is what the walk found of one blob.
type storedBlob struct {
	size        int64
	corrupt     bool
	quarantined string // where --repair moved it
}

func (c *checker) add(f Finding) {
	c.report.Findings = append(c.report.Findings, f)
}

func (c *checker) summary(cat, format string, args ...any) {
	c.summaries[cat] = fmt.Sprintf(format, args...)
}

// finish counts the findings and orders the summaries.
func (c *checker) finish() *Report {
	r := c.report
	for _, name := range []string{catDatabase, catBlobs, catManifests, catCharts, catOrphans, catLeftovers} {
		s, ok := c.summaries[name]
		if !ok {
			continue
		}
		cat := Category{Name: name, Summary: s}
		for _, f := range r.Findings {
			if f.Category != name {
				continue
			}
			if f.Severity == Problem {
				cat.Problems++
			} else {
				cat.Notes++
			}
		}
		r.Categories = append(r.Categories, cat)
	}
	for _, f := range r.Findings {
		if f.Severity == Problem {
			r.Problems++
		} else {
			r.Notes++
		}
		if f.Repaired != "" {
			r.Repaired++
		}
	}
	return r
}

// openDatabase inspects the database and opens it when it is usable.
func (c *checker) openDatabase(ctx context.Context, hasBlobs bool) error {
	path := c.opts.Database
	state, err := meta.InspectSQLite(ctx, path)
	var corrupt *meta.CorruptError
	if err != nil && !errors.As(err, &corrupt) {
		return err
	}
	restore := "restore chartroom.db from your latest backup (README, \"Backup and restore\"), then run chartroom fsck again; chartroom serve refuses to start until then"
	switch state {
	case meta.DatabaseCorrupt:
		c.summary(catDatabase, "%s: not readable", path)
		c.add(Finding{Category: catDatabase, Kind: "database-corrupt", Severity: Problem, Subject: path,
			Detail:  fmt.Sprintf("the file is not a SQLite database or is corrupt (%s)", corrupt.Detail),
			Meaning: "the registry's catalog, chart versions, tags and users cannot be read; the blobs alone do not say which chart or image they belong to",
			Action:  restore + "; keep the damaged file aside for analysis (chartroom never overwrites it)"})
		return nil
	case meta.DatabaseMissing, meta.DatabaseEmpty:
		what := map[meta.DatabaseState]string{meta.DatabaseMissing: "missing", meta.DatabaseEmpty: "empty (zero-length, or without chartroom's tables)"}[state]
		if !hasBlobs {
			return fmt.Errorf("%w: %s holds no chartroom database and no blobs; is --data-dir right?", ErrNothingToCheck, c.opts.DataDir)
		}
		c.summary(catDatabase, "%s: %s", path, what)
		c.add(Finding{Category: catDatabase, Kind: "database-" + state.String(), Severity: Problem, Subject: path,
			Detail:  fmt.Sprintf("the database is %s but the blob store %s holds blobs", what, c.opts.Blobs),
			Meaning: "the database was probably lost or misplaced: the blobs alone do not say which chart, version or tag they belong to",
			Action:  restore + "; to really start over instead, move " + c.opts.Blobs + " away"})
		return nil
	}
	db, err := meta.OpenSQLiteExisting(ctx, path, !c.opts.Repair)
	if err != nil {
		return err
	}
	snap, err := db.Snapshot(ctx)
	if err != nil {
		db.Close()
		return err
	}
	c.db, c.snap = db, snap
	return nil
}

// quarantineHint says where a damaged blob goes.
func (c *checker) quarantineHint() string {
	return "chartroom fsck --repair moves it to " + c.opts.LostFound + " (it is not deleted)"
}

// blobPath is where blob d lives in the store, for messages.
func (c *checker) blobPath(d digest.Digest) string {
	if d.Validate() != nil {
		return d.String()
	}
	return filepath.Join(c.opts.Blobs, "blobs", string(d.Algorithm()), d.Encoded()[:2], d.Encoded())
}
