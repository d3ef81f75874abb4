package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/server"
	"github.com/chartroom/chartroom/internal/termsafe"
)

// chartroom proxy: pull-through proxy namespaces, configured in serve's database (as chartroom
// namespace and trust are), also while it runs: the server reads them at every request.

func newProxyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "proxy",
		Short: "Make namespaces pull-through proxies of upstream chart repositories (classic or OCI)",
		Long: `Manage proxy namespaces in the data directory of chartroom serve (the same --data-dir and
--config), also while it runs.

A proxy namespace shows its upstream's versions (index.yaml and OCI tag lists, as the
upstream listed them at the last refresh, every --refresh, by one server at a time; the last
listing keeps serving while the upstream is down). The first pull of a version, over either
protocol, fetches it from the upstream, checks its digest against the listing and publishes
it as any chart (same rules; its date is the upstream's); later pulls are served locally. A
classic upstream's charts are pullable as oci:// too. A fetched version is pinned: when the
upstream later lists other bytes under it, chartroom keeps serving the pinned bytes, marks
the version (annotation chartroom.io/upstream-changed in its index entry, upstreamChanged in
the API), records it in the audit log and logs a warning; chartroom proxy status lists them.
Users cannot push to or delete from a proxy namespace.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("proxy needs a subcommand: add, list, remove or status (see %s --help)", c.CommandPath())}
		},
	}
	c.AddCommand(newProxyAddCmd(), newProxyListCmd(), newProxyRemoveCmd(), newProxyStatusCmd())
	return c
}

func newProxyAddCmd() *cobra.Command {
	var (
		refresh       time.Duration
		username      string
		passwordStdin bool
		mirror        bool
	)
	c := &cobra.Command{
		Use:   "add NAMESPACE UPSTREAM",
		Short: "Make NAMESPACE a proxy of UPSTREAM (a chart repository URL or oci://HOST/NAMESPACE)",
		Long: `Make NAMESPACE a pull-through proxy of UPSTREAM: the URL of a classic chart repository (as
helm repo add takes it: the directory of its index.yaml) or oci://HOST/NAMESPACE (its charts
are the repositories directly below; the upstream must serve its catalog, /v2/_catalog; an
OCI upstream on a loopback address is spoken to over plain HTTP). Adding a proxy that
exists changes its settings (a new upstream starts from an empty listing).

--username and --password-stdin are the upstream's Basic credentials; they are stored in
serve's database as given (not encrypted: protect the database and its backups as the
credentials deserve) and sent to the upstream's host only.

--mirror makes every refresh also fetch every listed version (4 at a time), so that the
namespace holds the whole upstream, pinned.

NAMESPACE must hold no chart of its own: users cannot publish there afterwards.` + exitCodesHelp,
		Example: `  chartroom proxy add bitnami https://charts.bitnami.com/bitnami --data-dir /var/lib/chartroom
  chartroom proxy add upstream/team oci://registry.example.com/team --refresh 1h --username ci --password-stdin < token.txt`,
		Args: cobra.ExactArgs(2),
	}
	dbCommand(c, dbWrite|dbOutput, func(cmd *cobra.Command, args []string, open openDB, output string) error {
		ns, err := namespaceArg(args[0])
		if err != nil {
			return err
		}
		if ns == "" {
			return usageError{errors.New("the root namespace cannot be a proxy: give a namespace, e.g. upstream/bitnami")}
		}
		p := server.ProxyConfig{Namespace: ns, Upstream: args[1], Refresh: refresh, Username: username, Mirror: mirror}
		if passwordStdin {
			if p.Password, err = readPasswordStdin(cmd.InOrStdin()); err != nil {
				return err
			}
		}
		if err := server.ValidateProxy(p); err != nil {
			return usageError{err}
		}
		ctx := cmd.Context()
		db, err := open()
		if err != nil {
			return err
		}
		if versions, _, err := db.ChartVersions(ctx, ns, "", true); err != nil {
			return err
		} else if len(versions) > 0 {
			if _, err := db.GetProxy(ctx, ns); errors.Is(err, meta.ErrNotFound) {
				return fmt.Errorf("namespace %s holds %d chart version(s) of its own: a proxy namespace holds only what it fetches; choose another namespace", ns, len(versions))
			}
		}
		if err := db.PutProxy(ctx, p.MetaProxy(), cliAudit("proxy.add", ns, p.Upstream)); err != nil {
			return err
		}
		if output != "json" {
			fmt.Fprintf(cmd.OutOrStdout(), "%s now proxies %s\n", ns, termsafe.Text(p.Upstream))
		}
		return showProxyStatus(ctx, cmd.OutOrStdout(), db, &ns, output)
	}, func(f *pflag.FlagSet) {
		f.DurationVar(&refresh, "refresh", server.DefaultProxyRefresh, "how often the upstream's listing is read again (at least 1s)")
		f.StringVarP(&username, "username", "u", "", "the upstream's username")
		f.BoolVar(&passwordStdin, "password-stdin", false, "read the upstream's password or token from standard input")
		f.BoolVar(&mirror, "mirror", false, "fetch every listed version at every refresh, not only at its first pull")
	})
	c.Flags().SortFlags = false
	return c
}

func newProxyListCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "list",
		Short: "List the proxy namespaces and their upstreams",
		Args:  cobra.NoArgs,
	}
	dbCommand(c, dbRead|dbOutput, func(cmd *cobra.Command, _ []string, open openDB, output string) error {
		db, err := open()
		if err != nil {
			return err
		}
		ps, err := db.Proxies(cmd.Context())
		if err != nil {
			return err
		}
		out := []proxyJSON{}
		for _, p := range ps {
			out = append(out, proxyJSONOf(p))
		}
		w := cmd.OutOrStdout()
		if output == "json" {
			return writeJSONResult(w, map[string]any{"proxies": out})
		}
		if len(out) == 0 {
			fmt.Fprintln(w, "no proxy namespace (chartroom proxy add NAMESPACE UPSTREAM)")
		}
		for _, p := range out {
			fmt.Fprintf(w, "%s\t%s\trefresh %s%s\n", p.Namespace, termsafe.Text(p.Upstream), p.Refresh, map[bool]string{true: "\tmirror"}[p.Mirror])
		}
		return nil
	}, nil)
	return c
}

func newProxyRemoveCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "remove NAMESPACE",
		Short: "Make a proxy namespace an ordinary one (the versions it fetched stay)",
		Args:  oneArg("the namespace, e.g. upstream/bitnami"),
	}
	dbCommand(c, dbWrite, func(cmd *cobra.Command, args []string, open openDB, _ string) error {
		ns, err := namespaceArg(args[0])
		if err != nil {
			return err
		}
		db, err := open()
		if err != nil {
			return err
		}
		if err := db.RemoveProxy(cmd.Context(), ns, cliAudit("proxy.remove", ns, "")); errors.Is(err, meta.ErrNotFound) {
			return fmt.Errorf("%s is not a proxy namespace (chartroom proxy list shows them)", namespaceArgOf(ns))
		} else if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s is no longer a proxy; the versions it fetched stay\n", namespaceArgOf(ns))
		return nil
	}, nil)
	return c
}

func newProxyStatusCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "status [NAMESPACE]",
		Short: "Show proxies' last refresh, its error, and the versions whose upstream changed",
		Long: `Show, for NAMESPACE or every proxy namespace: the upstream, the last successful refresh and
the last attempt's error, how many versions the upstream lists, and the pinned versions the
upstream later listed with other bytes (chartroom keeps serving the pinned ones).`,
		Args: cobra.MaximumNArgs(1),
	}
	dbCommand(c, dbRead|dbOutput, func(cmd *cobra.Command, args []string, open openDB, output string) error {
		var ns *string
		if len(args) == 1 {
			n, err := namespaceArg(args[0])
			if err != nil {
				return err
			}
			ns = &n
		}
		db, err := open()
		if err != nil {
			return err
		}
		return showProxyStatus(cmd.Context(), cmd.OutOrStdout(), db, ns, output)
	}, nil)
	return c
}

type proxyJSON struct {
	Namespace   string `json:"namespace"`
	Upstream    string `json:"upstream"`
	Username    string `json:"username,omitempty"`
	Refresh     string `json:"refresh"`
	Mirror      bool   `json:"mirror"`
	LastRefresh string `json:"lastRefresh,omitempty"`
	LastAttempt string `json:"lastAttempt,omitempty"`
	LastError   string `json:"lastError,omitempty"`
}

type proxyStatusJSON struct {
	proxyJSON
	Listed          int                   `json:"listed"`
	UpstreamChanged []upstreamChangedJSON `json:"upstreamChanged"`
}

type upstreamChangedJSON struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Pinned   string `json:"pinned"`
	Upstream string `json:"upstream"`
}

func proxyJSONOf(p meta.Proxy) proxyJSON {
	out := proxyJSON{Namespace: p.Namespace, Upstream: p.Upstream, Username: p.Username, Refresh: p.Refresh.String(), Mirror: p.Mirror, LastError: p.LastError}
	if !p.LastRefresh.IsZero() {
		out.LastRefresh = p.LastRefresh.Format(time.RFC3339)
	}
	if !p.LastAttempt.IsZero() {
		out.LastAttempt = p.LastAttempt.Format(time.RFC3339)
	}
	return out
}

// showProxyStatus prints the status of ns's proxy (every proxy when ns is nil).
func showProxyStatus(ctx context.Context, w io.Writer, db *meta.DB, ns *string, output string) error {
	var ps []meta.Proxy
	if ns != nil {
		p, err := db.GetProxy(ctx, *ns)
		if errors.Is(err, meta.ErrNotFound) {
			return fmt.Errorf("%s is not a proxy namespace (chartroom proxy list shows them)", namespaceArgOf(*ns))
		}
		if err != nil {
			return err
		}
		ps = append(ps, *p)
	} else {
		var err error
		if ps, err = db.Proxies(ctx); err != nil {
			return err
		}
	}
	out := []proxyStatusJSON{}
	for _, p := range ps {
		listed, err := db.ProxyVersions(ctx, p.Namespace)
		if err != nil {
			return err
		}
		changes, err := db.UpstreamChanges(ctx, &p.Namespace)
		if err != nil {
			return err
		}
		st := proxyStatusJSON{proxyJSON: proxyJSONOf(p), Listed: len(listed), UpstreamChanged: []upstreamChangedJSON{}}
		for _, c := range changes {
			st.UpstreamChanged = append(st.UpstreamChanged, upstreamChangedJSON{Name: c.Name, Version: c.Version, Pinned: c.Pinned.String(), Upstream: c.Upstream.String()})
		}
		out = append(out, st)
	}
	if output == "json" {
		if ns != nil {
			return writeJSONResult(w, out[0])
		}
		return writeJSONResult(w, map[string]any{"proxies": out})
	}
	if len(out) == 0 {
		fmt.Fprintln(w, "no proxy namespace (chartroom proxy add NAMESPACE UPSTREAM)")
	}
	for _, p := range out {
		fmt.Fprintf(w, "%s: proxy of %s (refresh %s", p.Namespace, termsafe.Text(p.Upstream), p.Refresh)
		if p.Mirror {
			fmt.Fprint(w, ", mirror")
		}
		fmt.Fprintln(w, ")")
		switch {
		case p.LastRefresh == "" && p.LastAttempt == "":
			fmt.Fprintln(w, "  never refreshed yet (the server refreshes it at once)")
		case p.LastRefresh == "":
			fmt.Fprintln(w, "  never refreshed successfully")
		default:
			fmt.Fprintf(w, "  last refresh %s: %d version(s) listed\n", p.LastRefresh, p.Listed)
		}
		if p.LastError != "" {
			fmt.Fprintf(w, "  last attempt %s failed: %s (the last listing keeps serving)\n", p.LastAttempt, termsafe.Text(p.LastError))
		}
		for _, c := range p.UpstreamChanged {
			fmt.Fprintf(w, "  UPSTREAM CHANGED %s %s: pinned %s, upstream now %s\n", c.Name, c.Version, c.Pinned, c.Upstream)
		}
	}
	return nil
}

// proxyKeys are the keys of an entry of the config file's proxies list.
var proxyKeys = []string{"namespace", "upstream", "refresh", "mirror", "username", "password"}

// parseProxies reads serve's config file key proxies: a list of {namespace, upstream,
// refresh, mirror, username, password}, each created or changed at start as chartroom proxy
// add would.
func parseProxies(n *yaml.Node) ([]server.ProxyConfig, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("expected a list of proxies, each {%s}", strings.Join(proxyKeys, ", "))
	}
	var out []server.ProxyConfig
	for i, e := range n.Content {
		if e.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("entry %d (line %d): expected a mapping with keys %s", i+1, e.Line, strings.Join(proxyKeys, ", "))
		}
		var p server.ProxyConfig
		for j := 0; j+1 < len(e.Content); j += 2 {
			k, v := e.Content[j], e.Content[j+1]
			var err error
			switch k.Value {
			case "namespace":
				p.Namespace = v.Value
			case "upstream":
				p.Upstream = v.Value
			case "username":
				p.Username = v.Value
			case "password":
				p.Password = v.Value
			case "refresh":
				p.Refresh, err = time.ParseDuration(v.Value)
			case "mirror":
				err = v.Decode(&p.Mirror)
			default:
				err = fmt.Errorf("unknown key %q: expected %s", k.Value, strings.Join(proxyKeys, ", "))
			}
			if err != nil {
				return nil, fmt.Errorf("entry %d (line %d): %s: %w", i+1, k.Line, k.Value, err)
			}
		}
		if p.Namespace == "" || p.Upstream == "" {
			return nil, fmt.Errorf("entry %d (line %d): give namespace and upstream", i+1, e.Line)
		}
		if _, err := namespaceArg(p.Namespace); err != nil || p.Namespace == "/" {
			return nil, fmt.Errorf("entry %d (line %d): namespace %q: expected a namespace charts can be published to, e.g. upstream/bitnami", i+1, e.Line, p.Namespace)
		}
		if err := server.ValidateProxy(p); err != nil {
			return nil, fmt.Errorf("entry %d (line %d, namespace %s): %w", i+1, e.Line, p.Namespace, err)
		}
		out = append(out, p)
	}
	return out, nil
}
