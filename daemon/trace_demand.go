package daemon

import (
	"context"
	"crypto/rand"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/wsd-dev/wsd/session"
	"github.com/wsd-dev/wsd/tracing"
)

// Tracing on demand (`wsctl trace ID --for 5m`): every frame of one
// connection goes into a trace for a while, whatever the sampler and
// --trace-frames say, and then the arming ends by itself (the keepalive
// scanner disarms it, or the connection's end).

// maxTraceFor bounds how long a connection's frames may be traced on
// demand at once.
const maxTraceFor = time.Hour

// armedTrace is a connection's tracing on demand.
type armedTrace struct {
	tr    *connTrace   // frames: all
	span  trace.Span   // tracing.SpanOnDemand: from the arming to its end; its frame segments are its children
	until atomic.Int64 // unix nanoseconds
	ended atomic.Bool
}

// end ends the armed trace's last segment and its span, once.
func (a *armedTrace) end(now time.Time) {
	if !a.ended.CompareAndSwap(false, true) {
		return
	}
	a.tr.mu.Lock()
	a.tr.endSegmentLocked(now)
	a.tr.done = true
	a.tr.mu.Unlock()
	a.span.End(trace.WithTimestamp(now))
}

// TraceConnection traces every frame of connection id for the next span
// of time (at most an hour), whatever the sampler and --trace-frames say:
// the frames go under a websocket.trace_on_demand span, a child of the
// session's trace when it is traced, else the root of a new trace that is
// marked sampled (so that a parent-based sampler keeps it). Arming again
// extends or shortens the window. It fails with session.ErrTracingOff
// when tracing is not set up.
func (d *Daemon) TraceConnection(id string, span time.Duration) (session.TraceArm, error) {
	if d.tracer == nil {
		return session.TraceArm{}, session.ErrTracingOff
	}
	c, err := d.lookup(id)
	if err != nil {
		return session.TraceArm{}, err
	}
	span = min(max(span, time.Second), maxTraceFor)
	now := d.now()
	until := now.Add(span)
	if a := c.armed.Load(); a != nil && !a.ended.Load() {
		a.until.Store(until.UnixNano())
		return session.TraceArm{TraceID: a.tr.traceID(), Until: until}, nil
	}
	parent := context.Background()
	if c.tr != nil {
		parent = c.tr.parent
	} else {
		parent = trace.ContextWithRemoteSpanContext(parent, sampledRoot())
	}
	id0 := tracing.ConnectionID.String(c.sid)
	ctx, sp := d.tracer.Start(parent, tracing.SpanOnDemand, trace.WithTimestamp(now),
		trace.WithAttributes(id0, tracing.SemHTTPRoute.String(c.route.Path)))
	a := &armedTrace{
		tr:   &connTrace{tracer: d.tracer, parent: ctx, id: id0, frames: tracing.FramesAll},
		span: sp,
	}
	a.until.Store(until.UnixNano())
	if old := c.armed.Swap(a); old != nil {
		old.end(now)
	}
	c.mu.Lock()
	closing := c.closing
	c.mu.Unlock()
	if closing {
		// finish may have run its disarm before the Swap: end it here.
		if c.armed.CompareAndSwap(a, nil) {
			a.end(now)
		}
		return session.TraceArm{}, session.ErrClosing
	}
	return session.TraceArm{TraceID: a.tr.traceID(), Until: until}, nil
}

// ConnectionTrace reports connection id's tracing on demand, if armed.
func (d *Daemon) ConnectionTrace(id string) (session.TraceArm, bool) {
	c, err := d.lookup(id)
	if err != nil {
		return session.TraceArm{}, false
	}
	a := c.armed.Load()
	if a == nil || a.ended.Load() {
		return session.TraceArm{}, false
	}
	return session.TraceArm{TraceID: a.tr.traceID(), Until: time.Unix(0, a.until.Load())}, true
}

// sampledRoot is a made-up remote parent, marked sampled, for the trace
// of a connection traced on demand whose session is not traced.
func sampledRoot() trace.SpanContext {
	var tid trace.TraceID
	var sid trace.SpanID
	rand.Read(tid[:]) // never fails (crypto/rand)
	rand.Read(sid[:])
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
}

// armedFrameTrace returns the trace on demand that takes c's frames now,
// or nil.
func (c *conn) armedFrameTrace(now int64) *connTrace {
	a := c.armed.Load()
	if a == nil || now >= a.until.Load() {
		return nil
	}
	return a.tr
}

// tickArmed ends a segment of a trace on demand that has been open too
// long, and disarms one whose time is up (the keepalive scanner).
func (c *conn) tickArmed(now int64) {
	a := c.armed.Load()
	if a == nil {
		return
	}
	if until := a.until.Load(); now >= until {
		if c.armed.CompareAndSwap(a, nil) {
			a.end(time.Unix(0, until))
		}
		return
	}
	a.tr.tick(now)
}

// disarm ends c's trace on demand (its end).
func (c *conn) disarm(now time.Time) {
	if a := c.armed.Swap(nil); a != nil {
		a.end(now)
	}
}
