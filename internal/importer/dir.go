package importer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/safeyaml"
)

// maxIndexSize bounds a local index.yaml.
const maxIndexSize = 256 << 20

// dirSource is a local directory: a static chart repository (its index.yaml names the
// archives, their digests and dates) or, without index.yaml, a ChartMuseum storage
// directory: NAME-VERSION.tgz files with their .prov beside them, dated by their
// modification time as ChartMuseum dates them; each subdirectory holding .tgz files is a
// tenant (ChartMuseum --depth 1) imported into the namespace of the same name below the
// destination.
type dirSource struct {
	dir  string
	opts Options
	dest string
}

func (s *dirSource) list(ctx context.Context) ([]*item, error) {
	ix := filepath.Join(s.dir, "index.yaml")
	if _, err := os.Stat(ix); err == nil {
		return s.listIndex(ix)
	}
	items, err := s.listArchives(s.dir, s.dest)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		sub, err := s.listArchives(filepath.Join(s.dir, e.Name()), s.dest+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		items = append(items, sub...)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%s holds no index.yaml and no chart archive (*.tgz), nor do its subdirectories: give a ChartMuseum storage directory or a static repository's directory", s.dir)
	}
	return items, nil
}

// listArchives lists the .tgz files of dir, each read for its chart's name and version.
func (s *dirSource) listArchives(dir, dest string) ([]*item, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.tgz"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var items []*item
	for _, p := range names {
		md, sha, err := readArchive(p)
		if err != nil {
			items = append(items, &item{name: filepath.Base(p), dest: dest, run: func(_ context.Context, it *item, _ string) Result {
				return failed(it, err)
			}})
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		a := &archiveCopy{opts: s.opts, digest: sha, created: st.ModTime(), fetch: localFetch(p, md.Name, md.Version, sha)}
		items = append(items, &item{name: md.Name, version: md.Version, dest: dest, run: a.run})
	}
	return items, nil
}

// localIndex is what import reads of a static repository's index.yaml.
type localIndex struct {
	APIVersion string `json:"apiVersion"`
	Entries    map[string][]*struct {
		Name    string   `json:"name"`
		Version string   `json:"version"`
		URLs    []string `json:"urls"`
		Digest  string   `json:"digest"`
		Created string   `json:"created"`
	} `json:"entries"`
}

// listIndex lists the versions of a static repository's index.yaml. An entry's archive is
// the file its first URL names: relative URLs below the directory, absolute ones by their
// file name in the directory (a checkout of a repository published elsewhere).
func (s *dirSource) listIndex(p string) ([]*item, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxIndexSize+1))
	f.Close()
	if err != nil {
		return nil, err
	}
	if len(data) > maxIndexSize {
		return nil, fmt.Errorf("%s is larger than %d MiB; it is not a chart repository index", p, maxIndexSize>>20)
	}
	var ix localIndex
	if err := safeyaml.Unmarshal(data, &ix); err != nil || ix.APIVersion == "" {
		why := "it has no apiVersion"
		if err != nil {
			why = oneLine(err.Error())
		}
		return nil, fmt.Errorf("%s is not a chart repository index (%s): fix it, or remove it to import the directory's .tgz files as they are", p, why)
	}
	var items []*item
	for name, es := range ix.Entries {
		for _, e := range es {
			if e == nil || len(e.URLs) == 0 {
				continue
			}
			if _, err := chart.ParseVersion(e.Version); err != nil {
				continue
			}
			it := &item{name: name, version: e.Version, dest: s.dest}
			file, err := s.indexFile(e.URLs[0])
			if err != nil {
				it.run = func(_ context.Context, it *item, _ string) Result { return failed(it, err) }
				items = append(items, it)
				continue
			}
			a := &archiveCopy{opts: s.opts, digest: strings.TrimPrefix(e.Digest, "sha256:"),
				fetch: localFetch(file, name, e.Version, strings.TrimPrefix(e.Digest, "sha256:"))}
			if t, err := time.Parse(time.RFC3339Nano, e.Created); err == nil {
				a.created = t
			}
			it.run = a.run
			items = append(items, it)
		}
	}
	sort.Slice(items, func(i, j int) bool {
		if items[i].name != items[j].name {
			return items[i].name < items[j].name
		}
		return chart.CompareVersions(items[i].version, items[j].version) < 0
	})
	return items, nil
}

// indexFile is the local file an index URL names.
func (s *dirSource) indexFile(ref string) (string, error) {
	u, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("index.yaml lists %q, which is not a URL", ref)
	}
	rel := path.Base(u.Path)
	if !u.IsAbs() {
		rel = path.Clean("/" + u.Path)[1:]
	}
	p := filepath.Join(s.dir, filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("index.yaml lists %s, but %s does not exist: copy the archives beside index.yaml, or import from the repository's URL", ref, p)
	}
	return p, nil
}

// readArchive loads an archive for its metadata and sha256 (hex).
func readArchive(p string) (*chart.Metadata, string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	h := sha256.New()
	tee := io.TeeReader(f, h)
	ch, err := chart.LoadArchive(tee, chart.Limits{})
	if err == nil {
		_, err = io.Copy(io.Discard, tee)
	}
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", p, err)
	}
	return ch.Metadata, hex.EncodeToString(h.Sum(nil)), nil
}

// localFetch copies the archive at p (and p.prov) into a directory as NAME-VERSION.tgz,
// checking its sha256 against want (unless "").
func localFetch(p, name, version, want string) func(ctx context.Context, dir string) (string, string, error) {
	return func(_ context.Context, dir string) (string, string, error) {
		dest := filepath.Join(dir, chart.ArchiveName(name, version))
		sha, err := copyFile(p, dest)
		if err != nil {
			return "", "", err
		}
		if want != "" && sha != want {
			return "", "", fmt.Errorf("%s has sha256 %s but index.yaml says %s: the file changed or the index is stale; fix the index (chartroom index) or the file", p, sha, want)
		}
		md, _, err := readArchive(dest)
		if err != nil {
			return "", "", err
		}
		if md.Name != name || md.Version != version {
			return "", "", fmt.Errorf("%s holds chart %s %s, not %s %s: fix the index", p, md.Name, md.Version, name, version)
		}
		if _, err := copyFile(p+".prov", dest+".prov"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", "", err
		}
		return dest, sha, nil
	}
}

// copyFile copies src to dest and returns its sha256 (hex).
func copyFile(src, dest string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
