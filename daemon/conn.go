package daemon

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/wsd-dev/wsd/daemon/internal/bufpool"
	"github.com/wsd-dev/wsd/daemon/internal/poller"
	"github.com/wsd-dev/wsd/daemon/internal/sender"
	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// conn is one live WebSocket connection. Its identity fields are set before
// it is added to the hub and never change; counters are atomics; the rest is
// guarded by mu. One goroutine at a time (serve) reads it and finally
// finishes it; while the connection is idle it may have none, its socket
// being watched by the daemon's poller instead (internal/poller). A writer
// goroutine exists only while its send queue is not empty (internal/sender).
type conn struct {
	// First, in one cache line: what every frame written or read touches
	// (a broadcast reaches each connection through these).
	d     *Daemon
	ws    *protocol.Conn
	tr    *connTrace                 // nil unless the session is traced (trace.go)
	bb    blackBoxRef                // the last frame headers, allocated at the first frame (blackbox.go)
	armed atomic.Pointer[armedTrace] // tracing on demand (trace_demand.go); nil: none
	route *route
	br    *bufio.Reader // the protocol's reader, over lr
	lr    *lazyReader

	id          ID
	sid         string // id.String(), made once: records, logs and events all need it
	remoteAddr  string
	ip          ipKey // the per-IP slot this connection holds
	user        string
	labels      map[string]string // nil when there are none
	origin      string
	userAgent   string
	connectedAt int64 // unix nanoseconds
	expiresAt   int64 // token expiry, unix nanoseconds; 0 = none

	lastActivity atomic.Int64 // unix nanoseconds of the last message received
	msgsIn       atomic.Uint64
	bytesIn      atomic.Uint64
	rtt          atomic.Int64  // nanoseconds; 0 = not measured yet
	pingSent     atomic.Int64  // unix nanoseconds of the unanswered ping; 0 = none
	lastPing     atomic.Int64  // unix nanoseconds of the last ping sent
	inAtPing     uint64        // lr.in when the last ping was sent; the keepalive scanner's
	hook         chan struct{} // webhook in-flight slots; nil on other routes
	inFlight     atomic.Int32  // webhook requests in flight
	inLimit      inboundBucket // the reading goroutine's (inbound.go)

	// pstate is running while a goroutine owns the connection's reading,
	// parked while the poller holds it instead. preg is the poller's.
	pstate   atomic.Int32
	parkedAt atomic.Int64 // unix nanoseconds of the last park
	preg     poller.Registration

	// snd owns everything about sending: the queue, the writer goroutine
	// (which it counts and waits for), inline writes, the write deadline.
	// It is closed together with closing (under mu).
	snd sender.Sender

	// wg counts the goroutines the connection owns besides serve and the
	// sender's writer: closers and webhook requests. Add is only called
	// with mu held and closing false, or by serve itself, so serve's final
	// Wait is safe.
	wg sync.WaitGroup

	mu      sync.Mutex
	closing bool        // no more messages will be sent
	folded  bool        // counters moved into the metrics' totals; guarded by metrics.foldMu
	cause   *closeCause // why we closed it, if we did; nil: we did not
}

// closeCause is why the daemon closed a connection.
type closeCause struct {
	by     session.ClosedBy
	code   int
	reason string
	err    string
	// dead: the peer was declared unresponsive; its answer to the close
	// frame is not waited for (closeDead).
	dead bool
}

// Field implements session.Fields: a built-in field is present when not
// empty, a label when set.
func (c *conn) Field(key string) (string, bool) {
	var v string
	switch key {
	case session.FieldID:
		v = c.sid
	case session.FieldUser:
		v = c.user
	case session.FieldRoute:
		v = c.route.Path
	case session.FieldRemoteAddr:
		v = c.remoteAddr
	default:
		v, ok := c.labels[key]
		return v, ok
	}
	return v, v != ""
}

// initClose starts closing the connection with the closing handshake, once:
// later calls (and closes the client starts) do not change the recorded
// cause. It never blocks: the handshake runs on a goroutine the connection
// owns, bounded by the close timeout.
func (c *conn) initClose(cause closeCause) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	c.closing = true
	cc := cause // allocated only here: most connections never need it
	c.cause = &cc
	c.discardQueue()
	c.wg.Add(1)
	c.mu.Unlock()
	if c.tr != nil {
		c.tr.closing(trace.SpanContext{})
	}
	if cause.dead {
		go c.closeDead(cause) // resumes the connection itself
		return true
	}
	go func() {
		defer c.wg.Done()
		// From now on the closing handshake bounds every write,
		// including what a writer still has to flush before the close
		// frame.
		if err := c.snd.CloseDeadline(c.d.config().CloseTimeout); err != nil {
			c.d.log.Debug("closing: write deadline", "conn_id", c.sid, "err", err)
		}
		// The outcome shows up on the reading goroutine, which records
		// the session; an unanswered close is not news here.
		if err := c.ws.Close(protocol.StatusCode(cause.code), cause.reason); err != nil {
			c.d.log.Debug("closing handshake incomplete", "conn_id", c.sid, "err", err)
		}
	}()
	c.resume() // a parked connection needs a reader to see the end
	return true
}

// forceClose closes the TCP connection without a handshake, recording cause
// unless another one was recorded first (whose error it then completes).
func (c *conn) forceClose(cause closeCause) {
	c.mu.Lock()
	if !c.closing {
		c.closing = true
		cc := cause
		c.cause = &cc
		c.discardQueue()
	} else if c.cause != nil && c.cause.err == "" {
		c.cause.err = cause.err
	}
	c.mu.Unlock()
	if err := c.ws.CloseNow(); err != nil {
		c.d.log.Debug("force close", "conn_id", c.sid, "err", err)
	}
	c.resume() // a closed socket leaves the poller silently
}

// WriteFailed implements sender.Owner: a write failed, and the protocol
// has already closed the TCP connection. A write that timed out is a slow
// consumer; anything else means the client went away.
func (c *conn) WriteFailed(err error) {
	cause := closeCause{by: session.ClosedByClient, code: int(protocol.StatusAbnormalClosure), err: err.Error()}
	if isTimeout(err) {
		cause = closeCause{by: session.ClosedBySlowConsumer, code: int(protocol.StatusPolicyViolation), reason: "slow consumer", err: "write timed out: " + err.Error()}
	}
	c.forceClose(cause)
}

// serve reads the connection until it ends, then records how it ended,
// or until it goes idle and the poller holds it (park). It runs on a
// goroutine of its own, started when the connection is registered or
// resumed (resumed: by the poller or a close); the connection's count in
// connWG lasts until it ends, across any number of such goroutines.
func (c *conn) serve(resumed bool) {
	if c.read(resumed) {
		c.d.connWG.Done()
	}
}

// read is serve's loop. It reports whether the connection ended (false:
// it was parked, and another goroutine may own it already).
func (c *conn) read(resumed bool) bool {
	var buf []byte
	ctx := context.Background()
	sporadic := true // a new connection is idle until proven busy
	// A resumed connection waited since it was parked; it reads before
	// parking again, or a readable socket would be parked forever.
	waitStart := time.Now()
	if resumed {
		waitStart = time.Unix(0, c.parkedAt.Load())
	}
	for {
		// Is input already buffered? The reader's state may only be
		// looked at under c.mu while the connection is not closing:
		// between our reads, protocol.Conn.Close reads on its own
		// goroutine, and initClose (which sets closing under c.mu) is the
		// only caller of Close.
		c.mu.Lock()
		buffered := !c.closing && (c.br.Buffered() > 0 || c.lr.buffered() > 0)
		idle := sporadic && !buffered && !c.closing
		c.mu.Unlock()
		if !buffered && sporadic {
			// Going idle: drop the message buffer, so that idle
			// connections hold none. The next message then allocates
			// exactly its size, as gorilla's ReadMessage does for every
			// message. Busy connections keep theirs (no allocation per
			// message), unless it is large (see below).
			buf = nil
		}
		if idle && !resumed {
			// Idle connections give their goroutine up (park), or,
			// without a poller, park it shallowly until input arrives
			// (waitReadable). Either costs system calls per wake-up, so
			// busy connections skip it.
			if c.park() {
				return false
			}
			c.lr.waitReadable()
		}
		resumed = false
		typ, msg, err := c.ws.ReadInto(ctx, buf)
		if err != nil {
			c.finish(err)
			return true
		}
		if typ == 0 {
			// Only control frames (a keepalive pong) were read: with
			// YieldAfterControl the protocol returns instead of waiting
			// deep in its read path, so the connection parks again, and
			// a busy one that went quiet since its last message parks
			// now.
			sporadic = sporadic || time.Since(waitStart) > sporadicGap
			continue
		}
		now := time.Now()
		sporadic = now.Sub(waitStart) > sporadicGap
		c.lastActivity.Store(now.UnixNano())
		c.msgsIn.Add(1)
		c.bytesIn.Add(uint64(len(msg)))
		c.tapIn(typ, msg)
		if rc := c.d.config(); !rc.inbound || c.inboundAllowed(rc, now.UnixNano(), len(msg)) {
			c.handle(typ, msg)
		}
		buf = msg[:0]
		if cap(buf) > maxKeptBuffer {
			// A large buffer goes back to the daemon's pool (handlers
			// never keep a message: they copy what they queue).
			bufpool.Large().Put(buf)
			buf = nil
		}
		waitStart = now
	}
}

// Reading states of a connection (conn.pstate).
const (
	running int32 = iota // a goroutine reads it
	parked               // the poller holds it
)

// park hands an idle connection to the poller. When it reports true the
// calling goroutine must leave the connection alone: it may already be
// resumed on another. False means it was not parked: no poller (or not a
// plain socket), input already buffered, or closing.
func (c *conn) park() bool {
	p := c.d.poller
	if p == nil || c.lr.rc == nil {
		return false
	}
	c.mu.Lock()
	if c.closing || c.br.Buffered() > 0 || c.lr.buffered() > 0 {
		c.mu.Unlock()
		return false
	}
	// Set under mu: a close that starts after this sees parked and
	// resumes the connection; one that started before was seen above.
	c.parkedAt.Store(time.Now().UnixNano())
	c.pstate.Store(parked)
	c.mu.Unlock()
	if err := p.Arm(&c.preg, c.lr.rc, c); err != nil {
		c.d.log.Debug("park", "conn_id", c.sid, "err", err)
		// Take it back, unless a close resumed it meanwhile.
		return !c.pstate.CompareAndSwap(parked, running)
	}
	return true
}

// Wake implements poller.Waker: the parked connection's socket is readable.
func (c *conn) Wake() { c.resume() }

// resume starts a goroutine to read a parked connection: its socket is
// readable, or it is closing. It does nothing to a running connection.
func (c *conn) resume() {
	if c.pstate.CompareAndSwap(parked, running) {
		c.d.workers.run(task{c: c})
	}
}

// maxKeptBuffer is the largest message buffer a busy connection keeps
// between messages; larger ones are lent by bufpool.Large (the protocol's
// Options.Buffers) for one message at a time.
const maxKeptBuffer = bufpool.Unpooled

// sporadicGap: a connection whose last message came after waiting longer
// than this parks shallowly before its next read.
const sporadicGap = 20 * time.Millisecond

// handle passes a message to the route's handler, containing a panic to
// this connection: it is logged with its stack, the connection is closed
// with 1011 and the session recorded as closed by the server.
func (c *conn) handle(typ protocol.MessageType, msg []byte) {
	defer func() {
		if v := recover(); v != nil {
			c.d.stats.panics.Add(1)
			c.d.log.Error("handler panic", "conn_id", c.sid, "route", c.route.Path,
				"handler", c.route.Handler, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			// Reading goes on: the peer's answer to the close ends it.
			c.closeInternal(fmt.Sprintf("handler panic: %v", v))
		}
	}()
	c.route.h.message(c, typ, msg)
}

// closeInternal closes the connection with 1011 after an internal error.
func (c *conn) closeInternal(why string) {
	c.initClose(closeCause{by: session.ClosedByServer, code: int(protocol.StatusInternalError), reason: "internal error", err: why})
}

// finish classifies how the connection ended, waits for the goroutines it
// owns, records the session and then releases its place in the hub.
func (c *conn) finish(readErr error) {
	// Make sure the TCP connection is closed whatever happened.
	if err := c.ws.CloseNow(); err != nil {
		c.d.log.Debug("close", "conn_id", c.sid, "err", err)
	}
	c.mu.Lock()
	var cause closeCause
	if c.cause != nil {
		cause = *c.cause
	}
	c.closing = true
	c.discardQueue()
	c.mu.Unlock()
	if cause.by == "" {
		cause = classify(readErr)
	} else if cause.err == "" && readErr != nil && !isCloseError(readErr) && !errors.Is(readErr, net.ErrClosed) {
		cause.err = readErr.Error()
	}
	c.wg.Wait()
	c.snd.Wait()
	c.lr.release()
	c.snd.Release() // what an inline write left on a closed connection
	if c.d.poller != nil {
		c.d.poller.Release(&c.preg)
	}
	c.route.h.closed(c, cause)
	msgsOut, bytesOut := c.snd.Out()
	rec := session.Close{
		ID:          c.sid,
		ClosedAt:    time.Now(),
		CloseCode:   cause.code,
		CloseReason: cause.reason,
		ClosedBy:    cause.by,
		Error:       cause.err,
		MessagesIn:  int64(c.msgsIn.Load()),
		MessagesOut: int64(msgsOut),
		BytesIn:     int64(c.bytesIn.Load()),
		BytesOut:    int64(bytesOut),
	}
	if abnormal(cause) {
		rec.BlackBox = c.bb.p.Load().frames() // a copy
	}
	c.bb.release() // no frame can come any more: see wg.Wait and snd.Wait above
	if cause.by == session.ClosedBySlowConsumer {
		// Counted here, once per session: a queue overflow and the
		// write timeout that may follow it are one slow consumer.
		c.d.stats.slowConsumers.Add(1)
	}
	c.d.rec.RecordClose(rec)
	c.d.stats.closed(cause.by)
	c.d.met.closed(c, cause)
	c.disarm(rec.ClosedAt)
	if c.tr != nil {
		c.tr.closed(c, rec)
	}
	c.d.events.publishClose(c, rec)
	// Last: whoever sees the connection gone from the hub (Daemon.Close)
	// may rely on its session being recorded and counted.
	c.d.unregister(c)
	if c.d.log.Enabled(context.Background(), slog.LevelDebug) { // spares boxing the arguments
		c.d.log.Debug("connection closed", "conn_id", rec.ID, "closed_by", string(cause.by), "code", cause.code, "reason", cause.reason, "error", cause.err)
	}
}

// OnPong implements protocol.Hooks: it records the round trip of our last
// ping (the payload carries its send time). It runs on the reading
// goroutine.
func (c *conn) OnPong(p []byte) {
	if len(p) != 8 {
		return
	}
	sent := int64(binary.BigEndian.Uint64(p))
	if sent == 0 || !c.pingSent.CompareAndSwap(sent, 0) {
		return // unsolicited, or an answer to an older ping
	}
	rtt := time.Now().UnixNano() - sent
	c.rtt.Store(rtt)
	c.d.met.rtt(time.Duration(rtt))
}
