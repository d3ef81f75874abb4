package chart

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
)

// PackageOptions tune [Package]. The zero value packages the chart as it is.
type PackageOptions struct {
	// Version, if set, replaces Chart.yaml's version (helm package --version).
	Version string
	// AppVersion, if set, replaces Chart.yaml's appVersion (--app-version).
	AppVersion string
	// ModTime is the modification time of every entry, truncated to whole
	// seconds. The zero value means the Unix epoch (1970-01-01T00:00:00Z);
	// callers honouring SOURCE_DATE_EPOCH pass that time.
	ModTime time.Time
	// Limits bound the chart directory being read ([Limits]).
	Limits Limits
}

// gzipExtra and gzipComment are the gzip header fields `helm package`
// writes (pkg/chartutil/save.go); keeping them makes archives look like
// Helm's to tools that peek at the header.
var gzipExtra = []byte("+aHR0cHM6Ly95b3V0dS5iZS96OVV6MWljandyTQo=")

const gzipComment = "Helm"

// ErrMissingDependency is wrapped when charts/ lacks a dependency
// declared in Chart.yaml (or holds a different version than locked).
var ErrMissingDependency = errors.New("dependency missing from charts/")

// Package loads the chart in dir ([LoadDir]), applies the version
// overrides, checks its dependencies, and writes the .tgz to w. It returns
// the chart as packaged; its Metadata.ArchiveName() is the file name Helm
// would use.
//
// The output is byte-identical for identical input on any machine
// (given the same Go compress/flate): entries sorted, regular files only
// (no directory entries, as Helm), mode 0644 (as Helm: executable bits are
// dropped), uid/gid 0, empty user and group names, one fixed mtime, a
// gzip header with no name and zero mtime, default compression level.
//
// Layout follows `helm package`: "<name>/Chart.yaml" first, then
// Chart.lock, values.yaml, values.schema.json, templates/…, then every
// other file in byte order; entries of charts/ named "_*" or ".*" are left
// out, as Helm leaves them out. Unlike Helm, which re-serializes Chart.yaml
// and Chart.lock (losing comments) and unpacks charts/*.tgz subcharts into
// directories, files are stored as they are; version overrides edit
// Chart.yaml in place ([SetChartYAMLValue]).
//
// Packaging is refused when a lock file disagrees with Chart.yaml
// ([CheckLock]), when charts/ lacks a declared dependency or holds another
// version than locked (or one outside the declared range when there is no
// lock file), or when values.schema.json is not valid JSON.
func Package(ctx context.Context, dir string, w io.Writer, opts PackageOptions) (*Chart, error) {
	ch, files, err := preparePackage(ctx, dir, opts)
	if err != nil {
		return nil, err
	}
	if err := writeArchive(w, ch.Metadata.Name, files, opts.ModTime); err != nil {
		return nil, fmt.Errorf("package %s: %w", dir, err)
	}
	return ch, nil
}

// PackageToDir packages the chart in dir like [Package] into
// destDir/<name>-<version>.tgz, atomically ([WriteFileAtomic]); destDir is
// created if needed. It returns the archive's path.
func PackageToDir(ctx context.Context, dir, destDir string, opts PackageOptions) (string, *Chart, error) {
	ch, files, err := preparePackage(ctx, dir, opts)
	if err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(destDir, 0o755); err != nil {
		return "", nil, fmt.Errorf("package %s: %w", dir, err)
	}
	dest := filepath.Join(destDir, ch.Metadata.ArchiveName())
	err = WriteFileAtomic(ctx, dest, 0o644, func(w io.Writer) error {
		return writeArchive(w, ch.Metadata.Name, files, opts.ModTime)
	})
	if err != nil {
		return "", nil, fmt.Errorf("package %s: %w", dir, err)
	}
	return dest, ch, nil
}

// preparePackage loads, overrides and checks; it returns the files to
// store, in archive order.
func preparePackage(ctx context.Context, dir string, opts PackageOptions) (*Chart, []*File, error) {
	ch, err := LoadDir(ctx, dir, opts.Limits)
	if err != nil {
		return nil, nil, fmt.Errorf("package %s: %w", dir, err)
	}
	if opts.Version != "" || opts.AppVersion != "" {
		raw := ch.ChartYAML()
		for _, kv := range [][2]string{{"version", opts.Version}, {"appVersion", opts.AppVersion}} {
			if kv[1] == "" {
				continue
			}
			if raw, err = SetChartYAMLValue(raw, kv[0], kv[1]); err != nil {
				return nil, nil, fmt.Errorf("package %s: %w", dir, err)
			}
		}
		files := make([]*File, len(ch.Files))
		for i, f := range ch.Files {
			if f.Name == ChartfileName {
				f = &File{Name: f.Name, Data: raw}
			}
			files[i] = f
		}
		if ch, err = buildChart(ch.Root, files, newBudget(opts.Limits), 0, ""); err != nil {
			return nil, nil, fmt.Errorf("package %s: %w", dir, err)
		}
	}
	if s := ch.Schema(); s != nil && !json.Valid(s) {
		return nil, nil, fmt.Errorf("package %s: %w", dir, archiveErr(SchemafileName, "is not valid JSON: fix it, or remove it"))
	}
	if err := checkBundledDependencies(ch); err != nil {
		return nil, nil, fmt.Errorf("package %s: %w", dir, err)
	}

	var files []*File
	for _, f := range ch.Files {
		if rest, ok := strings.CutPrefix(f.Name, ChartsDir+"/"); ok && strings.IndexAny(rest, "_.") == 0 {
			continue
		}
		files = append(files, f)
	}
	slices.SortStableFunc(files, func(a, b *File) int {
		if ra, rb := packageRank(a.Name), packageRank(b.Name); ra != rb {
			return ra - rb
		}
		return strings.Compare(a.Name, b.Name)
	})
	return ch, files, nil
}

func packageRank(name string) int {
	switch name {
	case ChartfileName:
		return 0
	case LockfileName:
		return 1
	case ValuesfileName:
		return 2
	case SchemafileName:
		return 3
	}
	if strings.HasPrefix(name, TemplatesDir+"/") {
		return 4
	}
	return 5
}

// checkBundledDependencies checks the lock file and that charts/ holds
// every declared dependency, at the locked version when locked.
func checkBundledDependencies(ch *Chart) error {
	md := ch.Metadata
	if ch.Lock != nil {
		if err := CheckLock(md, ch.Lock); err != nil {
			return err
		}
	}
	if len(md.Dependencies) == 0 {
		return nil
	}
	var problems []string
	var usedLock []bool
	if ch.Lock != nil {
		usedLock = make([]bool, len(ch.Lock.Dependencies))
	}
	for _, d := range md.Dependencies {
		var have []string
		for _, sc := range ch.Dependencies {
			if sc.Metadata.Name == d.Name {
				have = append(have, sc.Metadata.Version)
			}
		}
		want, wantRange := "", d.Version
		if ch.Lock != nil {
			for k, l := range ch.Lock.Dependencies {
				if l != nil && !usedLock[k] && l.Name == d.Name {
					usedLock[k], want = true, l.Version
					break
				}
			}
		}
		if len(have) == 0 {
			v := wantRange
			if want != "" {
				v = want
			}
			problems = append(problems, fmt.Sprintf("%s %s is not in charts/", d.Name, v))
			continue
		}
		if !slices.ContainsFunc(have, func(h string) bool { return versionMatches(h, want, wantRange) }) {
			if want != "" {
				problems = append(problems, fmt.Sprintf("%s: charts/ has %s but %s locks %q", d.Name, strings.Join(have, ", "), ch.LockFile, want))
			} else {
				problems = append(problems, fmt.Sprintf("%s: charts/ has %s, outside %q from Chart.yaml", d.Name, strings.Join(have, ", "), wantRange))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s; run `chartroom dependency build` to fetch them", ErrMissingDependency, strings.Join(problems, "; "))
	}
	return nil
}

// versionMatches: have equals the locked version or, when the lock holds a
// range (Helm locks charts kept in charts/ with their Chart.yaml range) or
// there is no lock, lies in that range.
func versionMatches(have, locked, rng string) bool {
	hv, err := semver.NewVersion(have)
	if locked != "" {
		if have == locked {
			return true
		}
		if lv, err2 := semver.StrictNewVersion(locked); err2 == nil {
			return err == nil && hv.Equal(lv)
		}
		rng = locked
	}
	if rng == "" {
		return true
	}
	c, err2 := semver.NewConstraint(rng)
	return err == nil && err2 == nil && c.Check(hv)
}

// writeArchive writes files as a reproducible gzip tar under root/.
func writeArchive(w io.Writer, root string, files []*File, modTime time.Time) error {
	if modTime.IsZero() {
		modTime = time.Unix(0, 0)
	}
	modTime = modTime.UTC().Truncate(time.Second)

	zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	zw.Header = gzip.Header{Extra: gzipExtra, Comment: gzipComment, OS: 255}
	tw := tar.NewWriter(zw)
	for _, f := range files {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     root + "/" + f.Name,
			Mode:     0o644,
			Size:     int64(len(f.Data)),
			ModTime:  modTime,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write %s: %w", hdr.Name, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return fmt.Errorf("write %s: %w", hdr.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}
