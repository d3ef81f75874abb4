package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/Masterminds/semver/v3"
	"oras.land/oras-go/v2/errdef"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/termsafe"
)

// ErrVerifyFailed is the kind of an [*Error] whose archive failed verification against its
// provenance file (or had none to verify against).
var ErrVerifyFailed = errors.New("verification failed")

// VerifyFunc checks an archive against its provenance file; it returns who signed it. The
// caller supplies it (with its keyring) to [PullOptions] and [BuildOptions].
type VerifyFunc func(archive io.Reader, archiveName string, prov []byte) (signer string, err error)

// PullOptions tune [Client.Pull].
type PullOptions struct {
	// Version is a version or constraint ("^1.2", "~1.4.0"); "" means the newest release
	// version (or the version written in the reference).
	Version string
	// DestDir receives NAME-VERSION.tgz (and .prov); "" means the current directory.
	DestDir string
	// Verify, when set, must accept the archive and its provenance file before anything
	// is written; a chart without a provenance file fails verification.
	Verify VerifyFunc
	// RequireProv fails the pull when the chart has no provenance file.
	RequireProv bool
	// Untar writes the chart's files into UntarDir/NAME instead of the archive into DestDir,
	// as helm pull --untar does; UntarDir is relative to DestDir ("" means DestDir). An
	// existing UntarDir/NAME is refused.
	Untar    bool
	UntarDir string
}

// PullResult is a downloaded chart version.
type PullResult struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Path is the archive written; ProvPath its .prov ("" without one). With
	// [PullOptions.Untar] both are "" and Dir is the chart directory written.
	Path     string `json:"path,omitempty"`
	ProvPath string `json:"provPath,omitempty"`
	Dir      string `json:"dir,omitempty"`
	// Digest is the archive's "sha256:<hex>".
	Digest string `json:"digest"`
	// ManifestDigest is the OCI manifest's digest ("" from a classic repository).
	ManifestDigest string `json:"manifestDigest,omitempty"`
	// Source is where it came from: an OCI reference or the archive's URL.
	Source string `json:"source"`
	// Verified tells whether Verify accepted it; SignedBy is then the signer.
	Verified bool   `json:"verified"`
	SignedBy string `json:"signedBy,omitempty"`
}

// Pull downloads one chart version: the newest matching opts.Version, or the archive
// ref.URL names. It writes NAME-VERSION.tgz (for a URL, the URL's file name), and its .prov
// when the chart has one, into opts.DestDir — or with opts.Untar the chart's files into a
// directory — only after checking the archive's digest, that it is a valid chart of that name
// and version, and (opts.Verify) its signature.
func (c *Client) Pull(ctx context.Context, ref ChartRef, opts PullOptions) (*PullResult, error) {
	op := "pull " + ref.String()
	dir := opts.DestDir
	if dir == "" {
		dir = "."
	}
	untarDir := filepath.Join(dir, opts.UntarDir)
	if filepath.IsAbs(opts.UntarDir) {
		untarDir = opts.UntarDir
	}
	if opts.Untar && ref.Name != "" {
		// Refused before anything is downloaded; checked again once the chart is read.
		if err := checkUntarTarget(untarDir, ref.Name); err != nil {
			return nil, &Error{Op: op, Msg: err.Error(), Err: err}
		}
	}
	fetch, err := c.pullSource(ctx, ref, opts.Version, op)
	if err != nil {
		return nil, err
	}
	if opts.Untar {
		// The archive is only read: it goes to a temporary directory, as helm's does.
		tmp, err := os.MkdirTemp("", "chartroom-pull-")
		if err != nil {
			return nil, &Error{Op: op, Msg: err.Error(), Err: err}
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, &Error{Op: op, Msg: err.Error(), Err: err}
	}
	d, err := fetch(dir)
	if err != nil {
		return nil, err
	}
	defer d.discard()
	md := d.chart.Metadata
	res := &PullResult{Name: md.Name, Version: md.Version, Path: d.archive.dest, Digest: "sha256:" + d.archive.sha256, ManifestDigest: d.manifest, Source: d.source}
	if d.prov == nil && (opts.RequireProv || opts.Verify != nil) {
		return nil, &Error{Op: op, Kind: ErrVerifyFailed, Msg: fmt.Sprintf("%s %s has no provenance file: it was published unsigned; sign it (chartroom package --sign) and publish it again, or pull without --verify", md.Name, md.Version)}
	}
	if opts.Verify != nil {
		signer, err := opts.Verify(d.archive.reader(), filepath.Base(d.archive.dest), d.provData)
		if err != nil {
			return nil, &Error{Op: op, Kind: ErrVerifyFailed, Msg: oneLine(err), Err: err}
		}
		res.Verified, res.SignedBy = true, signer
	}
	if opts.Untar {
		if res.Dir, err = expand(d.chart, untarDir); err != nil {
			return nil, &Error{Op: op, Msg: err.Error(), Err: err}
		}
		res.Path = ""
		return res, nil
	}
	if err := d.commit(); err != nil {
		return nil, &Error{Op: op, Msg: err.Error(), Err: err}
	}
	if d.prov != nil {
		res.ProvPath = d.prov.dest
	}
	return res, nil
}

// pullSource returns what downloads the chart ref and version name into a directory: the
// version resolved at ref's location, or the archive ref.URL names.
func (c *Client) pullSource(ctx context.Context, ref ChartRef, version, op string) (func(dir string) (*downloaded, error), error) {
	if ref.URL != "" {
		if version != "" {
			return nil, &Error{Op: op, Msg: fmt.Sprintf("%s names one archive, so --version %s has nothing to choose from: drop --version, or pull the repository's chart by name", ref.URL, version)}
		}
		return func(dir string) (*downloaded, error) { return c.downloadURL(ctx, ref, dir, op) }, nil
	}
	want := version
	if ref.Version != "" {
		if want != "" && want != ref.Version {
			return nil, &Error{Op: op, Msg: fmt.Sprintf("the reference says version %s but --version says %s: give one", ref.Version, want)}
		}
		want = ref.Version
	}
	v, err := c.resolve(ctx, ref.loc, ref.Name, want, op)
	if err != nil {
		return nil, err
	}
	return func(dir string) (*downloaded, error) { return c.download(ctx, ref.loc, ref.Name, v, dir, op) }, nil
}

// resolve finds the version of name that want selects at loc.
func (c *Client) resolve(ctx context.Context, loc location, name, want, op string) (string, error) {
	versions, err := c.availableVersions(ctx, loc, name, want, op)
	if err != nil {
		return "", err
	}
	v, ok, err := pickVersion(versions, want)
	if err != nil {
		return "", &Error{Op: op, Msg: err.Error()}
	}
	if !ok {
		kind := ErrNotFound
		if len(versions) == 0 {
			kind = ErrNotPublished
		}
		return "", &Error{Op: op, Kind: kind, Msg: noVersion(name, want, loc.String(), versions)}
	}
	return v, nil
}

// availableVersions lists the versions of name at loc: its OCI tags, or its index entries.
// For an exact version on OCI it checks that one tag and lists just it when it exists,
// without listing every tag.
func (c *Client) availableVersions(ctx context.Context, loc location, name, want, op string) ([]string, error) {
	if !loc.oci {
		ix, err := c.index(ctx, loc, op)
		if err != nil {
			return nil, err
		}
		return ix.versions(name), nil
	}
	repo, err := c.repository(loc.host, loc.repoName(name))
	if err != nil {
		return nil, &Error{Op: op, Msg: err.Error()}
	}
	f := failure{op: op, host: loc.host, oci: true, scope: "oci://" + loc.host + "/" + loc.repoName(name)}
	if _, err := semver.StrictNewVersion(want); err == nil {
		if _, err := repo.Resolve(ctx, chart.OCITag(want)); err == nil {
			return []string{want}, nil
		} else if !isStatus(err, 404) && !errors.Is(err, errdef.ErrNotFound) {
			return nil, c.fail(f, err)
		}
	}
	versions, err := c.ociVersions(ctx, repo)
	if err != nil {
		return nil, c.fail(f, err)
	}
	return versions, nil
}

// downloaded is a chart version fetched into temporary files beside its destination.
type downloaded struct {
	archive  *tempFile
	chart    *chart.Chart // the archive, loaded
	prov     *tempFile    // nil without a provenance file
	provData []byte
	source   string
	manifest string // the OCI manifest's digest
}

func (d *downloaded) discard() {
	d.archive.discard()
	d.prov.discard()
}

// commit renames the archive, then the .prov, into place.
func (d *downloaded) commit() error {
	if err := d.archive.commit(); err != nil {
		return err
	}
	if d.prov != nil {
		return d.prov.commit()
	}
	return nil
}

// download fetches name version from loc into temporary files in dir, checks the
// archive's digest and that it holds that chart version.
func (c *Client) download(ctx context.Context, loc location, name, version, dir, op string) (*downloaded, error) {
	return c.fetchChart(filepath.Join(dir, chart.ArchiveName(name, version)), name, version, op, func(d *downloaded) error {
		if loc.oci {
			return c.downloadOCI(ctx, loc, name, version, d, op)
		}
		return c.downloadClassic(ctx, loc, name, version, d, op)
	})
}

// fetchChart runs fetch into a temporary file that will become dest and checks that it
// holds a valid chart, of name and version unless they are "".
func (c *Client) fetchChart(dest, name, version, op string, fetch func(*downloaded) error) (*downloaded, error) {
	archiveName := filepath.Base(dest)
	archive, err := newTempFile(dest)
	if err != nil {
		return nil, &Error{Op: op, Msg: err.Error(), Err: err}
	}
	d := &downloaded{archive: archive}
	ok := false
	defer func() {
		if !ok {
			d.discard()
		}
	}()
	if err := fetch(d); err != nil {
		return nil, err
	}
	ch, err := chart.LoadArchive(d.archive.reader(), chart.Limits{})
	if err != nil {
		return nil, &Error{Op: op, Msg: fmt.Sprintf("%s from %s is not a valid chart archive (%v): the registry holds a broken chart; tell its publisher", archiveName, d.source, oneLine(err)), Err: err}
	}
	if name != "" && (ch.Metadata.Name != name || ch.Metadata.Version != version) {
		return nil, &Error{Op: op, Msg: fmt.Sprintf("%s from %s holds chart %s %s, not %s %s: the registry is inconsistent; tell its administrator", archiveName, d.source, ch.Metadata.Name, ch.Metadata.Version, name, version)}
	}
	d.chart = ch
	if d.provData != nil {
		if d.prov, err = newTempFile(d.archive.dest + ".prov"); err == nil {
			err = d.prov.copyFrom(bytes.NewReader(d.provData), maxProvSize)
		}
		if err != nil {
			return nil, &Error{Op: op, Msg: err.Error(), Err: err}
		}
	}
	ok = true
	return d, nil
}

// downloadOCI fetches the chart layer (and provenance layer) of tag version.
func (c *Client) downloadOCI(ctx context.Context, loc location, name, version string, d *downloaded, op string) error {
	repo, err := c.repository(loc.host, loc.repoName(name))
	if err != nil {
		return &Error{Op: op, Msg: err.Error()}
	}
	d.source = "oci://" + loc.ociRef(name, version)
	f := failure{op: op, host: loc.host, oci: true, scope: "oci://" + loc.host + "/" + loc.repoName(name),
		notFound: fmt.Sprintf("%s has no version %s: it may have been deleted", ChartRef{loc: loc, Name: name}, version)}
	m, err := c.ociManifest(ctx, repo, chart.OCITag(version))
	if err != nil {
		return c.fail(f, err)
	}
	d.manifest = m.manifest.Digest.String()
	if m.chart.Size > c.opts.MaxChartSize {
		return &Error{Op: op, Msg: fmt.Sprintf("the chart layer has %s, more than the %s a chart may have", humanBytes(m.chart.Size), humanBytes(c.opts.MaxChartSize))}
	}
	err = c.fetchBlob(ctx, repo, m.chart, func(r io.Reader) error {
		r, done := c.track(r, filepath.Base(d.archive.dest), m.chart.Size)
		defer done()
		return d.archive.copyFrom(r, c.opts.MaxChartSize)
	})
	if err != nil {
		return c.fail(f, err)
	}
	if m.prov != nil {
		if m.prov.Size > maxProvSize {
			return &Error{Op: op, Msg: fmt.Sprintf("the provenance layer has %s; a provenance file has a few kilobytes", humanBytes(m.prov.Size))}
		}
		err = c.fetchBlob(ctx, repo, *m.prov, func(r io.Reader) error {
			d.provData, err = io.ReadAll(io.LimitReader(r, maxProvSize))
			return err
		})
		if err != nil {
			return c.fail(f, err)
		}
	}
	return nil
}

// downloadClassic fetches the archive an index entry links to, checks it against the
// entry's digest, and fetches URL.prov when the repository has one.
func (c *Client) downloadClassic(ctx context.Context, loc location, name, version string, d *downloaded, op string) error {
	ix, err := c.index(ctx, loc, op)
	if err != nil {
		return err
	}
	e := ix.entry(name, version)
	if e == nil {
		return &Error{Op: op, Kind: ErrNotFound, Msg: fmt.Sprintf("%s lists no version %s of %s", loc, version, name)}
	}
	u, err := resolveURL(loc, e.URLs[0])
	if err != nil {
		return &Error{Op: op, Msg: err.Error()}
	}
	f := failure{op: op, host: loc.host, scope: "repository " + loc.String(),
		notFound: fmt.Sprintf("%s is listed in %s but cannot be downloaded (404): the index is stale; tell the repository's administrator", u, loc.indexURL())}
	return c.fetchArchive(ctx, loc, u, e.Digest, d, f)
}

// fetchArchive downloads the chart archive at u into d, checks it against digest (unless
// ""), and fetches u.prov when there is one.
func (c *Client) fetchArchive(ctx context.Context, loc location, u, digest string, d *downloaded, f failure) error {
	op := f.op
	d.source = u
	resp, err := c.get(ctx, loc, u)
	if err != nil {
		return c.fail(f, err)
	}
	r, done := c.track(resp.Body, filepath.Base(d.archive.dest), resp.ContentLength)
	err = d.archive.copyFrom(r, c.opts.MaxChartSize)
	done()
	resp.Body.Close()
	if err != nil {
		return c.fail(f, err)
	}
	if digest != "" && digest != d.archive.sha256 && "sha256:"+d.archive.sha256 != digest {
		return &Error{Op: op, Msg: fmt.Sprintf("%s has sha256 %s but %s says %s: the download was altered or the index is stale; try again, then tell the repository's administrator", termsafe.Text(u), d.archive.sha256, loc.indexURL(), termsafe.Text(digest))}
	}
	resp, err = c.get(ctx, loc, u+".prov")
	switch {
	case err == nil:
		d.provData, err = io.ReadAll(io.LimitReader(resp.Body, maxProvSize+1))
		resp.Body.Close()
		if err == nil && int64(len(d.provData)) > maxProvSize {
			err = fmt.Errorf("%s.prov has more than %s; it is not a provenance file", u, humanBytes(maxProvSize))
		}
		if err != nil {
			return c.fail(f, err)
		}
	case isStatus(err, 404):
	default:
		return c.fail(failure{op: op, host: loc.host, scope: f.scope}, err)
	}
	return nil
}
