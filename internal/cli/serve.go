package cli

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/chartroom/chartroom/internal/sandbox"
	"github.com/chartroom/chartroom/internal/server"
	"github.com/chartroom/chartroom/internal/server/auth"
)

// serveOptions is what `chartroom serve` is told: the server's config and how to log.
type serveOptions struct {
	cfg       server.Config
	logFormat string // "json", "text", or "" for json unless stderr is a terminal
	logLevel  string // "debug", "info", "warn" or "error"; "" for info
}

func (o *serveOptions) settings() settings {
	c := &o.cfg
	str := func(p *string) func(any) { return func(v any) { *p = v.(string) } }
	boolean := func(p *bool) func(any) { return func(v any) { *p = v.(bool) } }
	size := func(p *int64) func(any) { return func(v any) { *p = v.(int64) } }
	return settings{
		{name: "listen", typ: "addr", def: server.DefaultListen,
			usage: "address to serve on, host:port",
			parse: parseListen, store: str(&c.Listen)},
		{name: "data-dir", typ: "dir", def: server.DefaultDataDir,
			usage: "directory of the SQLite database (chartroom.db) and blobs (blobs/), created on first start",
			parse: parseNonEmpty("a directory path"), store: str(&c.DataDir)},
		{name: "database", typ: "url", def: "SQLite in --data-dir",
			usage: "metadata database: postgres://USER:PASSWORD@HOST:PORT/DATABASE (shared by replicas; pool_max_conns=N sets the pool size), or unset for SQLite in --data-dir",
			parse: parseDatabase, store: str(&c.Database)},
		{name: "storage", typ: "url", def: "blobs/ under --data-dir",
			usage: "where blobs are kept: s3://BUCKET[/PREFIX]?endpoint=URL&region=REGION&path-style=true for an S3-compatible bucket (credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or storage-access-key-id and storage-secret-access-key in the config file); the database stays in --data-dir",
			parse: parseStorage, store: str(&c.Storage)},
		{name: "storage-redirect", typ: "bool", def: "false", boolean: true,
			usage: "answer OCI blob downloads with a redirect to a short-lived presigned URL of the bucket instead of sending the bytes (S3 storage only; clients must reach the endpoint)",
			parse: parseBool, store: boolean(&c.StorageRedirect)},
		{name: "storage-access-key-id", noFlag: true, parse: parseNonEmpty("an access key id"), store: str(&c.StorageAccessKeyID)},
		{name: "storage-secret-access-key", noFlag: true, parse: parseNonEmpty("a secret access key"), store: str(&c.StorageSecretAccessKey)},
		{name: "anonymous-read", typ: "bool", def: "false", boolean: true,
			usage: "let requests without credentials pull and list",
			parse: parseBool, store: boolean(&c.AnonymousRead)},
		{name: "allow-sparse-manifests", typ: "bool", def: "false", boolean: true,
			usage: "accept image manifests that reference content the repository lacks (mirrors); charts are never sparse",
			parse: parseBool, store: boolean(&c.AllowSparseManifests)},
		{name: "immutable-tags", typ: "pattern", list: true,
			usage: "repository pattern whose tags never name other content once set, not even after a delete; * is any characters, / included ('prod/*' covers prod/app and prod/team/app); repeatable (env: comma-separated)",
			parse: parsePattern,
			store: func(v any) { c.ImmutableTags = append(c.ImmutableTags, v.(string)) },
			clear: func() { c.ImmutableTags = nil }},
		{name: "max-blob-size", typ: "size", def: "unlimited",
			usage: "largest blob accepted, e.g. 10GiB; 0 or unlimited for no limit",
			parse: parseSize(true), store: size(&c.MaxBlobSize)},
		{name: "max-manifest-size", typ: "size", def: server.FormatSize(server.DefaultConfig().MaxManifestSize),
			usage: "largest manifest accepted",
			parse: parseSize(false), store: size(&c.MaxManifestSize)},
		{name: "max-chart-size", typ: "size", def: server.FormatSize(server.DefaultConfig().MaxChartSize),
			usage: "largest chart archive accepted, over the classic upload API or as an OCI chart layer",
			parse: parseSize(false), store: size(&c.MaxChartSize)},
		{name: "render-memory", typ: "size", def: server.FormatSize(server.DefaultRenderMemory),
			usage: "memory one render of a published chart's templates may use (each runs in a child process, stopped at this limit or after 20s)",
			parse: parseRenderMemory, store: size(&c.RenderMemory)},
		{name: "shutdown-timeout", typ: "duration", def: server.DefaultShutdownTimeout.String(),
			usage: "on SIGTERM/SIGINT, how long in-flight requests (uploads) may still run",
			parse: parseDuration, store: func(v any) { c.ShutdownTimeout = v.(time.Duration) }},
		{name: "upload-expiry", typ: "duration", def: strings.TrimSuffix(strings.TrimSuffix(server.DefaultUploadExpiry.String(), "0s"), "0m"),
			usage: "remove OCI blob upload sessions idle (no chunk received) for longer than this",
			parse: parseDuration, store: func(v any) { c.UploadExpiry = v.(time.Duration) }},
		{name: "max-uploads-per-user", typ: "int", def: strconv.Itoa(server.DefaultMaxUploadsPerUser),
			usage: "most OCI blob upload sessions one user may have open at once; 0 for no limit",
			parse: parseCount, store: func(v any) { c.MaxUploadsPerUser = v.(int) }},
		{name: "gc-interval", typ: "duration", def: "0 (off)",
			usage: "run a garbage collection (unreferenced blobs and manifests, abandoned uploads, retention) this often, e.g. 6h; one at a time across servers sharing the database",
			parse: parseDuration, store: func(v any) { c.GCInterval = v.(time.Duration) }},
		{name: "gc-grace", typ: "duration", def: "24h",
			usage: "what garbage collection removes must be older than this (manifests, blobs, links, idle uploads)",
			parse: parsePositiveDuration, store: func(v any) { c.GCGrace = v.(time.Duration) }},
		{name: "audit-retention", typ: "duration", def: "90d",
			usage: "how long audit log records are kept (e.g. 90d, 720h), or forever",
			parse: parseRetention, store: func(v any) { c.AuditRetention = v.(time.Duration) }},
		{name: "shutdown-delay", typ: "duration", def: server.DefaultShutdownDelay.String(),
			usage: "on SIGTERM/SIGINT, how long /readyz answers 503 while requests are still served, before the listener closes",
			parse: parseDuration, store: func(v any) { c.ShutdownDelay = v.(time.Duration) }},
		{name: "body-idle-timeout", typ: "duration", def: server.DefaultBodyIdleTimeout.String(),
			usage: "cut a request body that delivers no byte for this long (slow uploads that keep sending are never cut)",
			parse: parsePositiveDuration, store: func(v any) { c.BodyIdleTimeout = v.(time.Duration) }},
		{name: "log-format", typ: "format", def: "json unless stderr is a terminal",
			usage: "log format: json or text",
			parse: parseOneOf("json", "text"), store: str(&o.logFormat)},
		{name: "log-level", typ: "level", def: "info",
			usage: "least severe log level written: debug (also health probes and metrics scrapes), info, warn or error",
			parse: parseOneOf("debug", "info", "warn", "error"), store: str(&o.logLevel)},
		{name: "tls-cert", typ: "file",
			usage: "PEM certificate chain to serve HTTPS with (with --tls-key); a renewed file is loaded without a restart",
			parse: parseNonEmpty("a file path"), store: str(&c.TLSCert)},
		{name: "tls-key", typ: "file",
			usage: "PEM private key of --tls-cert",
			parse: parseNonEmpty("a file path"), store: str(&c.TLSKey)},
		{name: "token-ttl", typ: "duration", def: "5m",
			usage: "how long a registry token (from /v2/token or POST /api/oidc/token) is valid, 30s to 24h",
			parse: parseTokenTTL, store: func(v any) { c.TokenTTL = v.(time.Duration) }},
		{name: "trusted-publishers", typ: "rules",
			usage: "OIDC issuers and rules of trusted publishing (config file only)",
			file: func(n *yaml.Node) error {
				tps, err := parseTrustedPublishers(n)
				c.TrustedPublishers = tps
				return err
			}},
		{name: "proxies", typ: "list",
			usage: "proxy namespaces to configure at start, each {namespace, upstream, refresh, mirror, username, password} (config file only; see chartroom proxy add)",
			file: func(n *yaml.Node) error {
				ps, err := parseProxies(n)
				c.Proxies = ps
				return err
			}},
		{name: "external-url", typ: "url",
			usage: "URL clients reach this server at, e.g. https://charts.example.com (used by the classic chart repository and in webhook payloads)",
			parse: parseExternalURL, store: str(&c.ExternalURL)},
		{name: "ui", typ: "bool", def: "true", boolean: true,
			usage: "serve the web UI under /ui/ (browse, search and install charts; sign in with a user's password); --ui=false turns it off",
			parse: parseBool, store: func(v any) { c.DisableUI = !v.(bool) }},
		{name: "webhook-timeout", typ: "duration", def: server.DefaultWebhookTimeout.String(),
			usage: "bound one webhook delivery attempt (connect, send, answer)",
			parse: parsePositiveDuration, store: func(v any) { c.WebhookTimeout = v.(time.Duration) }},
		{name: "webhook-retry-min", typ: "duration", def: server.DefaultWebhookRetryMin.String(),
			usage: "wait before a failed webhook delivery's first retry; doubled for each next one",
			parse: parsePositiveDuration, store: func(v any) { c.WebhookRetryMin = v.(time.Duration) }},
		{name: "webhook-retry-max", typ: "duration", def: "1h",
			usage: "longest wait between two attempts of a webhook delivery",
			parse: parsePositiveDuration, store: func(v any) { c.WebhookRetryMax = v.(time.Duration) }},
		{name: "webhook-max-attempts", typ: "int", def: strconv.Itoa(server.DefaultWebhookMaxAttempts),
			usage: "a webhook delivery fails for good after this many attempts (the webhook's next one then goes ahead)",
			parse: parsePositiveCount, store: func(v any) { c.WebhookMaxAttempts = v.(int) }},
		{name: "webhook-give-up-after", typ: "duration", def: "24h",
			usage: "a webhook delivery fails for good when an attempt fails this long after it was queued",
			parse: parsePositiveDuration, store: func(v any) { c.WebhookGiveUpAfter = v.(time.Duration) }},
	}
}

func newServeCmd() *cobra.Command {
	getenv := os.LookupEnv
	o := &serveOptions{cfg: server.DefaultConfig()}
	ss := o.settings()
	var configPath string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the registry: OCI API under /v2/, /healthz, /readyz, /metrics",
		Long: `Run the chartroom server on the embedded store (SQLite + blobs in --data-dir).

Every flag can also be set by the environment variable CHARTROOM_<FLAG> (upper case,
dashes as underscores) or by the YAML file given to --config, whose keys are the flag
names. A flag beats the environment, which beats the file, which beats the default.

Blobs can live in an S3-compatible bucket instead (--storage s3://…); its credentials come
from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or from the config
file keys (or CHARTROOM_ variables) storage-access-key-id and storage-secret-access-key,
which have no flags.

On first start with an empty database, user admin is created with the password in
CHARTROOM_ADMIN_PASSWORD, or with a random one printed once to the log.

SIGTERM or SIGINT makes /readyz answer 503 for --shutdown-delay while requests are still
served, then stops accepting connections and lets in-flight requests finish within
--shutdown-timeout; a second signal exits at once.`,
		Example: `  chartroom serve
  CHARTROOM_ADMIN_PASSWORD=s3cret chartroom serve --listen 127.0.0.1:8080 --data-dir /var/lib/chartroom
  chartroom serve --config /etc/chartroom.yaml --anonymous-read --immutable-tags 'prod/*'`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			path := configPath
			if !c.Flags().Changed("config") {
				path, _ = getenv("CHARTROOM_CONFIG")
			}
			if err := ss.resolve(c.Flags(), getenv, path); err != nil {
				return usageError{err}
			}
			if err := o.cfg.Validate(); err != nil {
				return usageError{err}
			}
			o.cfg.AdminPassword, _ = getenv("CHARTROOM_ADMIN_PASSWORD")
			o.cfg.Version = buildVersion()
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find this executable, to render charts in child processes: %w", err)
			}
			o.cfg.RenderCommand = []string{exe, sandbox.ChildCommand}
			log := newLogger(c.ErrOrStderr(), o.logFormat, o.logLevel)

			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() {
				<-ctx.Done()
				stop() // a second signal gets the default behaviour: exit at once
			}()
			return server.Run(ctx, o.cfg, log)
		},
	}
	ss.register(cmd.Flags())
	cmd.Flags().StringVar(&configPath, "config", "", "YAML file of settings, keys named like the flags (env CHARTROOM_CONFIG)")
	cmd.Flags().SortFlags = false
	return cmd
}

// newLogger builds the process logger: JSON, or text when asked or when w is a terminal, of
// records at level (debug, info, warn, error; "" for info) and above.
func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level)) // checked by parseOneOf; "" stays info
	opts := &slog.HandlerOptions{Level: lv}
	if format == "" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func parseListen(v string) (any, error) {
	if v == "" {
		return nil, fmt.Errorf("expected an address such as :8080 or 127.0.0.1:8080")
	}
	if _, _, err := splitHostPort(v); err != nil {
		return nil, fmt.Errorf("%q is not an address: expected host:port such as :8080 or 127.0.0.1:8080", v)
	}
	return v, nil
}

func splitHostPort(v string) (host string, port int, err error) {
	host, p, err := net.SplitHostPort(v)
	if err != nil {
		return "", 0, err
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number from 0 to 65535", p)
	}
	return host, port, nil
}

func parseNonEmpty(what string) func(string) (any, error) {
	return func(v string) (any, error) {
		if v == "" {
			return nil, fmt.Errorf("expected %s", what)
		}
		return v, nil
	}
}

func parseStorage(v string) (any, error) {
	if err := server.ValidateStorage(v); err != nil {
		return nil, err
	}
	return v, nil
}

func parsePattern(v string) (any, error) {
	if err := server.ValidatePattern(v); err != nil {
		return nil, err
	}
	return v, nil
}

func parseDatabase(v string) (any, error) {
	if err := server.ValidateDatabase(v); err != nil {
		return nil, err
	}
	return v, nil
}

func parseExternalURL(v string) (any, error) {
	if err := server.ValidateExternalURL(v); err != nil {
		return nil, err
	}
	return v, nil
}

func parseCount(v string) (any, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("%q is not a count: expected a whole number ≥ 0, such as 100", v)
	}
	return n, nil
}

// parsePositiveCount reads a whole number above zero.
func parsePositiveCount(v string) (any, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("%q is not allowed: expected a whole number above 0, such as 30", v)
	}
	return n, nil
}

func parseSize(zeroOK bool) func(string) (any, error) {
	return func(v string) (any, error) {
		if zeroOK && v == "unlimited" {
			return int64(0), nil
		}
		n, err := server.ParseSize(v)
		if err != nil {
			return nil, err
		}
		if n == 0 && !zeroOK {
			return nil, fmt.Errorf("%q is not allowed: expected a size above 0, such as 4MiB", v)
		}
		return n, nil
	}
}

// parseRenderMemory reads a size of at least sandbox.MinMemory.
func parseRenderMemory(v string) (any, error) {
	n, err := server.ParseSize(v)
	if err != nil {
		return nil, err
	}
	if n < sandbox.MinMemory {
		return nil, fmt.Errorf("%q is too little: a render child needs at least %s", v, server.FormatSize(sandbox.MinMemory))
	}
	return n, nil
}

// parsePositiveDuration reads a duration above zero.
func parsePositiveDuration(v string) (any, error) {
	d, err := parseDuration(v)
	if err != nil {
		return nil, err
	}
	if d.(time.Duration) == 0 {
		return nil, fmt.Errorf("%q is not allowed: expected a duration above 0, such as 60s", v)
	}
	return d, nil
}

// parseRetention reads --audit-retention: a duration above 0 (days as Nd), or forever.
func parseRetention(v string) (any, error) {
	if v == "forever" {
		return time.Duration(-1), nil
	}
	d, err := parseDays(v)
	if err != nil || d <= 0 {
		return nil, fmt.Errorf("%q is not allowed: expected a duration above 0, such as 90d or 720h, or forever", v)
	}
	return d, nil
}

// parseTokenTTL reads --token-ttl: a duration from auth.MinTokenTTL to auth.MaxTokenTTL.
func parseTokenTTL(v string) (any, error) {
	d, err := parseDuration(v)
	if err != nil {
		return nil, err
	}
	if t := d.(time.Duration); t < auth.MinTokenTTL || t > auth.MaxTokenTTL {
		return nil, fmt.Errorf("%q is not allowed: expected a duration from %s to %s, such as 5m", v, auth.MinTokenTTL, auth.MaxTokenTTL)
	}
	return d, nil
}
