package daemon

import (
	"errors"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
	"github.com/wsd-dev/wsd/tracing"
)

// TestTraceOnDemand: with a sampler that samples nothing and no frames
// asked for, arming one connection traces its frames, and only its; the
// arming ends by itself.
func TestTraceOnDemand(t *testing.T) {
	log := newSpanLog()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())), sdktrace.WithSpanProcessor(log))
	defer tp.Shutdown(t.Context())
	cfg := testConfig()
	cfg.TraceFrames = tracing.FramesNone
	d, url := startDaemonDeps(t, cfg, Deps{TracerProvider: tp, Recorder: newMemRecorder()})

	a := dial(t, url+"/", nil)
	b := dial(t, url+"/", nil)
	waitFor(t, "registrations", func() bool { return d.Count(session.Selector{}) == 2 })
	cs, _, err := d.Connections(session.Selector{}, "", 2)
	if err != nil {
		t.Fatal(err)
	}
	aID := cs[0].ID // in connection order: a was dialed first
	if _, ok := d.ConnectionTrace(aID); ok {
		t.Fatal("armed before arming")
	}
	arm, err := d.TraceConnection(aID, time.Second)
	if err != nil || arm.TraceID == "" || time.Until(arm.Until) > time.Second {
		t.Fatalf("arm: %+v %v", arm, err)
	}
	if got, ok := d.ConnectionTrace(aID); !ok || got.TraceID != arm.TraceID {
		t.Fatalf("armed: %+v %v", got, ok)
	}
	write(t, a, protocol.TextMessage, []byte("traced"))
	readMsg(t, a)
	write(t, b, protocol.TextMessage, []byte("not traced"))
	readMsg(t, b)

	log.wait(t, "the trace on demand", has(tracing.SpanOnDemand, 1))
	waitFor(t, "disarmed", func() bool { _, ok := d.ConnectionTrace(aID); return !ok })
	spans := log.wait(t, "frames", has(tracing.SpanFrames, 1))
	for _, s := range named(spans, tracing.SpanFrames) {
		if s.SpanContext().TraceID().String() != arm.TraceID {
			t.Fatalf("frames span in trace %s, want %s", s.SpanContext().TraceID(), arm.TraceID)
		}
		if n := len(s.Events()); n != 2 {
			t.Fatalf("%d frame events, want the message and its echo", n)
		}
	}
	od := named(spans, tracing.SpanOnDemand)[0]
	if !od.SpanContext().IsSampled() || od.SpanContext().TraceID().String() != arm.TraceID {
		t.Fatalf("on-demand span %v", od.SpanContext())
	}

	if _, err := d.TraceConnection("nope", time.Second); !errors.Is(err, session.ErrInvalidID) && !errors.Is(err, session.ErrConnNotFound) {
		t.Fatalf("arming nothing: %v", err)
	}
	off, err := New(testConfig(), Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Shutdown(t.Context())
	if _, err := off.TraceConnection(aID, time.Second); !errors.Is(err, session.ErrTracingOff) {
		t.Fatalf("tracing off: %v", err)
	}
}
