package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/chartroom/chartroom/internal/chart"
)

// maxManifestSize bounds a manifest read to find a chart's layers.
const maxManifestSize = 4 << 20

// ociSource is an OCI namespace: every repository directly below it (from the registry's
// /v2/_catalog) and every tag that is a chart version, copied manifest and blobs byte for
// byte with the manifests that refer to it (the referrers API, or its fallback tag
// sha256-<hex>) and its cosign tags (sha256-<hex>.sig, .att, .sbom).
type ociSource struct {
	host, ns string
	opts     Options
	dest     string
}

func newOCISource(opts Options, dest string) (*ociSource, error) {
	rest := strings.Trim(strings.TrimPrefix(opts.Source, "oci://"), "/")
	host, ns, _ := strings.Cut(rest, "/")
	if host == "" {
		return nil, fmt.Errorf("%s names no host: write oci://HOST/NAMESPACE", opts.Source)
	}
	return &ociSource{host: host, ns: ns, opts: opts, dest: dest}, nil
}

// cosignTag is a tag cosign (or the referrers fallback) writes for a manifest digest.
var cosignTag = regexp.MustCompile(`^sha256-([0-9a-f]{64})(\.sig|\.att|\.sbom)?$`)

func (s *ociSource) list(ctx context.Context) ([]*item, error) {
	prefix := ""
	if s.ns != "" {
		prefix = s.ns + "/"
	}
	repos, err := s.opts.SourceClient.OCIRepositories(ctx, s.host, prefix)
	if err != nil {
		return nil, err
	}
	var items []*item
	for _, repo := range repos {
		name := strings.TrimPrefix(repo, prefix)
		if strings.Contains(name, "/") {
			continue // another namespace below this one
		}
		src, err := s.opts.SourceClient.OCIRepository("oci://" + s.host + "/" + repo)
		if err != nil {
			return nil, err
		}
		var versions []string
		sigs := map[string][]string{} // manifest digest hex → its cosign and fallback tags
		err = src.Tags(ctx, "", func(tags []string) error {
			for _, t := range tags {
				if m := cosignTag.FindStringSubmatch(t); m != nil {
					sigs[m[1]] = append(sigs[m[1]], t)
					continue
				}
				if _, err := chart.ParseVersion(chart.VersionOfOCITag(t)); err == nil {
					versions = append(versions, chart.VersionOfOCITag(t))
				}
			}
			return nil
		})
		if err != nil {
			return nil, s.opts.SourceClient.Failure("list the tags of oci://"+s.host+"/"+repo, s.host, true, err)
		}
		chart.SortVersions(versions)
		for i := len(versions) - 1; i >= 0; i-- {
			c := &ociCopy{opts: s.opts, src: src, srcRef: "oci://" + s.host + "/" + repo, sigs: sigs}
			items = append(items, &item{name: name, version: versions[i], dest: s.dest, run: c.run})
		}
	}
	if len(items) == 0 && len(repos) == 0 {
		return nil, fmt.Errorf("oci://%s/%s holds no repository (its /v2/_catalog lists none below %s): check the namespace, and that the credentials may read it", s.host, s.ns, prefix)
	}
	return items, nil
}

// ociCopy copies one chart version between OCI registries.
type ociCopy struct {
	opts   Options
	src    *remote.Repository
	srcRef string
	sigs   map[string][]string
}

func (c *ociCopy) run(ctx context.Context, it *item, _ string) Result {
	res := Result{Name: it.name, Version: it.version, Destination: it.dest + "/" + it.name}
	tag := chart.OCITag(it.version)
	desc, archive, err := chartManifest(ctx, c.src, tag)
	if err != nil {
		return failed(it, fmt.Errorf("read %s:%s: %w", c.srcRef, tag, err))
	}
	res.Digest = archive
	pub, err := c.opts.DestClient.ChartAt(ctx, it.dest, it.name, it.version)
	if err != nil {
		return failed(it, err)
	}
	if pub != nil && pub.Archive != archive {
		return compare(res, pub.Archive)
	}
	dst, err := c.opts.DestClient.OCIRepository(it.dest + "/" + it.name)
	if err != nil {
		return failed(it, err)
	}
	if pub != nil && pub.Manifest != desc.Digest.String() {
		// The same archive under another manifest (imported from another kind of source,
		// or pushed again by helm): present; its signatures sign the other manifest.
		res.Status = AlreadyPresent
		return res
	}
	// The manifest, its blobs and what refers to it (signatures, SBOMs as referrers);
	// what the destination has is not sent again.
	if _, err := oras.ExtendedCopy(ctx, c.src, tag, dst, tag, oras.ExtendedCopyOptions{}); err != nil {
		return failed(it, c.opts.DestClient.Failure(fmt.Sprintf("copy %s:%s to %s", c.srcRef, tag, it.dest+"/"+it.name), hostOf(it.dest), true, err))
	}
	n, err := c.copySignatureTags(ctx, dst, desc.Digest.Encoded())
	res.Signatures = n
	if err != nil {
		return failed(it, err)
	}
	if pub != nil {
		res.Status = AlreadyPresent
	} else {
		res.Status = Imported
	}
	return res
}

// copySignatureTags copies the cosign tags (and the referrers fallback tag) of a manifest
// whose destination tag is missing or names other content. It returns how many it copied.
func (c *ociCopy) copySignatureTags(ctx context.Context, dst *remote.Repository, hex string) (int, error) {
	n := 0
	for _, t := range c.sigs[hex] {
		sd, err := c.src.Resolve(ctx, t)
		if err != nil {
			return n, fmt.Errorf("read %s:%s: %w", c.srcRef, t, err)
		}
		if dd, err := dst.Resolve(ctx, t); err == nil && dd.Digest == sd.Digest {
			continue
		}
		if _, err := oras.Copy(ctx, c.src, t, dst, t, oras.CopyOptions{}); err != nil {
			return n, fmt.Errorf("copy %s:%s: %w", c.srcRef, t, err)
		}
		n++
	}
	return n, nil
}

// chartManifest reads the manifest a chart tag names and returns it and its chart layer's
// digest.
func chartManifest(ctx context.Context, repo *remote.Repository, tag string) (ocispec.Descriptor, string, error) {
	desc, rc, err := repo.FetchReference(ctx, tag)
	if err != nil {
		return desc, "", err
	}
	defer rc.Close()
	if desc.Size > maxManifestSize {
		return desc, "", fmt.Errorf("the manifest has %d bytes; a chart's has a few hundred", desc.Size)
	}
	data, err := content.ReadAll(io.LimitReader(rc, maxManifestSize), desc)
	if err != nil {
		return desc, "", err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return desc, "", fmt.Errorf("not an OCI image manifest: %v", err)
	}
	if m.Config.MediaType != chart.ConfigMediaType {
		return desc, "", fmt.Errorf("not a Helm chart (its config is %q, not %s)", m.Config.MediaType, chart.ConfigMediaType)
	}
	for _, l := range m.Layers {
		if l.MediaType == chart.ChartLayerMediaType || l.MediaType == chart.LegacyChartLayerMediaType {
			return desc, l.Digest.String(), nil
		}
	}
	return desc, "", errors.New("a Helm chart manifest without a chart layer")
}

// hostOf is the host of oci://HOST/….
func hostOf(ref string) string {
	h, _, _ := strings.Cut(strings.TrimPrefix(ref, "oci://"), "/")
	return h
}
