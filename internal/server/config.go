package server

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	blobs3 "github.com/chartroom/chartroom/internal/blob/s3"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/sandbox"
	"github.com/chartroom/chartroom/internal/server/auth"
	"github.com/chartroom/chartroom/internal/webhook"
)

// Config is everything `chartroom serve` can be told. The zero value is not usable: start
// from DefaultConfig.
type Config struct {
	// Listen is the TCP address to serve on, e.g. ":8080" or "127.0.0.1:0".
	Listen string
	// DataDir holds the SQLite database (chartroom.db) and the blob store (blobs/); it is
	// created on first start.
	DataDir string
	// Database is the metadata database: "" for the SQLite database in DataDir (chartroom.db),
	// or a postgres:// URL (meta.OpenPostgres), which several servers may share.
	Database string
	// Storage is where blobs are kept: "" for the filesystem store under DataDir (blobs/),
	// or s3://BUCKET[/PREFIX][?endpoint=URL&region=REGION&path-style=true] for an
	// S3-compatible bucket (blob/s3.ParseURL). The database and the spool stay in DataDir.
	Storage string
	// StorageRedirect answers OCI blob GETs with a 307 redirect to a short-lived presigned
	// URL of the bucket instead of sending the bytes; only with S3 storage.
	StorageRedirect bool
	// StorageAccessKeyID and StorageSecretAccessKey are the S3 credentials; "" means the
	// environment's (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN).
	StorageAccessKeyID, StorageSecretAccessKey string
	// AnonymousRead lets requests without credentials pull and list.
	AnonymousRead bool
	// AllowSparseManifests accepts manifests that reference content the repository lacks.
	AllowSparseManifests bool
	// ImmutableTags lists repository patterns (registry.CompileRepositoryPattern: * is any
	// characters, "/" included) whose tags never name other content once set.
	ImmutableTags []string
	// MaxBlobSize bounds one blob in bytes; 0 means unlimited.
	MaxBlobSize int64
	// MaxManifestSize bounds one manifest in bytes.
	MaxManifestSize int64
	// MaxChartSize bounds one chart archive, uploaded over the classic repository API or
	// pushed as the chart layer of an OCI manifest.
	MaxChartSize int64
	// ShutdownTimeout is how long in-flight requests may run after SIGTERM/SIGINT.
	ShutdownTimeout time.Duration
	// ShutdownDelay is how long, after SIGTERM/SIGINT, /readyz answers 503 while requests
	// are still accepted and served (so load balancers stop routing here) before the
	// listener closes; 0 closes it at once.
	ShutdownDelay time.Duration
	// BodyIdleTimeout cuts a request body that delivers no byte for this long (the request
	// fails and its connection is closed); a body that keeps delivering is never cut.
	BodyIdleTimeout time.Duration
	// ExternalURL is the URL clients reach this server at (used by the classic chart
	// repository for absolute links); "" keeps index links relative.
	ExternalURL string
	// UploadExpiry is how long an OCI blob upload session may stay idle before it is removed.
	UploadExpiry time.Duration
	// MaxUploadsPerUser bounds the OCI blob upload sessions one user may have open; 0 means
	// no limit.
	MaxUploadsPerUser int
	// GCInterval runs a garbage collection (with retention) this often; 0 (the default)
	// never does (chartroom gc runs one).
	GCInterval time.Duration
	// GCGrace is the grace period of those collections; 0 means registry.DefaultGCGrace.
	GCGrace time.Duration
	// AuditRetention is how long audit log records are kept; 0 means
	// auth.DefaultAuditRetention (90 days), a negative value forever.
	AuditRetention time.Duration
	// TokenTTL is how long a registry token (/v2/token, /api/oidc/token) is valid; 0 means
	// auth.DefaultTokenTTL (5 minutes).
	TokenTTL time.Duration
	// RenderCommand is the command line of a render child: a program that runs
	// sandbox.Child, such as this executable with sandbox.ChildCommand. Charts from
	// publishers are then rendered (for their images, for the semver discipline) in child
	// processes with RenderMemory, kept for the next renders, a child killed at its render's
	// deadline. nil renders in this
	// process, where a hostile template cannot be stopped (tests).
	RenderCommand []string
	// RenderMemory bounds one render child's memory in bytes; 0 means
	// sandbox.DefaultMemory.
	RenderMemory int64
	// TrustedPublishers are the OIDC issuers and rules of trusted publishing (config file
	// key trusted-publishers).
	TrustedPublishers []auth.TrustedPublisher
	// Proxies are proxy namespaces to configure at start (config file key proxies), as
	// chartroom proxy add would: each is created, or changed to what the file says.
	Proxies []ProxyConfig

	// TLSCert and TLSKey are PEM files of the certificate chain and its private key; when
	// set, the server speaks HTTPS only and loads a renewed pair without a restart. Both or
	// neither.
	TLSCert, TLSKey string
	// WebhookTimeout bounds one webhook delivery attempt.
	WebhookTimeout time.Duration
	// WebhookRetryMin is the wait before a failed delivery's first retry, doubled for each
	// next one up to WebhookRetryMax.
	WebhookRetryMin, WebhookRetryMax time.Duration
	// WebhookMaxAttempts: a delivery fails for good after this many attempts.
	WebhookMaxAttempts int
	// WebhookGiveUpAfter: a delivery fails for good when an attempt fails this long after
	// it was queued.
	WebhookGiveUpAfter time.Duration

	// DisableUI turns the web UI (/ui/, package server/ui) off: its paths then answer 404
	// as any path no endpoint serves (serve --ui=false). The zero value serves it.
	DisableUI bool
	// UISessionTTL is how long a web UI sign-in lasts; 0 means auth.DefaultSessionTTL.
	UISessionTTL time.Duration

	// AdminPassword is the password of the admin user created on first start (from
	// CHARTROOM_ADMIN_PASSWORD, never from a flag or file); "" means generate one and log it.
	AdminPassword string
	// Version is the build's version, reported in logs and metrics.
	Version string
}

// Defaults of Config.
const (
	DefaultListen          = ":8080"
	DefaultDataDir         = "./chartroom-data"
	DefaultShutdownTimeout = 30 * time.Second
	DefaultShutdownDelay   = 5 * time.Second
	DefaultBodyIdleTimeout = 60 * time.Second
)

// DefaultRenderMemory is Config.RenderMemory's default.
const DefaultRenderMemory = sandbox.DefaultMemory

// Defaults of Config's upload session settings.
const (
	DefaultUploadExpiry      = registry.DefaultUploadExpiry
	DefaultMaxUploadsPerUser = registry.DefaultMaxUploadsPerUser
)

// Defaults of Config's webhook settings.
const (
	DefaultWebhookTimeout     = webhook.DefaultTimeout
	DefaultWebhookRetryMin    = webhook.DefaultRetryMin
	DefaultWebhookRetryMax    = webhook.DefaultRetryMax
	DefaultWebhookMaxAttempts = webhook.DefaultMaxAttempts
	DefaultWebhookGiveUpAfter = webhook.DefaultGiveUpAfter
)

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Listen:            DefaultListen,
		DataDir:           DefaultDataDir,
		MaxManifestSize:   registry.DefaultMaxManifestSize,
		MaxChartSize:      registry.DefaultMaxChartSize,
		ShutdownTimeout:   DefaultShutdownTimeout,
		UploadExpiry:      DefaultUploadExpiry,
		MaxUploadsPerUser: DefaultMaxUploadsPerUser,
		ShutdownDelay:     DefaultShutdownDelay,
		BodyIdleTimeout:   DefaultBodyIdleTimeout,
		RenderMemory:      DefaultRenderMemory,

		WebhookTimeout:     DefaultWebhookTimeout,
		WebhookRetryMin:    DefaultWebhookRetryMin,
		WebhookRetryMax:    DefaultWebhookRetryMax,
		WebhookMaxAttempts: DefaultWebhookMaxAttempts,
		WebhookGiveUpAfter: DefaultWebhookGiveUpAfter,
	}
}

// Validate reports the first setting that cannot work, naming it, on one line.
func (c Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("listen: expected an address such as :8080 or 127.0.0.1:8080"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data-dir: expected a directory path"))
	}
	if err := ValidateDatabase(c.Database); err != nil {
		errs = append(errs, fmt.Errorf("database: %w", err))
	}
	if c.Storage != "" {
		if err := ValidateStorage(c.Storage); err != nil {
			errs = append(errs, fmt.Errorf("storage: %w", err))
		}
	} else if c.StorageRedirect {
		errs = append(errs, errors.New("storage-redirect: only S3 storage can redirect reads; set --storage s3://… or leave storage-redirect off"))
	}
	if (c.StorageAccessKeyID == "") != (c.StorageSecretAccessKey == "") {
		errs = append(errs, errors.New("storage-access-key-id and storage-secret-access-key: give both or neither (neither: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the environment)"))
	}
	if c.MaxBlobSize < 0 {
		errs = append(errs, errors.New("max-blob-size: expected a size ≥ 0 (0 means unlimited)"))
	}
	if c.MaxManifestSize <= 0 {
		errs = append(errs, errors.New("max-manifest-size: expected a size > 0"))
	}
	if c.MaxChartSize <= 0 {
		errs = append(errs, errors.New("max-chart-size: expected a size > 0"))
	}
	if c.RenderMemory != 0 && c.RenderMemory < sandbox.MinMemory {
		errs = append(errs, fmt.Errorf("render-memory: expected a size ≥ %s (Go's runtime and the chart must fit)", FormatSize(sandbox.MinMemory)))
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, errors.New("shutdown-timeout: expected a duration ≥ 0"))
	}
	if c.UploadExpiry <= 0 {
		errs = append(errs, errors.New("upload-expiry: expected a duration > 0, such as 24h"))
	}
	if c.MaxUploadsPerUser < 0 {
		errs = append(errs, errors.New("max-uploads-per-user: expected a number ≥ 0 (0 means no limit)"))
	}
	if c.ShutdownDelay < 0 {
		errs = append(errs, errors.New("shutdown-delay: expected a duration ≥ 0"))
	}
	if c.BodyIdleTimeout <= 0 {
		errs = append(errs, errors.New("body-idle-timeout: expected a duration > 0, such as 60s"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errTLSPair)
	}
	if c.WebhookTimeout <= 0 {
		errs = append(errs, errors.New("webhook-timeout: expected a duration > 0, such as 10s"))
	}
	if c.WebhookRetryMin <= 0 {
		errs = append(errs, errors.New("webhook-retry-min: expected a duration > 0, such as 10s"))
	}
	if c.WebhookRetryMax < c.WebhookRetryMin {
		errs = append(errs, fmt.Errorf("webhook-retry-max: expected a duration ≥ webhook-retry-min (%s), such as 1h", c.WebhookRetryMin))
	}
	if c.WebhookMaxAttempts <= 0 {
		errs = append(errs, errors.New("webhook-max-attempts: expected a number > 0, such as 30"))
	}
	if c.WebhookGiveUpAfter <= 0 {
		errs = append(errs, errors.New("webhook-give-up-after: expected a duration > 0, such as 24h"))
	}
	for _, p := range c.ImmutableTags {
		if err := ValidatePattern(p); err != nil {
			errs = append(errs, fmt.Errorf("immutable-tags: %w", err))
		}
	}
	if c.TokenTTL != 0 && (c.TokenTTL < auth.MinTokenTTL || c.TokenTTL > auth.MaxTokenTTL) {
		errs = append(errs, fmt.Errorf("token-ttl: expected a duration from %s to %s, such as 5m", auth.MinTokenTTL, auth.MaxTokenTTL))
	}
	for i, tp := range c.TrustedPublishers {
		if err := auth.ValidateTrustedPublisher(tp); err != nil {
			errs = append(errs, fmt.Errorf("trusted-publishers entry %d (issuer %s): %w", i+1, tp.Issuer, err))
		}
	}
	for i, p := range c.Proxies {
		if err := ValidateProxy(p); err != nil {
			errs = append(errs, fmt.Errorf("proxies entry %d (namespace %s): %w", i+1, p.Namespace, err))
		}
	}
	if c.ExternalURL != "" {
		if err := ValidateExternalURL(c.ExternalURL); err != nil {
			errs = append(errs, fmt.Errorf("external-url: %w", err))
		}
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// ValidatePattern checks a repository pattern of ImmutableTags.
func ValidatePattern(p string) error {
	return registry.ValidateRepositoryPattern(p)
}

// ValidateDatabase checks a Database value.
func ValidateDatabase(s string) error {
	if s == "" || meta.IsPostgresURL(s) {
		return nil
	}
	return fmt.Errorf("%s is not a database URL: expected postgres://USER:PASSWORD@HOST:PORT/DATABASE, or nothing for the SQLite database in the data directory", meta.RedactURL(s))
}

// ValidateStorage checks a Storage value.
func ValidateStorage(s string) error {
	_, err := blobs3.ParseURL(s)
	return err
}

// ValidateExternalURL checks an ExternalURL value.
func ValidateExternalURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL: expected e.g. https://charts.example.com", s)
	}
	return nil
}

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1e3, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1e6, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1e9, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1e12, "tib": 1 << 40,
}

// ParseSize reads a byte size: a number with an optional unit, decimal (kB, MB, GB, TB) or
// binary (KiB, MiB, GiB, TiB; K, M, G, T are binary too), case-insensitive: "4MiB", "10GiB",
// "1.5GB", "1048576".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("%q is not a size: expected bytes with an optional unit, such as 4MiB or 10GiB", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size: expected bytes with an optional unit, such as 4MiB or 10GiB", s)
	}
	v := f * mult
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(math.Round(v)), nil
}

// FormatSize writes n bytes the way ParseSize reads them, in the largest binary unit that
// divides n exactly.
func FormatSize(n int64) string {
	for _, u := range []struct {
		name string
		v    int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.v == 0 {
			return strconv.FormatInt(n/u.v, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}
