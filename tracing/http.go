package tracing

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of wsd's spans.
const ScopeName = "github.com/wsd-dev/wsd"

// propagator is W3C Trace Context, the only propagation wsd speaks. It is
// stateless: sharing one value is not shared mutable state.
var propagator = propagation.TraceContext{}

// TraceparentParam is the query parameter that may carry a W3C traceparent
// on a WebSocket upgrade, for browsers, which cannot set headers on one.
const TraceparentParam = "traceparent"

// Extract returns ctx with the remote span context of r: its traceparent
// (and tracestate) header, else its traceparent query parameter. An
// invalid value is ignored (the span starts a new trace).
func Extract(ctx context.Context, r *http.Request) context.Context {
	if r.Header.Get("Traceparent") != "" {
		return propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	if r.URL == nil || r.URL.RawQuery == "" {
		return ctx
	}
	q := r.URL.Query()
	tp := q.Get(TraceparentParam)
	if tp == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier{"traceparent": tp, "tracestate": q.Get("tracestate")})
}

// Inject writes the span context of ctx into h (traceparent, tracestate),
// so that the receiver of a request continues the trace.
func Inject(ctx context.Context, h http.Header) {
	propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// IsNoop reports whether tp records nothing, so that callers can skip
// building spans at all.
func IsNoop(tp trace.TracerProvider) bool {
	if tp == nil {
		return true
	}
	_, ok := tp.(noop.TracerProvider)
	return ok
}

// HTTPOptions tune Middleware. Nil fields take their defaults.
type HTTPOptions struct {
	// Route returns the matched route pattern after the handler ran
	// (http.route, and the span name "METHOD route"). Default: the
	// pattern net/http's ServeMux recorded in r.Pattern. A chi router
	// passes func(r) string { return chi.RouteContext(r.Context()).RoutePattern() }.
	Route func(r *http.Request) string
	// Skip returns true for requests not worth a span (health checks,
	// metric scrapes).
	Skip func(r *http.Request) bool
	// Annotate returns attributes added after the handler ran, for
	// example ws.connection.id for calls about one connection, so that a
	// tag search for a connection also finds the admin calls on it.
	Annotate func(r *http.Request) []attribute.KeyValue
}

// Middleware traces each request as a server span named after its method
// and route, continuing a traceparent the caller sent, with the semantic
// conventions' HTTP attributes. Handlers find the span in the request's
// context (daemon calls made with it link their spans to it). With a no-op
// provider it returns next unchanged.
func Middleware(tp trace.TracerProvider, o *HTTPOptions) func(http.Handler) http.Handler {
	if IsNoop(tp) {
		return func(next http.Handler) http.Handler { return next }
	}
	if o == nil {
		o = &HTTPOptions{}
	}
	tracer := tp.Tracer(ScopeName)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if o.Skip != nil && o.Skip(r) {
				next.ServeHTTP(w, r)
				return
			}
			ctx := propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
			scheme := "http"
			if r.TLS != nil {
				scheme = "https"
			}
			attrs := []attribute.KeyValue{
				SemHTTPRequestMethod.String(r.Method),
				SemURLPath.String(r.URL.Path),
				SemURLScheme.String(scheme),
			}
			attrs = append(attrs, PeerAttributes(r.RemoteAddr)...)
			if ua := r.UserAgent(); ua != "" {
				attrs = append(attrs, SemUserAgentOriginal.String(ua))
			}
			ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
			defer span.End()
			sw := &statusWriter{ResponseWriter: w}
			r = r.WithContext(ctx)
			next.ServeHTTP(sw, r)

			route := patternPath(r.Pattern)
			if o.Route != nil {
				route = o.Route(r)
			}
			if route != "" {
				span.SetName(r.Method + " " + route)
				span.SetAttributes(SemHTTPRoute.String(route))
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			span.SetAttributes(SemHTTPResponseStatus.Int(status))
			if status >= 500 {
				span.SetAttributes(SemErrorType.String(strconv.Itoa(status)))
				span.SetStatus(codes.Error, http.StatusText(status))
			}
			if o.Annotate != nil {
				span.SetAttributes(o.Annotate(r)...)
			}
		})
	}
}

// patternPath returns the path of a ServeMux pattern ("[METHOD ][HOST]/PATH").
func patternPath(p string) string {
	if _, rest, ok := strings.Cut(p, " "); ok {
		p = strings.TrimSpace(rest)
	}
	if i := strings.IndexByte(p, '/'); i > 0 {
		p = p[i:]
	}
	return p
}

// PeerAttributes returns network.peer.address and network.peer.port of a
// host:port address.
func PeerAttributes(addr string) []attribute.KeyValue {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return []attribute.KeyValue{SemNetworkPeerAddress.String(addr)}
	}
	out := []attribute.KeyValue{SemNetworkPeerAddress.String(host)}
	if p, err := strconv.Atoi(port); err == nil {
		out = append(out, SemNetworkPeerPort.Int(p))
	}
	return out
}

// statusWriter records the status a handler writes. It keeps the writer's
// optional interfaces reachable: Flush for server-sent events, Unwrap for
// http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if err := http.NewResponseController(w.ResponseWriter).Flush(); err != nil {
		return // the next Write reports the broken connection
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
