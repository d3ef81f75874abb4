package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/proxy"
	"github.com/chartroom/chartroom/internal/registry"
)

// DefaultProxyRefresh is how often a proxy namespace's upstream listing is read again, when
// its configuration does not say.
const DefaultProxyRefresh = 10 * time.Minute

// MinProxyRefresh is the shortest refresh interval a proxy may have.
const MinProxyRefresh = time.Second

// proxyTick is how often a server looks for proxies whose refresh is due (one read).
const proxyTick = 2 * time.Second

// ProxyConfig is a proxy namespace of the config file (key proxies), or of chartroom proxy add.
type ProxyConfig struct {
	Namespace string
	// Upstream is a classic repository's URL or oci://HOST/NAMESPACE.
	Upstream string
	// Refresh is how often the upstream's listing is read again; 0 means DefaultProxyRefresh.
	Refresh time.Duration
	// Username and Password are the upstream's credentials ("" none).
	Username, Password string
	// Mirror makes every refresh fetch every listed version.
	Mirror bool
}

// ValidateProxy checks a proxy's configuration; each error says what is expected.
func ValidateProxy(p ProxyConfig) error {
	if p.Namespace != "" {
		if err := registry.ValidateName(p.Namespace); err != nil {
			return fmt.Errorf("namespace %q: %w", p.Namespace, err)
		}
		if err := registry.CheckChartNamespace(p.Namespace); err != nil {
			return err
		}
	}
	if err := proxy.CheckUpstream(p.Upstream); err != nil {
		return err
	}
	if p.Refresh != 0 && p.Refresh < MinProxyRefresh {
		return fmt.Errorf("refresh %s: expected at least %s, such as 10m", p.Refresh, MinProxyRefresh)
	}
	if p.Password != "" && p.Username == "" {
		return errors.New("a password without a username: give both, or neither")
	}
	return nil
}

// MetaProxy is p as the database stores it (defaults filled in).
func (p ProxyConfig) MetaProxy() meta.Proxy {
	refresh := p.Refresh
	if refresh == 0 {
		refresh = DefaultProxyRefresh
	}
	return meta.Proxy{Namespace: p.Namespace, Upstream: p.Upstream, Username: p.Username, Password: p.Password,
		Refresh: refresh, Mirror: p.Mirror}
}

// putConfigProxies creates or updates the proxies of the config file, each audited.
func putConfigProxies(ctx context.Context, db *meta.DB, ps []ProxyConfig) error {
	for _, p := range ps {
		if err := ValidateProxy(p); err != nil {
			return fmt.Errorf("proxies: namespace %s: %w", p.Namespace, err)
		}
		audit := &meta.AuditRecord{Actor: "config", Address: "local", Action: "proxy.add", Repository: p.Namespace, Outcome: "ok", Detail: p.Upstream}
		if err := db.PutProxy(ctx, p.MetaProxy(), audit); err != nil {
			return fmt.Errorf("proxies: %w", err)
		}
	}
	return nil
}

// refreshProxies refreshes the proxy namespaces whose refresh is due, every proxyTick, until
// ctx ends; each proxy is refreshed by one server at a time.
func (s *Server) refreshProxies(ctx context.Context) {
	t := time.NewTicker(proxyTick)
	defer t.Stop()
	for {
		if err := s.reg.RefreshProxies(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("refreshing proxy namespaces failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
