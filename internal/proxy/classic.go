package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/safeyaml"
)

// chartYAMLFields are the fields of an index entry that come from the chart's Chart.yaml
// (the others, urls, digest, created and removed, are the repository's).
var chartYAMLFields = map[string]bool{
	"apiVersion": true, "name": true, "version": true, "kubeVersion": true, "description": true, "type": true,
	"keywords": true, "home": true, "sources": true, "dependencies": true, "maintainers": true, "icon": true,
	"appVersion": true, "deprecated": true, "annotations": true, "condition": true, "tags": true,
}

// listClassic reads a classic repository's index.yaml.
func (p *Upstreams) listClassic(ctx context.Context, src registry.UpstreamSource) ([]registry.UpstreamVersion, error) {
	indexURL := strings.TrimSuffix(src.URL, "/") + "/index.yaml"
	resp, err := p.get(ctx, src, indexURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, p.opts.MaxIndexSize+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", indexURL, err)
	}
	if int64(len(data)) > p.opts.MaxIndexSize {
		return nil, fmt.Errorf("GET %s: the index has more than %d bytes", indexURL, p.opts.MaxIndexSize)
	}
	var ix struct {
		Entries map[string][]json.RawMessage `json:"entries"`
	}
	if err := safeyaml.Unmarshal(data, &ix); err != nil {
		return nil, fmt.Errorf("%s is not a chart repository index: %w", indexURL, err)
	}
	base, err := url.Parse(indexURL)
	if err != nil {
		return nil, err
	}
	var out []registry.UpstreamVersion
	for _, entries := range ix.Entries {
		for _, raw := range entries {
			v, ok := classicVersion(base, raw)
			if ok {
				out = append(out, v)
			}
		}
	}
	return out, nil
}

// classicVersion reads one index entry; ok false for an entry without name, version or URL.
func classicVersion(base *url.URL, raw json.RawMessage) (registry.UpstreamVersion, bool) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return registry.UpstreamVersion{}, false
	}
	var e struct {
		Name    string    `json:"name"`
		Version string    `json:"version"`
		URLs    []string  `json:"urls"`
		Digest  string    `json:"digest"`
		Created time.Time `json:"created"`
	}
	_ = json.Unmarshal(raw, &e) // fields of the wrong type stay zero
	if e.Name == "" || e.Version == "" || len(e.URLs) == 0 {
		return registry.UpstreamVersion{}, false
	}
	ref, err := url.Parse(e.URLs[0])
	if err != nil {
		return registry.UpstreamVersion{}, false
	}
	md := map[string]json.RawMessage{}
	for k, v := range fields {
		if chartYAMLFields[k] && !bytes.Equal(v, []byte("null")) {
			md[k] = v
		}
	}
	metadata, err := json.Marshal(md)
	if err != nil {
		return registry.UpstreamVersion{}, false
	}
	v := registry.UpstreamVersion{Name: e.Name, Version: e.Version, Source: base.ResolveReference(ref).String(), Metadata: metadata, Created: e.Created.UTC()}
	if e.Digest != "" {
		v.Digest = digest.NewDigestFromEncoded(digest.SHA256, strings.TrimPrefix(e.Digest, "sha256:"))
	}
	if v.Created.IsZero() {
		v.Created = time.Now().UTC()
	}
	return v, true
}

// openClassic opens an archive at its URL and reads its .prov beside it (none on a 404).
func (p *Upstreams) openClassic(ctx context.Context, src registry.UpstreamSource, v registry.UpstreamVersion) (io.ReadCloser, []byte, error) {
	prov, err := p.readProv(ctx, src, v.Source+".prov")
	if err != nil {
		return nil, nil, err
	}
	resp, err := p.get(ctx, src, v.Source)
	if err != nil {
		return nil, nil, err
	}
	return resp.Body, prov, nil
}

func (p *Upstreams) readProv(ctx context.Context, src registry.UpstreamSource, u string) ([]byte, error) {
	resp, err := p.get(ctx, src, u)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	prov, err := io.ReadAll(io.LimitReader(resp.Body, maxProvSize+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if len(prov) > maxProvSize {
		return nil, fmt.Errorf("GET %s: a provenance file has at most %d bytes", u, maxProvSize)
	}
	return prov, nil
}
