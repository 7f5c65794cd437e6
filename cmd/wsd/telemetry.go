package main

import (
	"context"
	"log/slog"
	"net/http"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wsd-dev/wsd/store"
	"github.com/wsd-dev/wsd/tracing/setup"
)

// telemetry is what main builds for observing wsd: the tracer provider
// (from OTEL_*, a no-op one when none is configured) and the Prometheus
// registry that /metrics on the admin listener serves. Both are passed to
// the daemon, the store and the admin API; neither is global.
type telemetry struct {
	tracing *setup.Provider
	reg     *prometheus.Registry

	storeCommit prometheus.Histogram
	storeWait   prometheus.Histogram
}

func newTelemetry(ctx context.Context, cfg setup.Config, log *slog.Logger) (*telemetry, error) {
	cfg.ServiceVersion = buildVersion()
	tp, err := setup.New(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if tp.Enabled() {
		log.Info("tracing on", "endpoint", cfg.Endpoint, "protocol", cfg.Protocol, "sampler", cfg.Sampler,
			"sampler_arg", cfg.SamplerArg, "service", cfg.ServiceName)
	}
	t := &telemetry{tracing: tp, reg: prometheus.NewRegistry()}
	t.storeCommit = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "wsd_store_commit_duration_seconds",
		Help:    "Duration of the session store's write transactions (BEGIN to COMMIT).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12), // 0.1 ms to 2.4 s
	})
	t.storeWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "wsd_store_write_latency_seconds",
		Help:    "Age of the oldest record of each committed batch: the worst time from a session event to its row being durable.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 11), // 1 ms to 9.5 s
	})
	stats := tp.Stats
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "wsd_build_info",
			Help:        "Always 1; the labels give wsd's version and the Go version that built it.",
			ConstLabels: prometheus.Labels{"version": buildVersion(), "goversion": runtime.Version()},
		}, func() float64 { return 1 }),
		t.storeCommit, t.storeWait,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "wsd_trace_spans_ended_total",
			Help: "Sampled spans handed to the trace exporter's queue.",
		}, func() float64 { return float64(stats().Ended) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "wsd_trace_spans_exported_total",
			Help: "Spans the OTLP collector accepted.",
		}, func() float64 { return float64(stats().Exported) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "wsd_trace_spans_failed_total",
			Help: "Spans lost in exports the collector refused or did not answer (ended - exported - failed are queued or were dropped from a full queue).",
		}, func() float64 { return float64(stats().ExportFailed) }),
	} {
		if err := t.reg.Register(c); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// onCommit is the store's OnCommit hook.
func (t *telemetry) onCommit(ci store.CommitInfo) {
	t.storeCommit.Observe(ci.Duration.Seconds())
	t.storeWait.Observe(ci.MaxWait.Seconds())
}

// registerStore adds the store's state, read from Health when scraped.
func (t *telemetry) registerStore(st *store.Store) error {
	desc := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return t.reg.Register(&storeCollector{
		st:       st,
		queue:    desc("wsd_store_queue_depth", "Session records waiting for the store's writer."),
		dropped:  desc("wsd_store_dropped_records_total", "Session records never written (queue full, store closed, rejected)."),
		written:  desc("wsd_store_written_records_total", "Session records committed."),
		degraded: desc("wsd_store_degraded", "1 while the store's writes fail (history reads answer 503), else 0."),
		wal:      desc("wsd_store_wal_bytes", "Size of the SQLite write-ahead log."),
	})
}

// adminHandler serves the admin listener: /metrics from the registry,
// everything else through admin (whose router traces the API's requests).
func (t *telemetry) adminHandler(admin http.Handler, guard func(http.Handler) http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", guard(promhttp.InstrumentMetricHandler(t.reg,
		promhttp.HandlerFor(t.reg, promhttp.HandlerOpts{Registry: t.reg, MaxRequestsInFlight: 4}))))
	mux.Handle("/", admin)
	return mux
}

// storeCollector exposes store.Health.
type storeCollector struct {
	st                                     *store.Store
	queue, dropped, written, degraded, wal *prometheus.Desc
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.queue, c.dropped, c.written, c.degraded, c.wal} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.st.Health()
	ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, float64(h.Queued))
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(h.Dropped))
	ch <- prometheus.MustNewConstMetric(c.written, prometheus.CounterValue, float64(h.Written))
	degraded := 0.0
	if h.Degraded {
		degraded = 1
	}
	ch <- prometheus.MustNewConstMetric(c.degraded, prometheus.GaugeValue, degraded)
	if h.WALBytes >= 0 {
		ch <- prometheus.MustNewConstMetric(c.wal, prometheus.GaugeValue, float64(h.WALBytes))
	}
}
