package server

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chartroom/chartroom/internal/server/auth"
)

// metrics are the Prometheus series chartroom exports at /metrics. They live in their own
// registry (no globals), so two servers in one process (tests) do not collide.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	bytesIn   *prometheus.CounterVec
	bytesOut  *prometheus.CounterVec
	inFlight  prometheus.Gauge
	scrapeLog *slog.Logger
}

// storageSizer is what the storage gauge needs: the registry's StorageBytes.
type storageSizer interface {
	StorageBytes(ctx context.Context) (int64, error)
}

// authStater is what the password-check series need: the auth service's Stats.
type authStater interface {
	Stats() auth.Stats
}

func newMetrics(storage storageSizer, authz authStater, gc gcStater, version string, log *slog.Logger) *metrics {
	labels := []string{"route", "method", "code"}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chartroom_http_requests_total",
			Help: "HTTP requests served, by route, method and status code.",
		}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chartroom_http_request_duration_seconds",
			Help: "Time from request start to the handler's return, by route, method and status code.",
			// From cached manifest reads to multi-gigabyte uploads.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900},
		}, labels),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chartroom_http_request_bytes_total",
			Help: "Request body bytes read, by route, method and status code.",
		}, labels),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chartroom_http_response_bytes_total",
			Help: "Response body bytes written, by route, method and status code.",
		}, labels),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chartroom_http_requests_in_flight",
			Help: "HTTP requests being served now.",
		}),
		scrapeLog: log,
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "chartroom_build_info",
		Help:        "Always 1; the version label says which chartroom runs.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	build.Set(1)
	m.reg.MustRegister(
		m.requests, m.duration, m.bytesIn, m.bytesOut, m.inFlight, build,
		&storageCollector{storage: storage, log: log},
		authCollector{authz},
		&gcCollector{db: gc, log: log},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// observe records one finished request.
func (m *metrics) observe(route, method string, status int, in, out int64, d time.Duration) {
	lv := []string{route, methodLabel(method), strconv.Itoa(status)}
	m.requests.WithLabelValues(lv...).Inc()
	m.duration.WithLabelValues(lv...).Observe(d.Seconds())
	m.bytesIn.WithLabelValues(lv...).Add(float64(in))
	m.bytesOut.WithLabelValues(lv...).Add(float64(out))
}

// methodLabel keeps the method label's values few: unknown methods count as "other".
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(m.scrapeLog.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// storageCollector reports the stored blob bytes, computed on each scrape.
type storageCollector struct {
	storage storageSizer
	log     *slog.Logger
}

var storageDesc = prometheus.NewDesc("chartroom_storage_bytes",
	"Total size of the stored blobs (each blob counted once).", nil, nil)

// storageTimeout bounds the storage query of one scrape.
const storageTimeout = 10 * time.Second

func (c *storageCollector) Describe(ch chan<- *prometheus.Desc) { ch <- storageDesc }

func (c *storageCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	n, err := c.storage.StorageBytes(ctx)
	if err != nil {
		c.log.Warn("metrics: could not compute the storage size", "err", err)
		ch <- prometheus.NewInvalidMetric(storageDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(storageDesc, prometheus.GaugeValue, float64(n))
}

// authCollector reports the auth service's password-check counters.
type authCollector struct{ authz authStater }

var (
	authChecksDesc = prometheus.NewDesc("chartroom_auth_password_checks_total",
		"Password (bcrypt) comparisons run; unknown users are compared with a dummy hash.", nil, nil)
	authFailuresDesc = prometheus.NewDesc("chartroom_auth_password_failures_total",
		"Sign-ins refused for an unknown user or a wrong password.", nil, nil)
	authThrottledDesc = prometheus.NewDesc("chartroom_auth_throttled_total",
		"Sign-ins refused with 429 after too many failures, their password unchecked.", nil, nil)
	authRunningDesc = prometheus.NewDesc("chartroom_auth_password_checks_running",
		"Password comparisons running now (at most GOMAXPROCS).", nil, nil)
)

func (c authCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- authChecksDesc
	ch <- authFailuresDesc
	ch <- authThrottledDesc
	ch <- authRunningDesc
}

func (c authCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.authz.Stats()
	ch <- prometheus.MustNewConstMetric(authChecksDesc, prometheus.CounterValue, float64(st.Checks))
	ch <- prometheus.MustNewConstMetric(authFailuresDesc, prometheus.CounterValue, float64(st.Failures))
	ch <- prometheus.MustNewConstMetric(authThrottledDesc, prometheus.CounterValue, float64(st.Throttled))
	ch <- prometheus.MustNewConstMetric(authRunningDesc, prometheus.GaugeValue, float64(st.Running))
}
