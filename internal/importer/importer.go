// Package importer copies chart versions from another chart repository into a chartroom
// namespace: chartroom import and chartroom mirror. A source is a classic repository URL
// (its index.yaml), a local directory (a ChartMuseum storage directory or a static
// repository with its index.yaml) or an OCI namespace (oci://HOST/NAMESPACE); the
// destination is a chartroom namespace reached over OCI.
//
// A run is idempotent and resumable: a version the destination already holds with the same
// archive digest is "already present" and skipped; one it holds with other bytes is never
// overwritten (a failure in import, a tamper alarm in mirror). Versions are copied in
// parallel with a bound.
package importer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chartroom/chartroom/internal/client"
)

// Status is what a run did with one chart version.
type Status string

// The outcomes of a version.
const (
	// Imported: copied to the destination by this run.
	Imported Status = "imported"
	// AlreadyPresent: the destination already held the same archive.
	AlreadyPresent Status = "already present"
	// Failed: not copied; Why says why.
	Failed Status = "failed"
	// Changed: (mirror) the destination holds this version, and the source now serves other
	// bytes under it: a tamper alarm. The destination keeps what it has.
	Changed Status = "changed at the source"
)

// Result is one chart version's outcome.
type Result struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Destination is the OCI repository it went to (oci://HOST/NAMESPACE/NAME).
	Destination string `json:"destination"`
	Status      Status `json:"status"`
	// Digest is the archive's "sha256:<hex>" at the source, when known.
	Digest string `json:"digest,omitempty"`
	// DestinationDigest is the archive's digest at the destination when it differs.
	DestinationDigest string `json:"destinationDigest,omitempty"`
	// Signatures counts the signature, attestation and SBOM tags and referrers copied
	// with it (OCI sources).
	Signatures int `json:"signatures,omitempty"`
	// Why says why it failed or what changed.
	Why string `json:"why,omitempty"`
}

// Report is a run's outcome.
type Report struct {
	Source         string    `json:"source"`
	Destination    string    `json:"destination"`
	Started        time.Time `json:"started"`
	Finished       time.Time `json:"finished"`
	Imported       int       `json:"imported"`
	AlreadyPresent int       `json:"alreadyPresent"`
	Failed         int       `json:"failed"`
	Changed        int       `json:"changedAtSource"`
	Versions       []Result  `json:"versions"`
	// Error is why the run stopped before copying everything (the source could not be
	// listed, or the run was interrupted), "" otherwise.
	Error string `json:"error,omitempty"`
}

// OK reports whether nothing failed and nothing changed at the source.
func (r *Report) OK() bool { return r.Failed == 0 && r.Changed == 0 && r.Error == "" }

// DefaultParallel is how many versions are copied at once by default.
const DefaultParallel = 4

// Options configure a run. Source, Destination and both clients are required.
type Options struct {
	// Source is a classic repository URL (http:// or https://), a directory, or
	// oci://HOST/NAMESPACE.
	Source string
	// Destination is the chartroom namespace: HOST/NAMESPACE (or oci://HOST/NAMESPACE).
	Destination string
	// SourceClient reads the source (its credentials); DestClient writes the destination.
	SourceClient, DestClient *client.Client
	// Parallel bounds the versions copied at once; ≤ 0 means [DefaultParallel].
	Parallel int
	// Mirror reports a version the destination holds with other bytes than the source's
	// as [Changed] (a tamper alarm) instead of [Failed].
	Mirror bool
	// Listed, when set, is told how many versions the source lists, before any is copied.
	Listed func(total int)
	// Done, when set, is told each version's outcome as it is known (from several
	// goroutines, one call at a time).
	Done func(Result)
	// TempDir holds downloads while they are pushed; "" means the system's.
	TempDir string
}

// item is one chart version to copy.
type item struct {
	name, version string
	// dest is the namespace it goes to, oci://HOST/NAMESPACE.
	dest string
	// run copies it.
	run func(ctx context.Context, it *item, dir string) Result
}

// source lists what a run copies.
type source interface {
	list(ctx context.Context) ([]*item, error)
}

// Run copies every chart version of the source the destination lacks and reports every
// version's outcome. An error is returned only when nothing could be attempted (bad
// options); a source that cannot be listed is the report's Error.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.SourceClient == nil || opts.DestClient == nil {
		return nil, errors.New("importer: both clients are required")
	}
	dest, err := destination(opts.Destination)
	if err != nil {
		return nil, err
	}
	src, err := newSource(opts, dest)
	if err != nil {
		return nil, err
	}
	rep := &Report{Source: opts.Source, Destination: dest, Started: time.Now().UTC()}
	defer func() { rep.Finished = time.Now().UTC() }()
	items, err := src.list(ctx)
	if err != nil {
		rep.Error = err.Error()
		return rep, nil
	}
	if opts.Listed != nil {
		opts.Listed(len(items))
	}
	tmp, err := os.MkdirTemp(opts.TempDir, "chartroom-import-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	parallel := opts.Parallel
	if parallel <= 0 {
		parallel = DefaultParallel
	}
	results := make([]Result, len(items))
	var mu sync.Mutex
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				it := items[i]
				dir := filepath.Join(tmp, fmt.Sprint(i))
				res := Result{Name: it.name, Version: it.version, Destination: it.dest + "/" + it.name, Status: Failed}
				if err := os.Mkdir(dir, 0o700); err != nil {
					res.Why = err.Error()
				} else {
					res = it.run(ctx, it, dir)
					os.RemoveAll(dir)
				}
				if res.Status == Changed && !opts.Mirror {
					res.Status = Failed
				}
				mu.Lock()
				results[i] = res
				if opts.Done != nil {
					opts.Done(res)
				}
				mu.Unlock()
			}
		}()
	}
	sent := 0
feed:
	for i := range items {
		select {
		case next <- i:
			sent++
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if sent < len(items) || ctx.Err() != nil {
		rep.Error = fmt.Sprintf("interrupted after %d of %d versions: run the same command again to finish (what is already copied is skipped)", sent, len(items))
	}
	for _, r := range results[:sent] {
		rep.Versions = append(rep.Versions, r)
		switch r.Status {
		case Imported:
			rep.Imported++
		case AlreadyPresent:
			rep.AlreadyPresent++
		case Changed:
			rep.Changed++
		default:
			rep.Failed++
		}
	}
	return rep, nil
}

// destination reads HOST/NAMESPACE (oci:// optional) as oci://HOST/NAMESPACE.
func destination(s string) (string, error) {
	rest := strings.TrimPrefix(s, "oci://")
	if strings.Contains(rest, "://") {
		return "", fmt.Errorf("--to %s: the destination is a chartroom namespace reached over OCI: write HOST/NAMESPACE, e.g. charts.example.com/team", s)
	}
	rest = strings.Trim(rest, "/")
	host, _, _ := strings.Cut(rest, "/")
	if host == "" {
		return "", fmt.Errorf("--to %q names no host: write HOST/NAMESPACE, e.g. charts.example.com/team", s)
	}
	return "oci://" + rest, nil
}

// newSource picks the kind of source opts.Source is.
func newSource(opts Options, dest string) (source, error) {
	s := opts.Source
	switch {
	case strings.HasPrefix(s, "oci://"):
		return newOCISource(opts, dest)
	case strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://"):
		return &classicSource{url: s, opts: opts, dest: dest}, nil
	case strings.Contains(s, "://"):
		return nil, fmt.Errorf("%s: import reads http(s):// chart repositories, oci:// namespaces and local directories", s)
	}
	st, err := os.Stat(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; give a chart repository URL, oci://HOST/NAMESPACE or a directory", s, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory: give a ChartMuseum storage directory, a static repository's directory, a chart repository URL or oci://HOST/NAMESPACE", s)
	}
	return &dirSource{dir: s, opts: opts, dest: dest}, nil
}

// failed is a Result of it that failed because of err.
func failed(it *item, err error) Result {
	return Result{Name: it.name, Version: it.version, Destination: it.dest + "/" + it.name, Status: Failed, Why: oneLine(err.Error())}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
