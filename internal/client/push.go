package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/provenance"
)

// PushResult is a published chart version.
type PushResult struct {
	// Name and Version are the chart's.
	Name    string `json:"name"`
	Version string `json:"version"`
	// Ref is where it was published: HOST/NAMESPACE/NAME:TAG for OCI, the archive's URL
	// for a classic repository.
	Ref string `json:"ref"`
	// Digest is the archive's "sha256:<hex>".
	Digest string `json:"digest"`
	// ManifestDigest is the OCI manifest's digest ("" for a classic repository).
	ManifestDigest string `json:"manifestDigest,omitempty"`
	// Prov tells whether a provenance file was sent with the archive.
	Prov bool `json:"prov"`
	// Warnings are things the user most likely did not mean, though the push succeeded.
	Warnings []string `json:"warnings,omitempty"`
}

// localArchive is a chart archive to push, read and validated.
type localArchive struct {
	path   string
	f      *os.File
	chart  *chart.Chart
	size   int64
	sha256 string // hex
	mtime  time.Time
	prov   []byte // nil without a .prov beside the archive
	// created, when set, dates the OCI manifest instead of mtime, to the nanosecond.
	created time.Time
}

func (a *localArchive) open() io.Reader { return io.NewSectionReader(a.f, 0, a.size) }

// openArchive reads and validates a chart archive and the .prov beside it, if any.
func openArchive(path string) (*localArchive, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such file; give the .tgz made by chartroom package or helm package", path)
		}
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory: package it first (chartroom package %s) and push the .tgz", path, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	tee := io.TeeReader(f, h)
	ch, err := chart.LoadArchive(tee, chart.Limits{})
	if err == nil {
		_, err = io.Copy(io.Discard, tee)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	a := &localArchive{path: path, f: f, chart: ch, size: st.Size(), sha256: hexSum(h), mtime: st.ModTime()}
	provPath := path + ".prov"
	if pst, err := os.Stat(provPath); err == nil {
		if pst.Size() > maxProvSize {
			f.Close()
			return nil, fmt.Errorf("%s has %d bytes; a provenance file has a few kilobytes", provPath, pst.Size())
		}
		if a.prov, err = os.ReadFile(provPath); err != nil {
			f.Close()
			return nil, err
		}
		// A .prov left from an earlier build would be published for good next to an
		// archive it does not vouch for, and every later pull --verify would fail.
		if _, err := provenance.CheckFiles(a.prov, ch.Metadata.ArchiveName(), a.sha256); err != nil {
			f.Close()
			return nil, fmt.Errorf("refusing to push %s with %s: %w; nothing was uploaded: sign the archive again (chartroom sign %s) or delete the stale .prov to push it unsigned", path, provPath, err, path)
		}
	}
	return a, nil
}

// Push publishes the chart archive at archivePath, with the .prov beside it if there is
// one, to dest: oci://HOST/NAMESPACE (as helm push does, the chart becomes
// oci://HOST/NAMESPACE/NAME:VERSION) or https://HOST/NAMESPACE (the upload API).
// Publishing the same bytes again succeeds; other bytes under a published version fail
// with [ErrConflict]. A .prov that does not list this archive's name and sha256 is
// refused before anything is sent.
func (c *Client) Push(ctx context.Context, archivePath, dest string) (*PushResult, error) {
	return c.PushDated(ctx, archivePath, dest, time.Time{})
}

// PushDated is [Client.Push] with the OCI manifest's org.opencontainers.image.created
// annotation set to created (to the nanosecond; zero means the archive's modification
// time, as helm push does): chartroom dates the version by it, so a version copied from
// another repository keeps its date there.
func (c *Client) PushDated(ctx context.Context, archivePath, dest string, created time.Time) (*PushResult, error) {
	loc, err := parseLocation(dest)
	if err != nil {
		return nil, &Error{Op: "push", Msg: err.Error()}
	}
	a, err := openArchive(archivePath)
	if err != nil {
		return nil, &Error{Op: "push", Msg: err.Error(), Err: err}
	}
	defer a.f.Close()
	a.created = created
	md := a.chart.Metadata
	f := failure{
		op:    fmt.Sprintf("push %s %s to %s", md.Name, md.Version, loc),
		host:  loc.host,
		oci:   loc.oci,
		write: true,
		conflict: fmt.Sprintf("%s %s is already published in %s with different content, and published versions never change: bump the chart's version (chartroom bump) and push again",
			md.Name, md.Version, loc),
		repackaged: fmt.Sprintf("%s %s is already published in %s from another archive of the same chart: only the packaging differs (timestamps, order, compression), so there is nothing new to push; package reproducibly to get the same bytes every time, or bump the chart's version (chartroom bump) to publish a change",
			md.Name, md.Version, loc),
	}
	if loc.oci {
		f.scope = "oci://" + loc.host + "/" + loc.repoName(md.Name)
		f.notFound = fmt.Sprintf("%s has no OCI API under /v2/: check the host, or push to its https:// repository URL", loc.host)
		res, err := c.pushOCI(ctx, loc, a, f)
		if err == nil {
			res.Warnings = nameTwice(loc, md.Name)
		}
		return res, err
	}
	f.scope = "namespace " + loc.path
	if loc.path == "" {
		f.scope = "the root namespace"
	}
	f.notFound = fmt.Sprintf("%s has no upload API at %s: check the repository URL (https://HOST/NAMESPACE), or push with oci://%s/%s", loc.host, loc.uploadURL(), loc.host, loc.path)
	return c.pushClassic(ctx, loc, a, f)
}

// nameTwice warns when an OCI namespace ends with the chart's name: helm users write the
// chart's own reference (oci://HOST/team/myapp) by habit, and push, as helm push does, adds
// the name again (oci://HOST/team/myapp/myapp).
func nameTwice(loc location, name string) []string {
	if path.Base("/"+loc.path) != name {
		return nil
	}
	parent := location{oci: true, host: loc.host, path: path.Dir("/" + loc.path)[1:]}
	return []string{fmt.Sprintf("created oci://%s/%s: the destination is a namespace and push adds the chart's name to it, as helm push does; to publish %s, push to %s instead",
		loc.host, loc.repoName(name), loc, parent)}
}

// pushClassic uploads through the ChartMuseum-compatible API: POST /api/NAMESPACE/charts,
// multipart fields "chart" (and "prov"), streamed with a known length.
func (c *Client) pushClassic(ctx context.Context, loc location, a *localArchive, f failure) (*PushResult, error) {
	md := a.chart.Metadata
	name := md.ArchiveName()
	var parts [][]byte
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	cut := func() {
		parts = append(parts, bytes.Clone(buf.Bytes()))
		buf.Reset()
	}
	if _, err := mw.CreateFormFile("chart", name); err != nil {
		return nil, &Error{Op: f.op, Msg: err.Error()}
	}
	cut()
	if a.prov != nil {
		if _, err := mw.CreateFormFile("prov", name+".prov"); err != nil {
			return nil, &Error{Op: f.op, Msg: err.Error()}
		}
		cut()
	}
	mw.Close()
	cut()
	length := a.size + int64(len(a.prov))
	for _, p := range parts {
		length += int64(len(p))
	}
	body := func() io.Reader {
		rs := []io.Reader{bytes.NewReader(parts[0]), a.open()}
		if a.prov != nil {
			rs = append(rs, bytes.NewReader(parts[1]), bytes.NewReader(a.prov))
		}
		return io.MultiReader(append(rs, bytes.NewReader(parts[len(parts)-1]))...)
	}
	r, done := c.track(body(), name, length)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, loc.uploadURL(), r)
	if err != nil {
		done()
		return nil, &Error{Op: f.op, Msg: err.Error()}
	}
	req.ContentLength = length
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(body()), nil }
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if err := c.authorize(ctx, req, loc); err != nil {
		done()
		return nil, &Error{Op: f.op, Msg: err.Error()}
	}
	resp, err := c.http.Do(req)
	done()
	if err != nil {
		return nil, c.fail(f, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusConflict && c.publishedSame(ctx, loc, a) {
		// ChartMuseum-style servers answer 409 to any existing version; the same bytes are
		// already there, which is what was asked.
		resp.StatusCode = http.StatusCreated
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return nil, c.fail(f, statusError(resp))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	return &PushResult{
		Name: md.Name, Version: md.Version, Ref: loc.archiveURL(md.Name, md.Version),
		Digest: "sha256:" + a.sha256, Prov: a.prov != nil,
	}, nil
}

// publishedSame reports whether the repository's index lists the archive's chart version
// with the archive's digest.
func (c *Client) publishedSame(ctx context.Context, loc location, a *localArchive) bool {
	c.mu.Lock()
	delete(c.indexes, loc.indexURL()) // read it fresh
	c.mu.Unlock()
	ix, err := c.index(ctx, loc, "")
	if err != nil {
		return false
	}
	e := ix.entry(a.chart.Metadata.Name, a.chart.Metadata.Version)
	return e != nil && strings.TrimPrefix(e.Digest, "sha256:") == a.sha256
}
