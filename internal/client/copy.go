package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/chartroom/chartroom/internal/chart"
)

// What chartroom import and mirror read of their sources and destinations.

// IndexVersion is one chart version a classic repository's index lists.
type IndexVersion struct {
	Name, Version string
	// URL is the archive's absolute URL, resolved as helm resolves index URLs.
	URL string
	// Digest is the archive's sha256 (hex) as the index says, "" when it says none.
	Digest string
	// Created is the index's created date, zero when it has none or an unreadable one.
	Created time.Time
}

// RepositoryVersions reads the index.yaml of the classic repository at repoURL (read
// afresh, never from this client's cache) and lists every chart version it links to, by
// name then version. An archive URL of another scheme than http(s), such as the s3://
// URLs helm-s3 writes, is read as the file of that name beside index.yaml. Entries without a download URL or a valid SemVer version are skipped,
// as helm skips them.
func (c *Client) RepositoryVersions(ctx context.Context, repoURL string) ([]IndexVersion, error) {
	loc, err := parseLocation(repoURL)
	if err != nil || loc.oci {
		return nil, &Error{Op: "read " + repoURL, Msg: "not a chart repository URL: write https://HOST/PATH"}
	}
	c.mu.Lock()
	delete(c.indexes, loc.indexURL())
	c.mu.Unlock()
	op := "read the index of " + loc.String()
	ix, err := c.index(ctx, loc, op)
	if err != nil {
		return nil, err
	}
	var out []IndexVersion
	for name := range ix.Entries {
		for _, v := range ix.versions(name) {
			e := ix.entry(name, v)
			ref := e.URLs[0]
			if pu, err := url.Parse(ref); err == nil && pu.IsAbs() && pu.Scheme != "http" && pu.Scheme != "https" {
				// helm-s3 (s3://) and helm-gcs (gs://) write their bucket's URLs: the
				// bucket served over HTTPS has the archive beside index.yaml.
				ref = path.Base(pu.Path)
			}
			u, err := resolveURL(loc, ref)
			if err != nil {
				return nil, &Error{Op: op, Msg: err.Error()}
			}
			iv := IndexVersion{Name: name, Version: v, URL: u, Digest: strings.TrimPrefix(e.Digest, "sha256:")}
			if t, err := time.Parse(time.RFC3339Nano, e.Created); err == nil {
				iv.Created = t
			}
			out = append(out, iv)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return chart.CompareVersions(out[i].Version, out[j].Version) < 0
	})
	return out, nil
}

// DownloadVersion fetches v's archive (and its .prov, when the repository serves one;
// 404 means none) from the classic repository at repoURL into dir as NAME-VERSION.tgz
// (and .prov). The archive must match the index's digest and hold chart v.Name v.Version.
// It returns the archive's path and sha256 (hex).
func (c *Client) DownloadVersion(ctx context.Context, repoURL string, v IndexVersion, dir string) (path, sha string, err error) {
	loc, err := parseLocation(repoURL)
	if err != nil {
		return "", "", &Error{Op: "download " + v.URL, Msg: err.Error()}
	}
	op := fmt.Sprintf("download %s %s from %s", v.Name, v.Version, loc)
	f := failure{op: op, host: loc.host, scope: "repository " + loc.String(),
		notFound: fmt.Sprintf("%s is listed in %s but cannot be downloaded (404): the index is stale; tell the repository's administrator", v.URL, loc.indexURL())}
	d, err := c.fetchChart(filepath.Join(dir, chart.ArchiveName(v.Name, v.Version)), v.Name, v.Version, op, func(d *downloaded) error {
		return c.fetchArchive(ctx, loc, v.URL, v.Digest, d, f)
	})
	if err != nil {
		return "", "", err
	}
	defer d.discard()
	if err := d.commit(); err != nil {
		return "", "", &Error{Op: op, Msg: err.Error(), Err: err}
	}
	return d.archive.dest, d.archive.sha256, nil
}

// PublishedChart is what an OCI registry holds under a chart version's tag.
type PublishedChart struct {
	// Manifest is the manifest's digest; Archive the chart layer's ("sha256:<hex>").
	Manifest, Archive string
}

// ChartAt reads the chart version name version of the OCI namespace dest
// (oci://HOST/NAMESPACE): nil when the registry has no such tag.
func (c *Client) ChartAt(ctx context.Context, dest, name, version string) (*PublishedChart, error) {
	loc, err := parseLocation(dest)
	if err != nil || !loc.oci {
		return nil, &Error{Op: "read " + dest, Msg: "not an OCI namespace: write oci://HOST/NAMESPACE"}
	}
	repo, err := c.repository(loc.host, loc.repoName(name))
	if err != nil {
		return nil, &Error{Op: "read " + dest, Msg: err.Error()}
	}
	m, err := c.ociManifest(ctx, repo, chart.OCITag(version))
	if isStatus(err, 404) || errors.Is(err, errdef.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, c.fail(failure{op: fmt.Sprintf("read %s %s at %s", name, version, loc), host: loc.host, oci: true, scope: "oci://" + loc.host + "/" + loc.repoName(name)}, err)
	}
	return &PublishedChart{Manifest: m.manifest.Digest.String(), Archive: m.chart.Digest.String()}, nil
}

// OCIRepository is the OCI repository oci://HOST/NAME as this client reaches it (its
// credentials, TLS and plain-HTTP settings), for copying.
func (c *Client) OCIRepository(ref string) (*remote.Repository, error) {
	rest, ok := strings.CutPrefix(ref, "oci://")
	host, name, _ := strings.Cut(rest, "/")
	if !ok || host == "" || name == "" {
		return nil, fmt.Errorf("%q is not an OCI repository: write oci://HOST/NAMESPACE/NAME", ref)
	}
	return c.repository(host, name)
}

// OCIRepositories lists the repositories of the registry at host (its /v2/_catalog) whose
// names start with prefix.
func (c *Client) OCIRepositories(ctx context.Context, host, prefix string) ([]string, error) {
	reg, err := remote.NewRegistry(host)
	if err != nil {
		return nil, fmt.Errorf("oci://%s is not a valid registry: %v", host, err)
	}
	reg.PlainHTTP = c.opts.PlainHTTP
	reg.Client = c.oci
	var out []string
	err = reg.Repositories(ctx, "", func(repos []string) error {
		for _, r := range repos {
			if strings.HasPrefix(r, prefix) {
				out = append(out, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, c.fail(failure{op: "list the repositories of oci://" + host, host: host, oci: true, scope: "oci://" + host,
			notFound: fmt.Sprintf("%s has no repository catalog (/v2/_catalog): import from it needs one", host)}, err)
	}
	return out, nil
}

// Failure turns an error of an exchange with host into the client's one-line [*Error]
// (what went wrong and what to do), as its own operations report them.
func (c *Client) Failure(op, host string, oci bool, err error) error {
	var ce *Error
	if errors.As(err, &ce) {
		return err
	}
	return c.fail(failure{op: op, host: host, oci: oci, scope: "oci://" + host}, err)
}
