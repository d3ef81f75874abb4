package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/chartroom/chartroom/internal/chart"
)

// isArchiveURL reports whether s is an http(s) URL of a .tgz file: helm pull downloads such
// a URL as it is.
func isArchiveURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && strings.HasSuffix(u.Path, ".tgz")
}

// archiveRef reads the URL of one chart archive; repo is the --repo flag's value.
func archiveRef(s, repo string) (ChartRef, error) {
	if repo != "" {
		return ChartRef{}, fmt.Errorf("%s names the archive itself: drop --repo", s)
	}
	u, _ := url.Parse(s)
	dir := *u
	dir.Path = path.Dir(u.Path)
	dir.RawPath, dir.RawQuery, dir.Fragment = "", "", ""
	loc, err := parseLocation(dir.String())
	if err != nil {
		return ChartRef{}, err
	}
	if path.Base(u.Path) == ".tgz" {
		return ChartRef{}, fmt.Errorf("%s names no archive: write https://HOST/PATH/NAME-VERSION.tgz", s)
	}
	return ChartRef{loc: loc, URL: u.String()}, nil
}

// downloadURL fetches the chart archive ref.URL names (and its .prov, when the server has
// one) into dir, under the URL's file name as helm pull saves it. Credentials go to it as to
// a chart repository on that host.
func (c *Client) downloadURL(ctx context.Context, ref ChartRef, dir, op string) (*downloaded, error) {
	u, err := url.Parse(ref.URL)
	if err != nil {
		return nil, &Error{Op: op, Msg: err.Error()}
	}
	f := failure{op: op, host: ref.loc.host, scope: ref.URL,
		notFound: fmt.Sprintf("%s does not exist (404): check the URL", ref.URL)}
	return c.fetchChart(filepath.Join(dir, path.Base(u.Path)), "", "", op, func(d *downloaded) error {
		return c.fetchArchive(ctx, ref.loc, ref.URL, "", d, f)
	})
}

// checkUntarTarget refuses to expand chart name into parent when parent/name exists, as
// helm pull --untar refuses it.
func checkUntarTarget(parent, name string) error {
	target := filepath.Join(parent, name)
	if _, err := os.Lstat(target); err == nil {
		return fmt.Errorf("%s already exists: pull --untar never writes into an existing directory (nor does helm): remove it, or pass another --untardir", target)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// expand writes the chart's files into parent/NAME as helm pull --untar does: every file of
// the archive as helm's loader reads it, files 0644, directories 0755. The archive was
// validated when it was loaded (no absolute or ".." paths, no links, no devices, bounded
// sizes); the files are written below a temporary directory through an [os.Root], which
// refuses any path that would leave it, and the directory is renamed into place once
// complete, so parent/NAME appears whole or not at all. It returns parent/NAME.
func expand(ch *chart.Chart, parent string) (string, error) {
	name := ch.Metadata.Name
	if err := checkUntarTarget(parent, name); err != nil {
		return "", err
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(parent, "."+name+".tmp-*")
	if err != nil {
		return "", err
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return "", err
	}
	defer root.Close()
	for _, f := range ch.Files {
		if err := writeRootFile(root, filepath.FromSlash(f.Name), f.Data); err != nil {
			return "", fmt.Errorf("expand %s: %w", f.Name, err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	target := filepath.Join(parent, name)
	if err := checkUntarTarget(parent, name); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, target); err != nil {
		return "", fmt.Errorf("expand into %s: %w", target, err)
	}
	done = true
	return target, nil
}

// writeRootFile writes one file below root, creating its directories, and syncs it.
func writeRootFile(root *os.Root, name string, data []byte) error {
	if err := root.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
