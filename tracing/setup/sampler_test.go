package setup

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/wsd-dev/wsd/tracing"
)

// TestOnDemandSampled: under every configured sampler, a trace on demand
// (its span and the spans under it) is sampled, and other spans are the
// configured sampler's.
func TestOnDemandSampled(t *testing.T) {
	for _, tc := range []struct {
		sampler  string
		arg      float64
		othersOn bool // whether an ordinary root span is sampled
	}{
		{SamplerAlwaysOff, 0, false},
		{SamplerParentBasedAlwaysOff, 0, false},
		{SamplerTraceIDRatio, 0, false},
		{SamplerParentBasedTraceIDRatio, 0, false},
		{SamplerAlwaysOn, 0, true},
		{SamplerParentBasedAlwaysOn, 0, true},
	} {
		t.Run(tc.sampler, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler(Config{Sampler: tc.sampler, SamplerArg: tc.arg})), sdktrace.WithSpanProcessor(rec))
			tr := tp.Tracer("test")

			// A session that is not sampled, then tracing on demand under
			// it, and a frame span under that.
			sctx, session := tr.Start(context.Background(), tracing.SpanUpgrade)
			dctx, demand := tr.Start(sctx, tracing.SpanOnDemand)
			_, frames := tr.Start(dctx, tracing.SpanFrames)
			// Unrelated spans afterwards: a root and a child of the session.
			_, other := tr.Start(context.Background(), tracing.SpanBroadcast)
			_, child := tr.Start(sctx, tracing.SpanClose)
			for _, s := range []trace.Span{child, other, frames, demand, session} {
				s.End()
			}

			for name, s := range map[string]trace.Span{"on demand": demand, "its frames": frames} {
				if !s.SpanContext().IsSampled() {
					t.Errorf("%s: not sampled", name)
				}
				if s.SpanContext().TraceState().Get(tracing.TraceStateOnDemand) == "" {
					t.Errorf("%s: trace state %q lacks %s", name, s.SpanContext().TraceState(), tracing.TraceStateOnDemand)
				}
			}
			if frames.SpanContext().TraceID() != session.SpanContext().TraceID() {
				t.Error("the frames left the session's trace")
			}
			for name, s := range map[string]trace.Span{"session": session, "other root": other, "session's child": child} {
				if s.SpanContext().IsSampled() != tc.othersOn {
					t.Errorf("%s: sampled %v, want the configured sampler's %v", name, s.SpanContext().IsSampled(), tc.othersOn)
				}
				if s.SpanContext().TraceState().Get(tracing.TraceStateOnDemand) != "" {
					t.Errorf("%s: marked on demand", name)
				}
			}
			if got := len(rec.Ended()); got < 2 {
				t.Errorf("%d spans exported, want the on-demand ones at least", got)
			}
		})
	}
}
