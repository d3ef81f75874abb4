package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/repoindex"
)

// Proxy namespaces (chartroom proxy add): a namespace that shows an upstream's versions — a
// classic repository's or an OCI namespace's — and fetches each one at its first pull, over
// either protocol, through the ordinary commit path, pinned by digest from then on.

// UpstreamChangedAnnotation is the annotation the index entry of a pinned version carries when
// the upstream later listed or served other bytes under it; its value is the upstream's digest.
const UpstreamChangedAnnotation = "chartroom.io/upstream-changed"

// proxyLeaseTTL bounds how long one refresh may hold its proxy's lease.
const proxyLeaseTTL = 2 * time.Minute

// proxyMirrorParallel bounds the versions a mirroring refresh fetches at once.
const proxyMirrorParallel = 4

// UpstreamSource names an upstream and its credentials.
type UpstreamSource struct {
	// URL is a classic repository's URL (of the directory of its index.yaml) or oci://HOST/NS.
	URL                string
	Username, Password string
}

// UpstreamVersion is one version an upstream lists.
type UpstreamVersion struct {
	Name, Version string
	// Digest is the archive's digest the upstream announces ("" when it announces none: the
	// bytes first fetched are pinned as they are).
	Digest digest.Digest
	// Source is where the archive is (an absolute URL, or repository:tag for OCI), as the
	// upstream reader understands it.
	Source string
	// Metadata is the chart's Chart.yaml as JSON, as the upstream lists it.
	Metadata []byte
	// Created is the upstream's date of the version.
	Created time.Time
}

// Upstream reads proxied upstreams; internal/proxy implements it over HTTP. The registry
// calls it only for proxy namespaces, and never holds a database transaction while it runs.
type Upstream interface {
	// List reads every version the upstream lists.
	List(ctx context.Context, src UpstreamSource) ([]UpstreamVersion, error)
	// Open opens a listed version's archive, and returns its provenance file (nil when the
	// upstream has none).
	Open(ctx context.Context, src UpstreamSource, v UpstreamVersion) (archive io.ReadCloser, prov []byte, err error)
}

// proxyCovering returns the proxy of namespace ns or of a namespace above it, nil when none.
func (r *Registry) proxyCovering(ctx context.Context, ns string) (*meta.Proxy, error) {
	for n := ns; n != ""; {
		p, err := r.db.GetProxy(ctx, n)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, meta.ErrNotFound) {
			if ctx.Err() != nil {
				return nil, ctx.Err() // (the driver's error may not wrap it)
			}
			return nil, err
		}
		i := strings.LastIndexByte(n, '/')
		if i < 0 {
			break
		}
		n = n[:i]
	}
	return nil, nil
}

// refuseProxy refuses a user's change (op: "push to", "delete from") in a proxy namespace.
func (r *Registry) refuseProxy(ctx context.Context, ns, op string) error {
	p, err := r.proxyCovering(ctx, ns)
	if err != nil || p == nil {
		return err
	}
	return fmt.Errorf("%w: cannot %s %s: it is a proxy of %s and holds only what it fetches from there; publish to another namespace, or make it an ordinary one first (chartroom proxy remove %s)",
		ErrProxyNamespace, op, namespaceLabel(ns), p.Upstream, namespaceArg(p.Namespace))
}

// refuseProxyRepo is refuseProxy for a repository's namespace.
func (r *Registry) refuseProxyRepo(ctx context.Context, repo, op string) error {
	ns, _ := SplitRepository(repo)
	return r.refuseProxy(ctx, ns, op)
}

// proxyOf returns the proxy of namespace ns itself, nil when ns is no proxy.
func (r *Registry) proxyOf(ctx context.Context, ns string) (*meta.Proxy, error) {
	p, err := r.db.GetProxy(ctx, ns)
	if errors.Is(err, meta.ErrNotFound) {
		return nil, nil
	}
	return p, err
}

func sourceOf(p *meta.Proxy) UpstreamSource {
	return UpstreamSource{URL: p.Upstream, Username: p.Username, Password: p.Password}
}

// upstreamActor is who publishes what a proxy fetched: proxy:<upstream host>.
func upstreamActor(upstream string) string {
	if u, err := url.Parse(upstream); err == nil && u.Host != "" {
		return "proxy:" + u.Host
	}
	return "proxy:" + upstream
}

// fetchProxied fetches a version a proxy namespace's upstream lists but the namespace does not
// hold yet, and publishes it: nil, nil when ns is no proxy or its upstream does not list the
// version.
func (r *Registry) fetchProxied(ctx context.Context, ns, name, version string) (*meta.ChartVersion, error) {
	p, err := r.proxyOf(ctx, ns)
	if err != nil || p == nil {
		return nil, err
	}
	if err := r.ensureListed(ctx, p); err != nil {
		return nil, err
	}
	v, err := r.db.GetProxyVersion(ctx, ns, name, version)
	if errors.Is(err, meta.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := r.fetchVersion(ctx, p, upstreamVersionOf(v)); err != nil {
		return nil, err
	}
	return r.db.GetChartVersion(ctx, ns, name, version)
}

func upstreamVersionOf(v *meta.ProxyVersion) UpstreamVersion {
	return UpstreamVersion{Name: v.Name, Version: v.Version, Digest: v.Digest, Source: v.Source, Metadata: v.Metadata, Created: v.Created}
}

// fetchVersion fetches one listed version from p's upstream, checks its digest against the
// listing and publishes it (the chart rules of any publish; created: the upstream's date).
// Concurrent fetches of one version are made once.
func (r *Registry) fetchVersion(ctx context.Context, p *meta.Proxy, v UpstreamVersion) error {
	key := p.Namespace + "\x00" + v.Name + "\x00" + v.Version
	r.fetchMu.Lock()
	if r.fetching == nil {
		r.fetching = map[string]*fetchCall{}
	}
	if call, ok := r.fetching[key]; ok {
		r.fetchMu.Unlock()
		select {
		case <-call.done:
			return call.err
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	call := &fetchCall{done: make(chan struct{})}
	r.fetching[key] = call
	r.fetchMu.Unlock()
	// The fetch outlives the request that started it: other pulls of the version wait for
	// it, and a client that goes away must not fail theirs.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), upstreamFetchTimeout)
	call.err = r.fetchOnce(fctx, p, v)
	cancel()
	r.fetchMu.Lock()
	delete(r.fetching, key)
	r.fetchMu.Unlock()
	close(call.done)
	return call.err
}

// upstreamFetchTimeout bounds one fetch of a version from an upstream (the archive, its
// .prov and the publish), whoever waits for it.
const upstreamFetchTimeout = 10 * time.Minute

// fetchCall is a fetch in flight, which concurrent pulls of the same version wait for.
type fetchCall struct {
	done chan struct{}
	err  error
}

func (r *Registry) fetchOnce(ctx context.Context, p *meta.Proxy, v UpstreamVersion) error {
	if r.opts.Upstream == nil {
		return fmt.Errorf("%w: %s proxies %s, but this server reads no upstreams", ErrUpstream, namespaceLabel(p.Namespace), p.Upstream)
	}
	rc, prov, err := r.opts.Upstream.Open(ctx, sourceOf(p), v)
	if err != nil {
		return fmt.Errorf("%w: fetch %s %s from %s: %v (try again later; chartroom proxy status %s shows the upstream's state)",
			ErrUpstream, v.Name, v.Version, p.Upstream, err, namespaceArg(p.Namespace))
	}
	up, err := r.ReceiveChart(ctx, rc)
	rc.Close()
	if err != nil {
		if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrChartInvalid) {
			return fmt.Errorf("%w: %s %s from %s: %w", ErrUpstream, v.Name, v.Version, p.Upstream, err)
		}
		return fmt.Errorf("%w: fetch %s %s from %s: %v", ErrUpstream, v.Name, v.Version, p.Upstream, err)
	}
	defer up.Close()
	if v.Digest != "" && up.Digest() != v.Digest {
		return fmt.Errorf("%w: %s %s from %s: the archive served has digest %s, but the upstream lists %s; nothing was stored (the upstream may be changing: try again after its next refresh)",
			ErrUpstream, v.Name, v.Version, p.Upstream, up.Digest(), v.Digest)
	}
	_, err = r.publishChart(ctx, PublishChartRequest{Namespace: p.Namespace, Archive: up, FileName: chart.ArchiveName(v.Name, v.Version),
		Prov: prov, Actor: upstreamActor(p.Upstream), Created: v.Created}, true)
	if err != nil && !errors.Is(err, ErrVersionExists) {
		if errors.Is(err, ErrImmutable) {
			// Published meanwhile with other bytes (a listing changed under a fetch): the pinned
			// bytes stay; the next refresh marks the version.
			return nil
		}
		return fmt.Errorf("publish %s %s fetched from %s: %w", v.Name, v.Version, p.Upstream, err)
	}
	r.log.Info("fetched a chart version from a proxy namespace's upstream", "namespace", p.Namespace, "chart", v.Name, "version", v.Version,
		"digest", up.Digest().String(), "upstream", p.Upstream)
	return nil
}

// ensureListed refreshes a proxy that was never refreshed (just added) before it is read, so
// that its first reader sees the upstream's versions; a failure is logged and leaves the
// listing empty.
func (r *Registry) ensureListed(ctx context.Context, p *meta.Proxy) error {
	if !p.LastAttempt.IsZero() {
		return nil
	}
	if err := r.RefreshProxy(ctx, p.Namespace, false); err != nil && !errors.Is(err, ErrUpstream) && !errors.Is(err, meta.ErrProxyLeased) {
		return err
	}
	return nil
}

// ProxyRefresh is what one refresh of a proxy namespace did.
type ProxyRefresh struct {
	// Refreshed is false when the refresh was not due (or another server ran it).
	Refreshed bool
	Listed    int
	// Changed lists the pinned versions the upstream now lists with other bytes.
	Changed []meta.UpstreamChange
	// Fetched counts the versions a mirroring refresh fetched.
	Fetched int
}

// RefreshProxies refreshes every proxy namespace whose refresh is due, one server at a time
// per proxy (a lease); a failing upstream is logged and its stored listing keeps serving.
func (r *Registry) RefreshProxies(ctx context.Context) error {
	ps, err := r.db.Proxies(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, p := range ps {
		if !p.LastAttempt.IsZero() && now.Sub(p.LastAttempt) < p.Refresh {
			continue // not due: no write
		}
		if err := r.RefreshProxy(ctx, p.Namespace, false); err != nil && !errors.Is(err, ErrUpstream) && !errors.Is(err, meta.ErrProxyLeased) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// RefreshProxy reads ns's upstream listing again when due (force: now) and stores it; pinned
// versions the upstream now lists with other bytes are marked (see markUpstreamChanged); a
// mirroring proxy then fetches every listed version it lacks. A failing upstream is
// ErrUpstream, recorded and logged; the stored listing keeps serving.
func (r *Registry) RefreshProxy(ctx context.Context, ns string, force bool) error {
	_, err := r.refreshProxy(ctx, ns, force)
	return err
}

func (r *Registry) refreshProxy(ctx context.Context, ns string, force bool) (*ProxyRefresh, error) {
	res := &ProxyRefresh{}
	holder := defaultHolder()
	got, err := r.db.AcquireProxyLease(ctx, ns, holder, proxyLeaseTTL, force)
	if err != nil || !got {
		return res, err
	}
	p, err := r.db.GetProxy(ctx, ns)
	if err != nil {
		return res, err
	}
	var listing []UpstreamVersion
	if r.opts.Upstream == nil {
		err = errors.New("this server reads no upstreams")
	} else {
		listing, err = r.opts.Upstream.List(ctx, sourceOf(p))
	}
	if err != nil {
		if ferr := r.db.FinishProxyRefresh(context.WithoutCancel(ctx), ns, holder, nil, err.Error()); ferr != nil {
			return res, ferr
		}
		r.log.Warn("the upstream of a proxy namespace cannot be read; its last listing keeps serving", "namespace", ns,
			"upstream", p.Upstream, "last_refresh", p.LastRefresh, "err", err)
		return res, fmt.Errorf("%w: refresh %s from %s: %v", ErrUpstream, namespaceLabel(ns), p.Upstream, err)
	}
	rows := make([]meta.ProxyVersion, 0, len(listing))
	for _, v := range listing {
		if err := checkListed(v); err != nil {
			r.log.Warn("a version the upstream lists is left out of the proxy namespace", "namespace", ns, "upstream", p.Upstream,
				"chart", v.Name, "version", v.Version, "err", err)
			continue
		}
		rows = append(rows, meta.ProxyVersion{Name: v.Name, Version: v.Version, Digest: v.Digest, Source: v.Source, Metadata: v.Metadata, Created: v.Created})
	}
	if err := r.db.FinishProxyRefresh(ctx, ns, holder, rows, ""); err != nil {
		return res, err
	}
	res.Refreshed, res.Listed = true, len(rows)
	local, _, err := r.db.ChartVersions(ctx, ns, "", true)
	if err != nil {
		return res, err
	}
	have := make(map[[2]string]bool, len(local))
	for i := range local {
		c := &local[i]
		have[[2]string{c.Name, c.Version}] = true
		for _, v := range rows {
			if v.Name == c.Name && v.Version == c.Version && v.Digest != "" && v.Digest != c.ChartDigest {
				changed, err := r.markUpstreamChanged(ctx, c, v.Digest, "the upstream lists")
				if err != nil {
					return res, err
				}
				if changed {
					res.Changed = append(res.Changed, meta.UpstreamChange{Namespace: ns, Name: c.Name, Version: c.Version, Pinned: c.ChartDigest, Upstream: v.Digest})
				}
			}
		}
	}
	if p.Mirror {
		res.Fetched, err = r.mirror(ctx, p, rows, have)
	}
	return res, err
}

// mirror fetches every listed version not held yet, proxyMirrorParallel at once. A version
// that fails is logged and left for the next refresh; the first such error is returned.
func (r *Registry) mirror(ctx context.Context, p *meta.Proxy, rows []meta.ProxyVersion, have map[[2]string]bool) (int, error) {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		fetched int
		first   error
	)
	slots := make(chan struct{}, proxyMirrorParallel)
	for _, v := range rows {
		if have[[2]string{v.Name, v.Version}] {
			continue
		}
		slots <- struct{}{}
		wg.Add(1)
		go func(v meta.ProxyVersion) {
			defer func() { <-slots; wg.Done() }()
			err := r.fetchVersion(ctx, p, upstreamVersionOf(&v))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.log.Warn("mirroring: a version could not be fetched; the next refresh tries again", "namespace", p.Namespace,
					"chart", v.Name, "version", v.Version, "err", err)
				if first == nil {
					first = err
				}
				return
			}
			fetched++
		}(v)
	}
	wg.Wait()
	return fetched, first
}

// checkListed holds an upstream's listed version to what chartroom can publish.
func checkListed(v UpstreamVersion) error {
	if err := ValidateName(v.Name); err != nil || strings.Contains(v.Name, "/") {
		return fmt.Errorf("chart name %q is not a valid repository name part", v.Name)
	}
	if err := ValidateTag(chart.OCITag(v.Version)); err != nil {
		return fmt.Errorf("version %q: %w", v.Version, err)
	}
	if v.Digest != "" {
		if err := v.Digest.Validate(); err != nil {
			return fmt.Errorf("digest %q: %w", v.Digest, err)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(v.Metadata, &m); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	return nil
}

// markUpstreamChanged marks a pinned version whose upstream lists or serves other bytes
// (upstream) under its version: the pinned bytes keep serving; the version's API field and
// index entry (annotation UpstreamChangedAnnotation) say so, the audit log records it (once
// per upstream digest) and a warning is logged.
func (r *Registry) markUpstreamChanged(ctx context.Context, c *meta.ChartVersion, upstream digest.Digest, how string) (bool, error) {
	if c.UpstreamChanged == upstream {
		return false, nil
	}
	marked := *c
	marked.UpstreamChanged = upstream
	if err := renderEntriesFrom(&marked, c.Metadata, c.AppVersion, c.Description); err != nil {
		return false, err
	}
	audit := &meta.AuditRecord{Actor: "proxy", Address: "local", Action: "proxy.upstream_changed", Repository: c.Repository,
		Version: c.Version, Digest: c.ChartDigest.String(), Outcome: "ok",
		Detail: fmt.Sprintf("%s %s under this version; the pinned %s keeps serving", how, upstream, c.ChartDigest)}
	changed, err := r.db.MarkUpstreamChanged(ctx, marked, upstream, audit)
	if err != nil || !changed {
		return changed, err
	}
	r.log.Warn("the upstream of a proxy namespace changed the bytes of a version it served; the pinned bytes keep serving",
		"namespace", c.Namespace, "chart", c.Name, "version", c.Version, "pinned", c.ChartDigest.String(), "upstream", upstream.String())
	return true, nil
}

// withUpstreamChanged adds the upstream-changed annotation to a chart's metadata (Chart.yaml
// as JSON), for its index entries.
func withUpstreamChanged(metadata []byte, upstream digest.Digest) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(metadata, &m); err != nil {
		return nil, err
	}
	a, _ := m["annotations"].(map[string]any)
	if a == nil {
		a = map[string]any{}
	}
	a[UpstreamChangedAnnotation] = upstream.String()
	m["annotations"] = a
	return json.Marshal(m)
}

// proxyEntries adds to a proxy namespace's index the versions its upstream lists that it does
// not hold yet, rendered from the upstream's listing.
func (r *Registry) proxyEntries(ctx context.Context, p *meta.Proxy, format IndexFormat, entries []repoindex.Entry) ([]repoindex.Entry, error) {
	if err := r.ensureListed(ctx, p); err != nil {
		return nil, err
	}
	listed, err := r.db.ProxyVersions(ctx, p.Namespace)
	if err != nil {
		return nil, err
	}
	have := make(map[[2]string]bool, len(entries))
	for _, e := range entries {
		have[[2]string{e.Name, e.Version}] = true
	}
	keys := make([][2]string, 0, len(listed))
	for k := range listed {
		if !have[k] {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0] < keys[j][0] || keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1]
	})
	for _, k := range keys {
		v := listed[k]
		y, j, err := repoindex.Render(v.Metadata, v.Created, v.Digest.Encoded())
		if err != nil {
			r.log.Warn("a version the upstream lists cannot be rendered as an index entry; it is left out", "namespace", p.Namespace,
				"chart", v.Name, "version", v.Version, "err", err)
			continue
		}
		e := repoindex.Entry{Name: v.Name, Version: v.Version, YAML: y}
		if format == IndexJSON {
			e = repoindex.Entry{Name: v.Name, Version: v.Version, JSON: j}
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// proxiedTags lists a proxy repository's tags: those it holds and the versions its upstream
// lists, in lexical order after last, at most n (n ≤ 0: all).
func (r *Registry) proxiedTags(ctx context.Context, p *meta.Proxy, repo, name string, n int, last string) ([]string, error) {
	tags, err := r.db.Tags(ctx, repo, 0, "", !seesQuarantined(ctx))
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return nil, err
	}
	if tags, err = r.proxyTags(ctx, p, name, tags); err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return nil, fmt.Errorf("%w: %s has no content yet, and its upstream %s lists no chart %s", ErrNameUnknown, repo, p.Upstream, name)
	}
	if last != "" {
		i := sort.SearchStrings(tags, last)
		for i < len(tags) && tags[i] <= last {
			i++
		}
		tags = tags[i:]
	}
	if n > 0 && len(tags) > n {
		tags = tags[:n]
	}
	return r.withArtifactHubTag(ctx, repo, tags, n, last)
}

// proxyTags merges into a proxy repository's tags the versions its upstream lists.
func (r *Registry) proxyTags(ctx context.Context, p *meta.Proxy, name string, tags []string) ([]string, error) {
	if err := r.ensureListed(ctx, p); err != nil {
		return nil, err
	}
	listed, err := r.db.ProxyVersions(ctx, p.Namespace)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		seen[t] = true
	}
	for k := range listed {
		if t := chart.OCITag(k[1]); k[0] == name && !seen[t] {
			seen[t] = true
			tags = append(tags, t)
		}
	}
	sort.Strings(tags)
	return tags, nil
}
