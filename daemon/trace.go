package daemon

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
	"github.com/wsd-dev/wsd/tracing"
)

// Session tracing (the span design is in the tracing package's doc). All
// of it hangs off two nil checks: Daemon.tracer is nil when tracing is off,
// and conn.tr is nil for a session that is not sampled. Frames reach
// connTrace.frame through protocol.Options.OnFrame, which is left nil
// unless --trace-frames asks for them.

// Bounds of what one session or one broadcast puts into a trace.
const (
	segmentFrames     = 100         // frame events per websocket.frames span (the SDK keeps 128)
	segmentAge        = time.Second // a segment older than this is ended by the keepalive scanner
	maxBroadcastLinks = 64          // websocket.send spans (and links) per broadcast
)

// upgradeTrace is the websocket.upgrade span of a handshake in progress.
// Its methods are no-ops on a nil receiver (tracing off or not sampled).
type upgradeTrace struct {
	d    *Daemon
	ctx  context.Context // carries span
	span trace.Span
}

// startUpgrade starts the upgrade span of a request just read: its parent
// is the caller's traceparent (header or query parameter), if any.
func (d *Daemon) startUpgrade(req *http.Request, nc net.Conn, remote string, start time.Time) *upgradeTrace {
	if d.tracer == nil {
		return nil
	}
	ctx := tracing.Extract(context.Background(), req)
	attrs := make([]attribute.KeyValue, 0, 10)
	attrs = append(attrs,
		tracing.SemHTTPRequestMethod.String(req.Method),
		tracing.SemURLPath.String(req.URL.Path), // never the query: it may hold an access token
		tracing.SemURLScheme.String("ws"),
	)
	peer := nc.RemoteAddr().String()
	attrs = append(attrs, tracing.PeerAttributes(peer)...)
	if remote != peer {
		attrs = append(attrs, tracing.SemClientAddress.String(remote))
	}
	if ua := req.UserAgent(); ua != "" {
		attrs = append(attrs, tracing.SemUserAgentOriginal.String(ua))
	}
	if o := req.Header.Get("Origin"); o != "" {
		attrs = append(attrs, tracing.SemHTTPRequestOrigin.StringSlice([]string{o}))
	}
	ctx, span := d.tracer.Start(ctx, tracing.SpanUpgrade, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithTimestamp(start), trace.WithAttributes(attrs...))
	if !span.IsRecording() {
		return nil // not sampled: the session is not traced at all
	}
	return &upgradeTrace{d: d, ctx: ctx, span: span}
}

// session gives c its trace state once its identity is known (before the
// route's connect hook, so that a webhook connect event is traced under
// the upgrade).
func (u *upgradeTrace) session(c *conn, rc *runtimeConfig) *connTrace {
	if u == nil {
		return nil
	}
	id := tracing.ConnectionID.String(c.sid)
	u.span.SetAttributes(id,
		tracing.SemHTTPRoute.String(c.route.Path),
		tracing.Handler.String(c.route.Handler))
	if c.user != "" {
		u.span.SetAttributes(tracing.SemUserID.String(c.user))
	}
	return &connTrace{
		tracer: u.d.tracer,
		parent: u.ctx,
		id:     id,
		frames: rc.TraceFrames,
	}
}

// refused ends the span of a handshake answered with an HTTP error.
func (u *upgradeTrace) refused(rej *rejection) {
	if u == nil {
		return
	}
	u.span.SetAttributes(tracing.SemHTTPResponseStatus.Int(rej.status), tracing.SemErrorType.String(rej.metric))
	u.span.SetStatus(codes.Error, rej.reason)
	u.span.End()
}

// failed ends the span of a handshake that broke off.
func (u *upgradeTrace) failed(metric string, err error) {
	if u == nil {
		return
	}
	u.span.SetAttributes(tracing.SemErrorType.String(metric))
	u.span.SetStatus(codes.Error, err.Error())
	u.span.End()
}

// accepted ends the span of a completed upgrade: it is exported at once,
// so the session shows in Jaeger while it is still open.
func (u *upgradeTrace) accepted(ws *protocol.Conn) {
	if u == nil {
		return
	}
	u.span.SetAttributes(tracing.SemHTTPResponseStatus.Int(http.StatusSwitchingProtocols))
	if p := ws.Subprotocol(); p != "" {
		u.span.SetAttributes(tracing.Subprotocol.String(p))
	}
	if e := ws.Extensions(); e != "" {
		u.span.SetAttributes(tracing.Extensions.String(e))
	}
	u.span.End()
}

// connTrace is the trace state of one sampled session. Its spans are
// children of the upgrade span and carry ws.connection.id.
type connTrace struct {
	tracer trace.Tracer
	parent context.Context // carries the upgrade span
	id     attribute.KeyValue
	frames tracing.FrameMode

	// mu guards the fields below. It is a leaf: frame runs inside the
	// protocol's read and write paths (Options.OnFrame).
	mu         sync.Mutex
	seg        trace.Span // the open websocket.frames span, or nil
	segStart   int64      // its start, unix nanoseconds
	segFrames  int        // events on it
	segIndex   int        // segments started so far
	closeStart time.Time  // the first close frame seen, or the daemon's decision to close
	closeLink  trace.SpanContext
	done       bool // the session's last spans are written
}

// traceID is the session's trace id in hex, for its history row; "" for
// a session that is not traced (t is nil).
func (t *connTrace) traceID() string {
	if t == nil {
		return ""
	}
	sc := trace.SpanContextFromContext(t.parent)
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}

// frame records one frame as an event of the current segment (the
// protocol's OnFrame hook, on the goroutine doing the I/O). It is the
// costly part of --trace-frames=all, so an event carries four attributes
// (FIN, RSV and MASK as one flags string) and the SDK's own timestamp:
// each attribute costs about a microsecond once converted and exported.
func (t *connTrace) frame(ev protocol.FrameEvent) {
	op := uint8(ev.Opcode)
	if !t.frames.Records(op) {
		return
	}
	dir := tracing.DirectionReceive
	if ev.Direction == protocol.Outbound {
		dir = tracing.DirectionTransmit
	}
	n := 4
	if ev.Opcode == protocol.OpClose && ev.CloseCode != 0 {
		n = 6
	}
	attrs := make([]attribute.KeyValue, 0, n)
	attrs = append(attrs,
		dir,
		tracing.Opcode.Int(int(op)),
		tracing.Flags.String(tracing.FrameFlags(ev.Fin, ev.RSV1, ev.RSV2, ev.RSV3, ev.Masked)),
		tracing.PayloadLength.Int64(ev.Length),
	)
	if n == 6 {
		attrs = append(attrs, tracing.CloseCode.Int(int(ev.CloseCode)), tracing.CloseReason.String(ev.CloseReason))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return
	}
	if ev.Opcode == protocol.OpClose && t.closeStart.IsZero() {
		t.closeStart = time.Now()
	}
	if t.seg == nil {
		now := time.Now()
		_, t.seg = t.tracer.Start(t.parent, tracing.SpanFrames, trace.WithTimestamp(now),
			trace.WithAttributes(t.id, tracing.SegmentIndex.Int(t.segIndex)))
		t.segStart, t.segFrames = now.UnixNano(), 0
		t.segIndex++
	}
	t.seg.AddEvent(tracing.EventFrame, trace.WithAttributes(attrs...))
	t.segFrames++
	if t.segFrames >= segmentFrames {
		t.endSegmentLocked(time.Now())
	}
}

func (t *connTrace) endSegmentLocked(now time.Time) {
	if t.seg == nil {
		return
	}
	t.seg.SetAttributes(tracing.SegmentCount.Int(t.segFrames))
	t.seg.End(trace.WithTimestamp(now))
	t.seg = nil
}

// tick ends a segment that has been open for segmentAge, so that its
// frames are exported while the session goes on (the keepalive scanner
// calls it: no timer per connection).
func (t *connTrace) tick(now int64) {
	t.mu.Lock()
	if t.seg != nil && now-t.segStart >= int64(segmentAge) {
		t.endSegmentLocked(time.Unix(0, now))
	}
	t.mu.Unlock()
}

// closing notes that the daemon decided to close the session, and which
// traced request (an admin call) asked for it.
func (t *connTrace) closing(link trace.SpanContext) {
	t.mu.Lock()
	if t.closeStart.IsZero() {
		t.closeStart = time.Now()
	}
	if link.IsValid() && !t.closeLink.IsValid() {
		t.closeLink = link
	}
	t.mu.Unlock()
}

// closed writes the session's last spans: websocket.session, from the
// upgrade to now with the session's totals, and under it websocket.close,
// from the first close frame (or the daemon's decision) to now, with the
// close code, reason and initiator.
func (t *connTrace) closed(c *conn, rec session.Close) {
	t.mu.Lock()
	end := rec.ClosedAt
	t.endSegmentLocked(end)
	t.done = true
	closeStart, link := t.closeStart, t.closeLink
	t.mu.Unlock()
	if closeStart.IsZero() || closeStart.After(end) {
		closeStart = end
	}
	failed := rec.Error != "" || abnormalClose(rec.CloseCode)
	ctx, sess := t.tracer.Start(t.parent, tracing.SpanSession, trace.WithTimestamp(time.Unix(0, c.connectedAt)),
		trace.WithAttributes(t.id,
			tracing.SemHTTPRoute.String(c.route.Path),
			tracing.MessagesIn.Int64(rec.MessagesIn),
			tracing.MessagesOut.Int64(rec.MessagesOut),
			tracing.BytesIn.Int64(rec.BytesIn),
			tracing.BytesOut.Int64(rec.BytesOut),
			tracing.CloseCode.Int(rec.CloseCode),
			tracing.ClosedBy.String(string(rec.ClosedBy)),
		))
	attrs := []attribute.KeyValue{
		t.id,
		tracing.CloseCode.Int(rec.CloseCode),
		tracing.CloseReason.String(rec.CloseReason),
		tracing.ClosedBy.String(string(rec.ClosedBy)),
	}
	if rec.Error != "" {
		attrs = append(attrs, tracing.CloseError.String(rec.Error))
	}
	opts := []trace.SpanStartOption{trace.WithTimestamp(closeStart), trace.WithAttributes(attrs...)}
	if link.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: link}))
	}
	_, cl := t.tracer.Start(ctx, tracing.SpanClose, opts...)
	if failed {
		msg := string(rec.ClosedBy)
		if rec.Error != "" {
			msg = rec.Error
		}
		cl.SetStatus(codes.Error, msg)
		sess.SetStatus(codes.Error, msg)
	}
	cl.End(trace.WithTimestamp(end))
	sess.End(trace.WithTimestamp(end))
}

// abnormalClose reports close codes that mean something went wrong.
func abnormalClose(code int) bool {
	switch protocol.StatusCode(code) {
	case protocol.StatusNormalClosure, protocol.StatusGoingAway:
		return false
	}
	return code < 3000 || code == CodePongTimeout
}

// send records a message queued for the session by the admin API (a send
// or one recipient of a broadcast), linked to the span that caused it, and
// returns its span context for the reverse link.
func (t *connTrace) send(cause trace.SpanContext, typ protocol.MessageType, size int, res sendResult) trace.SpanContext {
	opts := []trace.SpanStartOption{trace.WithAttributes(
		t.id,
		tracing.MessageType.String(messageTypeName(typ)),
		tracing.MessageSize.Int(size),
		tracing.SendResult.String(res.String()),
	)}
	if cause.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: cause}))
	}
	_, span := t.tracer.Start(t.parent, tracing.SpanSend, opts...)
	if res != sendQueued {
		span.SetStatus(codes.Error, "not queued: "+res.String())
	}
	span.End()
	return span.SpanContext()
}

func (r sendResult) String() string {
	switch r {
	case sendQueued:
		return "queued"
	case sendClosing:
		return "closing"
	case sendSlow:
		return "slow_consumer"
	}
	return "unknown"
}

func messageTypeName(typ protocol.MessageType) string {
	if typ == protocol.TextMessage {
		return "text"
	}
	return "binary"
}

// broadcastTrace is the websocket.broadcast span of one broadcast; nil
// when tracing is off or the broadcast is not sampled.
type broadcastTrace struct {
	span    trace.Span
	sc      trace.SpanContext
	links   int
	omitted int
}

func (d *Daemon) startBroadcast(ctx context.Context, typ protocol.MessageType, size int) *broadcastTrace {
	if d.tracer == nil {
		return nil
	}
	_, span := d.tracer.Start(ctx, tracing.SpanBroadcast, trace.WithAttributes(
		tracing.MessageType.String(messageTypeName(typ)),
		tracing.MessageSize.Int(size),
	))
	if !span.IsRecording() {
		return nil
	}
	return &broadcastTrace{span: span, sc: span.SpanContext()}
}

// sent records one recipient: a websocket.send span in the recipient's
// session trace, linked both ways, for the first maxBroadcastLinks traced
// recipients; the rest are only counted.
func (b *broadcastTrace) sent(c *conn, typ protocol.MessageType, size int, res sendResult) {
	if b == nil || c.tr == nil {
		return
	}
	if b.links >= maxBroadcastLinks {
		b.omitted++
		return
	}
	sc := c.tr.send(b.sc, typ, size, res)
	b.span.AddLink(trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{c.tr.id}})
	b.links++
}

func (b *broadcastTrace) end(res session.BroadcastResult) {
	if b == nil {
		return
	}
	b.span.SetAttributes(
		tracing.Matched.Int(res.Matched),
		tracing.Queued.Int(res.Queued),
		tracing.Dropped.Int(res.Dropped),
		tracing.LinksOmitted.Int(b.omitted),
	)
	b.span.End()
}

// webhookSpan starts the client span of a webhook request of a traced
// session and puts its traceparent on the request, so that the
// application continues the session's trace.
func (t *connTrace) webhookSpan(req *http.Request, event string) trace.Span {
	if t == nil {
		return nil
	}
	u := *req.URL
	u.User = nil // never credentials in a span
	u.RawQuery = ""
	ctx, span := t.tracer.Start(t.parent, tracing.SpanWebhook+" "+event, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(t.id,
			tracing.WebhookEvent.String(event),
			tracing.SemHTTPRequestMethod.String(req.Method),
			tracing.SemURLFull.String(u.String()),
			tracing.SemServerAddress.String(req.URL.Hostname()),
		))
	tracing.Inject(ctx, req.Header)
	return span
}

// endWebhookSpan ends a webhook span with the request's outcome (reason is
// the metrics' error reason, "" when it succeeded).
func endWebhookSpan(span trace.Span, resp *http.Response, err error, reason string) {
	if span == nil {
		return
	}
	if resp != nil {
		span.SetAttributes(tracing.SemHTTPResponseStatus.Int(resp.StatusCode))
	}
	if reason != "" {
		span.SetAttributes(tracing.SemErrorType.String(reason))
		msg := reason
		if err != nil {
			msg = err.Error()
			var ue *url.Error
			if errors.As(err, &ue) {
				msg = ue.Err.Error() // without the URL, which may hold credentials
			}
		}
		span.SetStatus(codes.Error, msg)
	}
	span.End()
}

// frameTrace returns the trace that records c's frames: nil unless the
// session is traced and --trace-frames records frames.
func (c *conn) frameTrace() *connTrace {
	if c.tr == nil || c.tr.frames == tracing.FramesNone {
		return nil
	}
	return c.tr
}
