package setup

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/credentials"

	"github.com/wsd-dev/wsd/tracing"
)

// Provider is the tracing set-up built by New: a TracerProvider to hand to
// the daemon and the admin API, and the Shutdown that flushes it.
type Provider struct {
	tp      trace.TracerProvider
	sdk     *sdktrace.TracerProvider // nil when tracing is off
	cfg     Config
	counter *counter
}

// New builds the provider described by cfg. With tracing off it returns a
// no-op provider: spans cost a nil check in the daemon (which does not even
// start them) and nothing is exported. New does not connect to the
// collector: exports connect lazily and a collector that is down costs
// dropped spans, never a blocked connection or a slow start.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Provider, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if !cfg.Enabled {
		return &Provider{tp: noop.NewTracerProvider(), cfg: cfg}, nil
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	exp, err := newExporter(ctx, cfg)
	if err != nil {
		return nil, err
	}
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithAttributes(cfg.Resource...),
		resource.WithAttributes(semconv.ServiceName(cfg.ServiceName)),
		resource.WithAttributes(serviceVersion(cfg.ServiceVersion)...),
	)
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	cnt := &counter{log: log}
	bsp := sdktrace.NewBatchSpanProcessor(&countingExporter{SpanExporter: exp, c: cnt},
		sdktrace.WithMaxQueueSize(cfg.MaxQueueSize),
		sdktrace.WithMaxExportBatchSize(cfg.MaxExportBatchSize),
		sdktrace.WithBatchTimeout(cfg.ScheduleDelay),
		sdktrace.WithExportTimeout(cfg.Timeout),
	)
	limits := sdktrace.NewSpanLimits()
	limits.EventCountLimit = 128
	limits.LinkCountLimit = 128
	limits.AttributeCountLimit = 128
	limits.AttributeValueLengthLimit = 4096
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sampler(cfg)),
		sdktrace.WithResource(res),
		sdktrace.WithRawSpanLimits(limits),
		sdktrace.WithSpanProcessor(&countingProcessor{SpanProcessor: bsp, c: cnt}),
	)
	return &Provider{tp: tp, sdk: tp, cfg: cfg, counter: cnt}, nil
}

func serviceVersion(v string) []attribute.KeyValue {
	if v == "" {
		return nil
	}
	return []attribute.KeyValue{semconv.ServiceVersion(v)}
}

// TracerProvider returns the provider to pass to the daemon and the admin
// API (a no-op one when tracing is off).
func (p *Provider) TracerProvider() trace.TracerProvider { return p.tp }

// Enabled reports whether spans are exported.
func (p *Provider) Enabled() bool { return p.sdk != nil }

// Config returns the configuration in force.
func (p *Provider) Config() Config { return p.cfg }

// Shutdown exports the spans still queued and stops the exporter. It
// returns within Config.ShutdownTimeout (or ctx's deadline, if sooner)
// even when the collector does not answer: the spans not exported by then
// are lost, and the error says so.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p.sdk == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.ShutdownTimeout)
	defer cancel()
	// The batch processor stops waiting for its last export when ctx is
	// done (TestShutdownCollectorDown holds it to that).
	if err := p.sdk.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}

// Stats counts spans through the export pipeline since New.
type Stats struct {
	Ended        uint64 // sampled spans ended (handed to the batch processor)
	Exported     uint64 // spans the collector accepted
	ExportFailed uint64 // spans in batches the collector refused or did not answer
	// Ended - Exported - ExportFailed spans are queued, or were dropped
	// because the queue was full.
}

// Stats returns the span counts (zero when tracing is off).
func (p *Provider) Stats() Stats {
	if p.counter == nil {
		return Stats{}
	}
	return Stats{
		Ended:        p.counter.ended.Load(),
		Exported:     p.counter.exported.Load(),
		ExportFailed: p.counter.failed.Load(),
	}
}

// sampler is the configured sampler, except that what wsd traces on
// demand is always sampled (onDemandSampler).
func sampler(cfg Config) sdktrace.Sampler {
	return onDemandSampler{configuredSampler(cfg)}
}

// onDemandSampler samples a span that starts a trace on demand
// (tracing.SpanOnDemand) and every span under it (its parent's trace state has
// tracing.TraceStateOnDemand), whatever the configured sampler would say:
// `wsctl trace ID` promises every frame of that connection (PRODUCT.md
// §10), also under always_off or a ratio. Other spans are the configured
// sampler's.
type onDemandSampler struct{ sdktrace.Sampler }

func (s onDemandSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	ts := trace.SpanContextFromContext(p.ParentContext).TraceState()
	if ts.Get(tracing.TraceStateOnDemand) == "" && p.Name != tracing.SpanOnDemand {
		return s.Sampler.ShouldSample(p)
	}
	if marked, err := ts.Insert(tracing.TraceStateOnDemand, "1"); err == nil {
		ts = marked
	}
	return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample, Tracestate: ts}
}

func (s onDemandSampler) Description() string {
	return "OnDemand{" + s.Sampler.Description() + "}"
}

func configuredSampler(cfg Config) sdktrace.Sampler {
	switch cfg.Sampler {
	case SamplerAlwaysOn:
		return sdktrace.AlwaysSample()
	case SamplerAlwaysOff:
		return sdktrace.NeverSample()
	case SamplerTraceIDRatio:
		return sdktrace.TraceIDRatioBased(cfg.SamplerArg)
	case SamplerParentBasedAlwaysOff:
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case SamplerParentBasedTraceIDRatio:
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SamplerArg))
	}
	return sdktrace.ParentBased(sdktrace.AlwaysSample())
}

func newExporter(ctx context.Context, cfg Config) (sdktrace.SpanExporter, error) {
	tlsCfg, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	// Retries stop at the export timeout: a collector that is down costs
	// the spans of one batch per timeout, not a growing backlog.
	initial, maxInterval, elapsed := 100*time.Millisecond, time.Second, cfg.Timeout
	switch cfg.Protocol {
	case ProtocolGRPC:
		opts := []otlptracegrpc.Option{
			otlptracegrpc.WithEndpointURL(cfg.Endpoint),
			otlptracegrpc.WithTimeout(cfg.Timeout),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: true, InitialInterval: initial, MaxInterval: maxInterval, MaxElapsedTime: elapsed}),
		}
		if cfg.Headers != nil {
			opts = append(opts, otlptracegrpc.WithHeaders(cfg.Headers))
		}
		if cfg.Compression == "gzip" {
			opts = append(opts, otlptracegrpc.WithCompressor("gzip"))
		}
		if tlsCfg != nil {
			opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(tlsCfg)))
		}
		exp, err := otlptracegrpc.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("tracing: otlp grpc exporter: %w", err)
		}
		return exp, nil
	default:
		opts := []otlptracehttp.Option{
			otlptracehttp.WithEndpointURL(cfg.Endpoint),
			otlptracehttp.WithTimeout(cfg.Timeout),
			otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: initial, MaxInterval: maxInterval, MaxElapsedTime: elapsed}),
		}
		if cfg.Headers != nil {
			opts = append(opts, otlptracehttp.WithHeaders(cfg.Headers))
		}
		if cfg.Compression == "gzip" {
			opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
		} else {
			opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.NoCompression))
		}
		if tlsCfg != nil {
			opts = append(opts, otlptracehttp.WithTLSClientConfig(tlsCfg))
		}
		exp, err := otlptracehttp.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("tracing: otlp http exporter: %w", err)
		}
		return exp, nil
	}
}

// tlsConfig returns the TLS settings the files ask for, or nil.
func tlsConfig(cfg Config) (*tls.Config, error) {
	if cfg.CertificateFile == "" && cfg.ClientCertificateFile == "" {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CertificateFile != "" {
		pem, err := os.ReadFile(cfg.CertificateFile)
		if err != nil {
			return nil, fmt.Errorf("tracing: OTEL_EXPORTER_OTLP_CERTIFICATE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tracing: OTEL_EXPORTER_OTLP_CERTIFICATE %s: no PEM certificate", cfg.CertificateFile)
		}
		t.RootCAs = pool
	}
	if cfg.ClientCertificateFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.ClientCertificateFile, cfg.ClientKeyFile)
		if err != nil {
			return nil, fmt.Errorf("tracing: OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

// counter counts spans through the pipeline and logs export failures, at
// most one line per 10 seconds (a dead collector must not flood the log).
type counter struct {
	log      *slog.Logger
	ended    atomic.Uint64
	exported atomic.Uint64
	failed   atomic.Uint64
	lastLog  atomic.Int64
}

const failureLogEvery = 10 * time.Second

// countingProcessor counts the sampled spans handed to the batch processor.
type countingProcessor struct {
	sdktrace.SpanProcessor
	c *counter
}

func (p *countingProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if s.SpanContext().IsSampled() {
		p.c.ended.Add(1)
	}
	p.SpanProcessor.OnEnd(s)
}

// countingExporter counts exported and failed spans. It logs a failure
// itself and returns nil, so that the SDK does not also report it to
// OpenTelemetry's global error handler (stderr).
type countingExporter struct {
	sdktrace.SpanExporter
	c *counter
}

func (e *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err == nil {
		e.c.exported.Add(uint64(len(spans)))
		return nil
	}
	total := e.c.failed.Add(uint64(len(spans)))
	now := time.Now().UnixNano()
	last := e.c.lastLog.Load()
	if now-last >= int64(failureLogEvery) && e.c.lastLog.CompareAndSwap(last, now) {
		e.c.log.Warn("trace export failed; spans dropped", "spans", len(spans), "failed_total", total, "err", err)
	}
	return nil
}

func (e *countingExporter) Shutdown(ctx context.Context) error {
	if err := e.SpanExporter.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
