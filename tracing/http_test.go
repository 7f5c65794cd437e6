package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

func TestMiddleware(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	mux := http.NewServeMux()
	var inner trace.SpanContext
	mux.HandleFunc("DELETE /v1/connections/{id}", func(w http.ResponseWriter, r *http.Request) {
		inner = trace.SpanContextFromContext(r.Context())
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush() // server-sent events need the flusher through the wrapper
	})
	mux.HandleFunc("GET /v1/fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {})
	h := Middleware(tp, &HTTPOptions{
		Skip: func(r *http.Request) bool { return r.URL.Path == "/metrics" },
		Annotate: func(r *http.Request) []attribute.KeyValue {
			if id := r.PathValue("id"); id != "" {
				return []attribute.KeyValue{ConnectionID.String(id)}
			}
			return nil
		},
	})(mux)

	req := httptest.NewRequest(http.MethodDelete, "/v1/connections/abc", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	req.Header.Set("User-Agent", "wsctl/1")
	h.ServeHTTP(httptest.NewRecorder(), req)
	fw := httptest.NewRecorder()
	h.ServeHTTP(fw, httptest.NewRequest(http.MethodGet, "/v1/events", nil))
	if !fw.Flushed {
		t.Error("Flush did not reach the response writer")
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/fail", nil))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/metrics", nil))

	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3 (metrics skipped)", len(spans))
	}
	s := spans[0]
	a := attrs(s.Attributes())
	if s.Name() != "DELETE /v1/connections/{id}" || a[SemHTTPRoute].AsString() != "/v1/connections/{id}" ||
		a[SemHTTPResponseStatus].AsInt64() != 202 || a[ConnectionID].AsString() != "abc" ||
		a[SemUserAgentOriginal].AsString() != "wsctl/1" || s.SpanKind() != trace.SpanKindServer {
		t.Errorf("span %s %v", s.Name(), s.Attributes())
	}
	if s.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || inner.SpanID() != s.SpanContext().SpanID() {
		t.Error("traceparent not continued, or the handler does not see the span")
	}
	if f := attrs(spans[2].Attributes()); f[SemErrorType].AsString() != "503" || spans[2].Status().Code.String() != "Error" {
		t.Errorf("5xx span: %v %v", spans[2].Attributes(), spans[2].Status())
	}
}

func TestMiddlewareNoop(t *testing.T) {
	called := false
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called = true
		if trace.SpanContextFromContext(r.Context()).IsValid() {
			t.Error("span with tracing off")
		}
		if _, ok := w.(*statusWriter); ok {
			t.Error("response writer wrapped with tracing off")
		}
	})
	Middleware(noop.NewTracerProvider(), nil)(next).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if !called {
		t.Fatal("handler not called")
	}
}

func attrs(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestExtract(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for name, r := range map[string]*http.Request{
		"header": func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/ws", nil)
			r.Header.Set("traceparent", tp)
			return r
		}(),
		"query": httptest.NewRequest(http.MethodGet, "/ws?room=a&traceparent="+tp, nil),
	} {
		sc := trace.SpanContextFromContext(Extract(context.Background(), r))
		if !sc.IsRemote() || sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || !sc.IsSampled() {
			t.Errorf("%s: %v", name, sc)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/ws?traceparent=garbage", nil)
	if sc := trace.SpanContextFromContext(Extract(context.Background(), r)); sc.IsValid() {
		t.Errorf("garbage accepted: %v", sc)
	}
}
