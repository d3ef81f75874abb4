package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/registry"
)

// ociListParallel bounds the manifests an OCI listing reads at once.
const ociListParallel = 4

// ociUpstream splits oci://HOST/NS.
func ociUpstream(src registry.UpstreamSource) (host, ns string, err error) {
	u, err := url.Parse(src.URL)
	if err != nil {
		return "", "", err
	}
	return u.Host, strings.Trim(u.Path, "/"), nil
}

// ociClient is the oras client for src: its credentials for its host, token flow included.
func (p *Upstreams) ociClient(src registry.UpstreamSource, host string) *auth.Client {
	c := &auth.Client{
		Client: p.client(src),
		Cache:  auth.NewCache(),
		Header: map[string][]string{"User-Agent": {p.opts.UserAgent}},
	}
	if src.Username != "" || src.Password != "" {
		c.Credential = auth.StaticCredential(host, auth.Credential{Username: src.Username, Password: src.Password})
	}
	return c
}

func (p *Upstreams) ociRepository(src registry.UpstreamSource, host, name string, client *auth.Client) (*remote.Repository, error) {
	repo, err := remote.NewRepository(host + "/" + name)
	if err != nil {
		return nil, fmt.Errorf("oci://%s/%s: %w", host, name, err)
	}
	repo.PlainHTTP = isLoopback(host)
	repo.Client = client
	repo.SkipReferrersGC = true
	return repo, nil
}

// listOCI lists the charts of every repository directly below the upstream's namespace (from
// the registry's catalog), each tag's chart manifest read for its layer's digest and config.
func (p *Upstreams) listOCI(ctx context.Context, src registry.UpstreamSource) ([]registry.UpstreamVersion, error) {
	host, ns, err := ociUpstream(src)
	if err != nil {
		return nil, err
	}
	client := p.ociClient(src, host)
	reg, err := remote.NewRegistry(host)
	if err != nil {
		return nil, err
	}
	reg.PlainHTTP = isLoopback(host)
	reg.Client = client
	var repos []string
	err = reg.Repositories(ctx, "", func(names []string) error {
		for _, n := range names {
			if rest, ok := strings.CutPrefix(n, ns+"/"); ok && !strings.Contains(rest, "/") {
				repos = append(repos, n)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the repositories of %s (the upstream must serve the catalog, /v2/_catalog): %w", src.URL, err)
	}
	type job struct {
		repo *remote.Repository
		tag  string
	}
	var jobs []job
	for _, n := range repos {
		repo, err := p.ociRepository(src, host, n, client)
		if err != nil {
			return nil, err
		}
		err = repo.Tags(ctx, "", func(tags []string) error {
			for _, t := range tags {
				jobs = append(jobs, job{repo, t})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list the tags of oci://%s/%s: %w", host, n, err)
		}
	}
	var (
		mu    sync.Mutex
		out   []registry.UpstreamVersion
		first error
		wg    sync.WaitGroup
	)
	slots := make(chan struct{}, ociListParallel)
	for _, j := range jobs {
		slots <- struct{}{}
		wg.Add(1)
		go func(j job) {
			defer func() { <-slots; wg.Done() }()
			v, ok, err := p.ociVersion(ctx, j.repo, j.tag)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && first == nil:
				first = err
			case ok:
				out = append(out, v)
			}
		}(j)
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return out, nil
}

// ociChart is a chart manifest of an OCI upstream, read.
type ociChart struct {
	manifest ocispec.Manifest
	chart    ocispec.Descriptor
	prov     *ocispec.Descriptor
}

// readChartManifest reads the manifest of repo:tag; nil when it is not a Helm chart.
func readChartManifest(ctx context.Context, repo *remote.Repository, tag string) (*ociChart, error) {
	desc, rc, err := repo.FetchReference(ctx, tag)
	if err != nil {
		return nil, fmt.Errorf("the manifest of %s:%s: %w", repo.Reference.Repository, tag, err)
	}
	defer rc.Close()
	if desc.Size > maxManifestSize {
		return nil, nil
	}
	data, err := content.ReadAll(rc, desc)
	if err != nil {
		return nil, err
	}
	out := &ociChart{}
	if err := json.Unmarshal(data, &out.manifest); err != nil || out.manifest.Config.MediaType != chart.ConfigMediaType {
		return nil, nil
	}
	for i, l := range out.manifest.Layers {
		switch l.MediaType {
		case chart.ChartLayerMediaType, chart.LegacyChartLayerMediaType:
			out.chart = l
		case chart.ProvLayerMediaType:
			out.prov = &out.manifest.Layers[i]
		}
	}
	if out.chart.Digest == "" {
		return nil, nil
	}
	return out, nil
}

// ociVersion reads the chart version repo:tag publishes; ok false when it is no chart.
func (p *Upstreams) ociVersion(ctx context.Context, repo *remote.Repository, tag string) (registry.UpstreamVersion, bool, error) {
	c, err := readChartManifest(ctx, repo, tag)
	if err != nil || c == nil {
		return registry.UpstreamVersion{}, false, err
	}
	if c.manifest.Config.Size > maxConfigSize {
		return registry.UpstreamVersion{}, false, nil
	}
	config, err := content.FetchAll(ctx, repo, c.manifest.Config)
	if err != nil {
		return registry.UpstreamVersion{}, false, fmt.Errorf("the config of %s:%s: %w", repo.Reference.Repository, tag, err)
	}
	var md struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal(config, &md); err != nil || md.Name == "" || chart.OCITag(md.Version) != tag {
		return registry.UpstreamVersion{}, false, nil
	}
	name := repo.Reference.Repository[strings.LastIndexByte(repo.Reference.Repository, '/')+1:]
	if md.Name != name {
		return registry.UpstreamVersion{}, false, nil
	}
	created := time.Now().UTC()
	if t, err := time.Parse(time.RFC3339, c.manifest.Annotations[ocispec.AnnotationCreated]); err == nil {
		created = t.UTC()
	}
	return registry.UpstreamVersion{Name: md.Name, Version: md.Version, Digest: c.chart.Digest,
		Source: repo.Reference.Repository + ":" + tag, Metadata: config, Created: created}, true, nil
}

// openOCI fetches a listed version's chart manifest again and opens its chart layer (its
// digest is checked by the registry against the listing) and reads its provenance layer.
func (p *Upstreams) openOCI(ctx context.Context, src registry.UpstreamSource, v registry.UpstreamVersion) (io.ReadCloser, []byte, error) {
	host, _, err := ociUpstream(src)
	if err != nil {
		return nil, nil, err
	}
	name, tag, ok := strings.Cut(v.Source, ":")
	if !ok {
		return nil, nil, fmt.Errorf("%q is not repository:tag", v.Source)
	}
	repo, err := p.ociRepository(src, host, name, p.ociClient(src, host))
	if err != nil {
		return nil, nil, err
	}
	c, err := readChartManifest(ctx, repo, tag)
	if err != nil {
		return nil, nil, err
	}
	if c == nil {
		return nil, nil, fmt.Errorf("oci://%s/%s:%s is no longer a Helm chart", host, name, tag)
	}
	var prov []byte
	if c.prov != nil && c.prov.Size <= maxProvSize {
		if prov, err = content.FetchAll(ctx, repo, *c.prov); err != nil {
			return nil, nil, fmt.Errorf("the provenance layer of %s:%s: %w", name, tag, err)
		}
	}
	rc, err := repo.Fetch(ctx, c.chart)
	if err != nil {
		return nil, nil, fmt.Errorf("the chart layer of %s:%s: %w", name, tag, err)
	}
	return rc, prov, nil
}
