package client

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/chartroom/chartroom/internal/chart"
)

// BuildOptions tune [Client.BuildDependencies].
type BuildOptions struct {
	// Verify, when set, must accept every downloaded archive and its provenance file
	// before anything is written to charts/.
	Verify VerifyFunc
}

// BuildResult is the outcome of [Client.BuildDependencies].
type BuildResult struct {
	// Charts are the dependencies now in charts/, in Chart.lock order.
	Charts []*BuiltChart `json:"charts"`
	// Removed are outdated archives deleted from charts/.
	Removed []string `json:"removed,omitempty"`
}

// BuiltChart is one dependency in charts/.
type BuiltChart struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	Repository string `json:"repository"`
	// Path is the archive (or, for a chart kept in charts/, its directory).
	Path     string `json:"path"`
	Digest   string `json:"digest,omitempty"`
	Verified bool   `json:"verified,omitempty"`
	SignedBy string `json:"signedBy,omitempty"`
}

// BuildDependencies fetches exactly the versions the chart's lock file names into charts/,
// as `helm dependency build` does, except that it never re-resolves: a lock file out of
// sync with Chart.yaml (or missing) is a [*chart.LockError]. Every archive is checked
// (digest, name and version, and opts.Verify) before any is moved into charts/; then
// outdated chart archives in charts/ are removed.
func (c *Client) BuildDependencies(ctx context.Context, dir string, opts BuildOptions) (*BuildResult, error) {
	op := "build the dependencies of " + dir
	ch, md, err := c.chartDir(ctx, dir, op, false)
	if err != nil {
		return nil, err
	}
	res := &BuildResult{Charts: []*BuiltChart{}}
	if len(md.Dependencies) == 0 {
		return res, nil
	}
	if err := chart.CheckLock(md, ch.Lock); err != nil {
		return nil, err
	}
	chartsDir := filepath.Join(dir, chart.ChartsDir)
	if fi, err := os.Stat(chartsDir); err == nil && !fi.IsDir() {
		return nil, &Error{Op: op, Msg: fmt.Sprintf("%s is not a directory: remove it", chartsDir)}
	}
	if err := os.MkdirAll(chartsDir, 0o755); err != nil {
		return nil, &Error{Op: op, Msg: err.Error(), Err: err}
	}
	// Downloads land in a hidden directory of charts/ (helm ignores names starting with
	// '.'), on the same filesystem, so moving them in is a rename.
	tmp, err := os.MkdirTemp(chartsDir, ".chartroom-build-")
	if err != nil {
		return nil, &Error{Op: op, Msg: err.Error(), Err: err}
	}
	defer os.RemoveAll(tmp)

	local := map[string]bool{}
	fetched := map[string]bool{} // archive file names written to tmp
	for _, l := range ch.Lock.Dependencies {
		if l == nil {
			continue
		}
		built, err := c.buildOne(ctx, dir, tmp, l, opts, op)
		if err != nil {
			return nil, err
		}
		if l.Repository == "" {
			local[l.Name] = true
		}
		res.Charts = append(res.Charts, built)
	}
	for _, b := range res.Charts {
		if filepath.Dir(b.Path) != tmp {
			continue
		}
		name := filepath.Base(b.Path)
		dest := filepath.Join(chartsDir, name)
		if !fetched[name] {
			if err := os.Rename(b.Path, dest); err != nil {
				return nil, &Error{Op: op, Msg: err.Error(), Err: err}
			}
			fetched[name] = true
		}
		b.Path = dest
	}
	res.Removed = removeOutdated(chartsDir, fetched, local)
	return res, nil
}

// buildOne fetches (or checks) one locked dependency into tmp.
func (c *Client) buildOne(ctx context.Context, dir, tmp string, l *chart.Dependency, opts BuildOptions, op string) (*BuiltChart, error) {
	b := &BuiltChart{Name: l.Name, Version: l.Version, Repository: l.Repository}
	switch repo := l.Repository; {
	case repo == "":
		// Kept in charts/: check it is there and satisfies the locked constraint.
		p := filepath.Join(dir, chart.ChartsDir, l.Name)
		sub, err := chart.LoadDir(ctx, p, chart.Limits{})
		if err != nil {
			return nil, &Error{Op: op, Msg: fmt.Sprintf("dependency %s has no repository and %s cannot be loaded: %v", l.Name, p, oneLine(err)), Err: err}
		}
		if c, err := semver.NewConstraint(l.Version); err == nil {
			if v, err := semver.NewVersion(sub.Metadata.Version); err != nil || !c.Check(v) {
				return nil, &Error{Op: op, Msg: fmt.Sprintf("%s is version %s, outside %q: update the chart there or Chart.yaml", p, sub.Metadata.Version, l.Version)}
			}
		}
		b.Path = p
		return b, nil
	case strings.HasPrefix(repo, "file://"):
		src := strings.TrimPrefix(repo, "file://")
		if !filepath.IsAbs(src) {
			src = filepath.Join(dir, src)
		}
		path, sub, err := chart.PackageToDir(ctx, src, tmp, chart.PackageOptions{})
		if err != nil {
			return nil, &Error{Op: op, Msg: fmt.Sprintf("dependency %s: %v", l.Name, oneLine(err)), Err: err}
		}
		if sub.Metadata.Name != l.Name || sub.Metadata.Version != l.Version {
			return nil, &Error{Op: op, Msg: fmt.Sprintf("%s holds %s %s but the lock file says %s %s: run chartroom lock and commit the lock file", src, sub.Metadata.Name, sub.Metadata.Version, l.Name, l.Version)}
		}
		b.Path = path
		return b, nil
	}
	loc, err := parseLocation(l.Repository)
	if err != nil {
		return nil, &Error{Op: op, Msg: fmt.Sprintf("dependency %s: %v", l.Name, err)}
	}
	dest := filepath.Join(tmp, chart.ArchiveName(l.Name, l.Version))
	if _, err := os.Stat(dest); err == nil {
		b.Path = dest // the same chart under two aliases
		return b, nil
	}
	depOp := fmt.Sprintf("%s: fetch %s %s from %s", op, l.Name, l.Version, loc)
	d, err := c.download(ctx, loc, l.Name, l.Version, tmp, depOp)
	if err != nil {
		return nil, err
	}
	defer d.discard()
	b.Digest = "sha256:" + d.archive.sha256
	if opts.Verify != nil {
		if d.prov == nil {
			return nil, &Error{Op: depOp, Kind: ErrVerifyFailed, Msg: fmt.Sprintf("%s %s has no provenance file: it was published unsigned; build without --verify or ask its publisher to sign it", l.Name, l.Version)}
		}
		signer, err := opts.Verify(d.archive.reader(), filepath.Base(d.archive.dest), d.provData)
		if err != nil {
			return nil, &Error{Op: depOp, Kind: ErrVerifyFailed, Msg: oneLine(err), Err: err}
		}
		b.Verified, b.SignedBy = true, signer
	}
	if err := d.archive.commit(); err != nil {
		return nil, &Error{Op: depOp, Msg: err.Error(), Err: err}
	}
	b.Path = d.archive.dest
	return b, nil
}

// removeOutdated deletes chart archives in charts/ that this build did not write, except
// charts kept there without a repository, as helm does. Files that are not chart archives
// are left alone.
func removeOutdated(chartsDir string, fetched, local map[string]bool) []string {
	entries, err := os.ReadDir(chartsDir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || fetched[name] || !strings.HasSuffix(name, ".tgz") || strings.HasPrefix(name, ".") {
			continue
		}
		p := filepath.Join(chartsDir, name)
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		ch, err := chart.LoadArchive(f, chart.Limits{})
		f.Close()
		if err != nil || local[ch.Metadata.Name] {
			continue
		}
		if os.Remove(p) == nil {
			removed = append(removed, p)
		}
	}
	return removed
}
