package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"oras.land/oras-go/v2/errdef"

	"github.com/chartroom/chartroom/internal/chart"
)

// LockResult is the outcome of [Client.Lock].
type LockResult struct {
	// File is the lock file's path (Chart.lock, or requirements.lock for apiVersion v1);
	// "" when Chart.yaml declares no dependencies.
	File string `json:"file"`
	// Digest is the lock's digest, the one helm computes.
	Digest string `json:"digest"`
	// Changed tells whether the file was written; an unchanged resolution keeps the
	// existing file (and its generated time), as helm does.
	Changed bool `json:"changed"`
	// Dependencies are the resolved versions.
	Dependencies []*chart.Dependency `json:"dependencies"`
}

// chartDir loads the chart in dir. With resolve, it returns its metadata with the
// dependencies as helm computes the lock digest from them: "@name" and "alias:name"
// repositories replaced by the URLs of helm's repositories.yaml. Without, the metadata is
// Chart.yaml's: checking a lock needs no repositories.yaml, since the lock records the URLs.
func (c *Client) chartDir(ctx context.Context, dir, op string, resolve bool) (*chart.Chart, *chart.Metadata, error) {
	ch, err := chart.LoadDir(ctx, dir, chart.Limits{})
	if err != nil {
		return nil, nil, &Error{Op: op, Msg: oneLine(err), Err: err}
	}
	md := ch.Metadata.Clone()
	if !resolve {
		return ch, md, nil
	}
	for _, d := range md.Dependencies {
		if d == nil {
			continue
		}
		if d.Repository, err = c.repos.resolveAlias(d.Repository, c.opts.RepositoryConfig); err != nil {
			return nil, nil, &Error{Op: op, Msg: err.Error()}
		}
	}
	return ch, md, nil
}

// lockFileName is the lock file helm writes for the chart.
func lockFileName(md *chart.Metadata) string {
	if md.APIVersion == chart.APIVersionV1 || md.APIVersion == "" {
		return chart.RequirementsLockName
	}
	return chart.LockfileName
}

// CheckLock compares the chart's lock file with its Chart.yaml, offline, as helm dependency
// build does. It returns the lock file's path ("" when Chart.yaml declares no
// dependencies); a difference is a [*chart.LockError] listing them.
func (c *Client) CheckLock(ctx context.Context, dir string) (string, error) {
	ch, md, err := c.chartDir(ctx, dir, "check the lock of "+dir, false)
	if err != nil {
		return "", err
	}
	if len(md.Dependencies) == 0 {
		return "", nil
	}
	return filepath.Join(dir, lockFileName(md)), chart.CheckLock(md, ch.Lock)
}

// Lock resolves the dependency constraints of the chart in dir against their repositories
// and writes the lock file (atomically) with helm's digest, as `helm dependency update`
// does without downloading: https:// repositories through their index.yaml, oci:// through
// their tags (an exact version is taken as written), file:// from the local chart, and
// charts kept in charts/ (no repository) with their constraint.
func (c *Client) Lock(ctx context.Context, dir string) (*LockResult, error) {
	op := "lock " + dir
	ch, md, err := c.chartDir(ctx, dir, op, true)
	if err != nil {
		return nil, err
	}
	req := md.Dependencies
	if len(req) == 0 {
		return &LockResult{}, nil
	}
	locked := make([]*chart.Dependency, len(req))
	var missing []string
	for i, d := range req {
		if d == nil {
			return nil, &Error{Op: op, Msg: fmt.Sprintf("dependency %d of Chart.yaml is empty", i+1)}
		}
		l, why, err := c.lockOne(ctx, dir, d, op)
		if err != nil {
			return nil, err
		}
		if why != "" {
			missing = append(missing, why)
			continue
		}
		locked[i] = l
	}
	if len(missing) > 0 {
		return nil, &Error{Op: op, Kind: ErrNotFound, Msg: fmt.Sprintf("no version satisfies %s; publish a matching version or change the constraint in Chart.yaml", strings.Join(missing, "; "))}
	}
	digest, err := chart.LockDigest(req, locked)
	if err != nil {
		return nil, &Error{Op: op, Msg: err.Error()}
	}
	path := filepath.Join(dir, lockFileName(md))
	res := &LockResult{File: path, Digest: digest, Dependencies: locked}
	if ch.Lock != nil && ch.Lock.Digest == digest {
		return res, nil
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return nil, &Error{Op: op, Msg: fmt.Sprintf("%s is a symbolic link: replace it with a regular file", path)}
	}
	data, err := (&chart.Lock{Generated: time.Now(), Digest: digest, Dependencies: locked}).Marshal()
	if err != nil {
		return nil, &Error{Op: op, Msg: err.Error()}
	}
	if err := chart.WriteFileAtomic(ctx, path, 0o644, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}); err != nil {
		return nil, &Error{Op: op, Msg: err.Error(), Err: err}
	}
	res.Changed = true
	return res, nil
}

// lockOne resolves one dependency. why is set (and l nil) when no version satisfies it.
func (c *Client) lockOne(ctx context.Context, dir string, d *chart.Dependency, op string) (l *chart.Dependency, why string, err error) {
	constraint, cerr := semver.NewConstraint(d.Version)
	if cerr != nil {
		return nil, "", &Error{Op: op, Msg: fmt.Sprintf("dependency %s: version %q is neither a version nor a constraint such as ^1.2 or ~1.4.0", d.Name, d.Version)}
	}
	desc := fmt.Sprintf("%s %q from %s", d.Name, d.Version, d.Repository)
	switch repo := d.Repository; {
	case repo == "":
		if _, err := os.Stat(filepath.Join(dir, chart.ChartsDir, d.Name)); err != nil {
			return nil, "", &Error{Op: op, Msg: fmt.Sprintf("dependency %s has no repository and %s is missing: add a repository to Chart.yaml or put the chart there", d.Name, filepath.Join(dir, chart.ChartsDir, d.Name))}
		}
		return &chart.Dependency{Name: d.Name, Version: d.Version}, "", nil
	case strings.HasPrefix(repo, "file://"):
		local, err := localDependency(ctx, dir, repo)
		if err != nil {
			return nil, "", &Error{Op: op, Msg: fmt.Sprintf("dependency %s: %v", d.Name, err), Err: err}
		}
		v, err := semver.NewVersion(local.Version)
		if err != nil || !constraint.Check(v) {
			return nil, fmt.Sprintf("%s (the chart there is version %s)", desc, local.Version), nil
		}
		return &chart.Dependency{Name: d.Name, Repository: repo, Version: local.Version}, "", nil
	case strings.HasPrefix(repo, "oci://"), strings.HasPrefix(repo, "https://"), strings.HasPrefix(repo, "http://"):
		loc, err := parseLocation(repo)
		if err != nil {
			return nil, "", &Error{Op: op, Msg: fmt.Sprintf("dependency %s: %v", d.Name, err)}
		}
		versions, err := c.lockCandidates(ctx, loc, d, op)
		if err != nil {
			return nil, "", err
		}
		for _, v := range versions {
			sv, err := semver.NewVersion(v)
			if err == nil && constraint.Check(sv) {
				return &chart.Dependency{Name: d.Name, Repository: repo, Version: sv.Original()}, "", nil
			}
		}
		if len(versions) == 0 {
			return nil, fmt.Sprintf("%s (no chart %s there)", desc, d.Name), nil
		}
		shown := versions[:min(len(versions), 5)]
		return nil, fmt.Sprintf("%s (it has %s)", desc, strings.Join(shown, ", ")), nil
	}
	return nil, "", &Error{Op: op, Msg: fmt.Sprintf("dependency %s: repository %q is not a URL (https://…, oci://…, file://…) nor a repository added with helm repo add (@name)", d.Name, d.Repository)}
}

// lockCandidates lists the versions of a dependency's chart newest first, as helm's
// resolver sees them: index.yaml entries with a URL, or OCI tags — or, for OCI and an
// exact version, that version alone (checked to exist).
func (c *Client) lockCandidates(ctx context.Context, loc location, d *chart.Dependency, op string) ([]string, error) {
	if !loc.oci {
		ix, err := c.index(ctx, loc, op)
		if err != nil {
			return nil, err
		}
		return ix.versions(d.Name), nil
	}
	repo, err := c.repository(loc.host, loc.repoName(d.Name))
	if err != nil {
		return nil, &Error{Op: op, Msg: err.Error()}
	}
	f := failure{op: op, host: loc.host, oci: true, scope: "oci://" + loc.host + "/" + loc.repoName(d.Name)}
	if _, err := semver.NewVersion(d.Version); err == nil {
		if _, err := repo.Resolve(ctx, chart.OCITag(d.Version)); err != nil {
			if isStatus(err, 404) || errors.Is(err, errdef.ErrNotFound) {
				return nil, nil
			}
			return nil, c.fail(f, err)
		}
		return []string{d.Version}, nil
	}
	versions, err := c.ociVersions(ctx, repo)
	if err != nil {
		return nil, c.fail(f, err)
	}
	return versions, nil
}

// localDependency loads the chart a file:// repository points at (relative to the chart's
// directory, or absolute) and returns its metadata.
func localDependency(ctx context.Context, dir, repo string) (*chart.Metadata, error) {
	p := strings.TrimPrefix(repo, "file://")
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("directory %s not found", p)
		}
		return nil, err
	}
	ch, err := chart.LoadDir(ctx, p, chart.Limits{})
	if err != nil {
		return nil, err
	}
	return ch.Metadata, nil
}
