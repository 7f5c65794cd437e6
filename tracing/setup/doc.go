// Package setup builds wsd's OpenTelemetry tracing from the standard OTEL_*
// environment variables: FromEnv reads and checks them into a Config, New
// builds the Provider (the SDK's TracerProvider, a batch span processor and
// an OTLP exporter over gRPC or HTTP), and Provider.Shutdown flushes it.
// It is the only package of wsd that links the SDK and the exporters (and
// with them gRPC); only cmd/wsd imports it. Everything else sees a
// trace.TracerProvider and the names of package tracing.
//
// # Configuration
//
// Tracing is off unless an OTLP endpoint is configured
// (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or
// OTEL_TRACES_EXPORTER=otlp for the default localhost endpoint). Off means
// a no-op TracerProvider, which the daemon recognises (tracing.IsNoop) and
// then never starts a span or installs a frame hook: tracing off costs nil
// checks. OTEL_EXPORTER_OTLP_PROTOCOL picks grpc or http/protobuf (the
// specification's default); OTEL_TRACES_SAMPLER and _ARG, OTEL_SERVICE_NAME
// (default wsd), OTEL_RESOURCE_ATTRIBUTES, the OTLP headers, timeout,
// compression and certificate variables, and OTEL_BSP_* are honoured.
// Unsupported values are errors at start, not silent defaults.
//
// Spans go through a batch processor whose queue is bounded (2048 spans by
// default) and drops when full: a slow or dead collector never blocks a
// connection. Each export, retries included, is bounded by the export
// timeout (5 s by default). Provider.Shutdown flushes within
// Config.ShutdownTimeout (5 s) whatever the collector does, so wsd's stop
// never hangs on it; Stats counts spans ended, exported and lost.
//
// # Concurrency
//
// A Provider is safe for concurrent use. The SDK's batch span processor
// runs one goroutine, started by New and ended by Provider.Shutdown, which
// the owner of the Provider (main) must call.
package setup
