package daemon

import (
	"context"
	"runtime"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// The data methods below are what the admin API serves (NATS Connz model:
// the work is done here, the HTTP handler only decodes and encodes).

// DeliverRelay delivers a relay message published on another node
// (RelayBus) to the members of room on route here, and returns how many it
// was queued for. It never blocks; an unknown route or room delivers to
// nobody.
func (d *Daemon) DeliverRelay(route, room string, typ session.MessageType, p []byte) int {
	rc := d.config()
	rt, ok := rc.exact[route]
	if !ok {
		for _, p := range rc.prefix {
			if p.Path == route {
				rt, ok = p, true
				break
			}
		}
	}
	if !ok {
		return 0
	}
	r, ok := rt.h.(*relay)
	if !ok {
		return 0
	}
	return r.deliver(nil, room, wireType(typ), p)
}

// sessionType is the session's name for a protocol message type.
func sessionType(t protocol.MessageType) session.MessageType {
	if t == protocol.TextMessage {
		return session.Text
	}
	return session.Binary
}

// wireType is the protocol's message type of t; anything but text is
// sent as binary.
func wireType(t session.MessageType) protocol.MessageType {
	if t == session.Text {
		return protocol.TextMessage
	}
	return protocol.BinaryMessage
}

// Connections returns the live connections matching sel in connection
// order (ids sort by time), after the cursor (an id; "" for the start), at
// most limit (≤ 0: all). next is the cursor of the following page, "" at
// the end.
func (d *Daemon) Connections(sel session.Selector, after string, limit int) (conns []session.Conn, next string, err error) {
	var cursor ID
	if after != "" {
		if cursor, err = ParseID(after); err != nil {
			return nil, "", err
		}
	}
	cs, more := d.hub.selectSorted(&sel, cursor, limit)
	conns = make([]session.Conn, len(cs))
	for i, c := range cs {
		conns[i] = c.info()
	}
	if more && len(conns) > 0 {
		next = conns[len(conns)-1].ID
	}
	return conns, next, nil
}

// Connection returns one live connection.
func (d *Daemon) Connection(id string) (session.Conn, error) {
	c, err := d.lookup(id)
	if err != nil {
		return session.Conn{}, err
	}
	return c.info(), nil
}

func (d *Daemon) lookup(id string) (*conn, error) {
	pid, err := ParseID(id)
	if err != nil {
		return nil, err
	}
	c, ok := d.hub.get(pid)
	if !ok {
		return nil, session.ErrConnNotFound
	}
	return c, nil
}

// Send queues one message for one connection. It never blocks: a message
// that does not fit the connection's send queue closes it as a slow
// consumer and returns session.ErrSlowConsumer.
func (d *Daemon) Send(id string, typ session.MessageType, p []byte) error {
	return d.SendContext(context.Background(), id, typ, p)
}

// SendContext is Send on behalf of a traced request: the send shows in the
// connection's session trace, linked to the span in ctx.
func (d *Daemon) SendContext(ctx context.Context, id string, mt session.MessageType, p []byte) error {
	typ := wireType(mt)
	c, err := d.lookup(id)
	if err != nil {
		return err
	}
	res := c.enqueue(typ, clone(p), time.Now())
	if c.tr != nil {
		c.tr.send(trace.SpanContextFromContext(ctx), typ, len(p), res)
	}
	switch res {
	case sendClosing:
		return session.ErrClosing
	case sendSlow:
		return session.ErrSlowConsumer
	}
	return nil
}

// Broadcast queues one message for every connection matching sel; the empty
// selector matches every connection (the caller decides whether to allow
// that). The message is copied and framed (compressed) once and shared. It
// never blocks.
func (d *Daemon) Broadcast(sel session.Selector, typ session.MessageType, p []byte) session.BroadcastResult {
	return d.BroadcastContext(context.Background(), sel, typ, p)
}

// BroadcastContext is Broadcast on behalf of a traced request: a
// websocket.broadcast span under the span in ctx, linked to the sends it
// caused in the recipients' session traces (the first 64 of them).
func (d *Daemon) BroadcastContext(ctx context.Context, sel session.Selector, mt session.MessageType, p []byte) session.BroadcastResult {
	typ := wireType(mt)
	var res session.BroadcastResult
	bt := d.startBroadcast(ctx, typ, len(p))
	defer func() { bt.end(res) }()
	data := clone(p)
	pm, err := protocol.NewPreparedMessage(typ, data)
	if err != nil {
		return res // not text or binary: nothing can be sent
	}
	now := time.Now()
	send := func(c *conn, res *session.BroadcastResult) sendResult {
		res.Matched++
		r := c.sendPrepared(typ, data, pm, now)
		if r == sendQueued {
			res.Queued++
		} else {
			res.Dropped++
		}
		return r
	}
	workers := min(runtime.GOMAXPROCS(0), hubShards)
	if bt != nil || workers < 2 || d.hub.count.Load() < parallelBroadcastMin {
		d.hub.each(&sel, func(c *conn) bool {
			bt.sent(c, typ, len(p), send(c, &res))
			return true
		})
		return res
	}
	// Most deliveries are written inline by the broadcaster: share them
	// among one goroutine per P, as the writer goroutines they replace
	// would spread over every P.
	parts := make([]struct {
		session.BroadcastResult
		_ [64]byte // no false sharing between workers
	}, workers)
	d.hub.eachParallel(&sel, workers, func(w int, c *conn) { send(c, &parts[w].BroadcastResult) })
	for _, r := range parts {
		res.Matched += r.Matched
		res.Queued += r.Queued
		res.Dropped += r.Dropped
	}
	return res
}

// parallelBroadcastMin is the number of connections from which a broadcast
// is shared among several goroutines.
var parallelBroadcastMin int64 = 1024

// Close closes one connection with code and reason through the closing
// handshake (forced after the close timeout), recorded as closed by the
// admin. It waits until the session is recorded or ctx is done.
func (d *Daemon) Close(ctx context.Context, id string, code int, reason string) error {
	if !closeOK(code, reason) {
		return session.ErrInvalidClose
	}
	c, err := d.lookup(id)
	if err != nil {
		return err
	}
	if c.tr != nil {
		c.tr.closing(trace.SpanContextFromContext(ctx)) // the close span links to the caller
	}
	c.initClose(closeCause{by: session.ClosedByAdmin, code: code, reason: reason})
	return d.waitGone(ctx, c)
}

// CloseSelected closes every connection matching sel (session.ClosedByAdmin). An
// empty selector is refused (session.ErrEmptySelector) unless all is true or sel is
// "all". It returns how many closes it started; it does not wait for them.
func (d *Daemon) CloseSelected(sel session.Selector, all bool, code int, reason string) (int, error) {
	if !closeOK(code, reason) {
		return 0, session.ErrInvalidClose
	}
	if sel.Empty() && !all {
		return 0, session.ErrEmptySelector
	}
	n := 0
	d.hub.each(&sel, func(c *conn) bool {
		if c.initClose(closeCause{by: session.ClosedByAdmin, code: code, reason: reason}) {
			n++
		}
		return true
	})
	return n, nil
}

// Count returns how many connections match sel (for dry runs).
func (d *Daemon) Count(sel session.Selector) int {
	n := 0
	d.hub.each(&sel, func(*conn) bool { n++; return true })
	return n
}

// waitGone waits until c has left the hub (its close is recorded right
// after).
func (d *Daemon) waitGone(ctx context.Context, c *conn) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if cur, ok := d.hub.get(c.id); !ok || cur != c {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Stats returns live counts and totals since start.
func (d *Daemon) Stats() session.Stats {
	s := session.Stats{
		StartedAt:            d.started,
		Draining:             d.draining.Load(),
		Accepted:             d.stats.accepted.Load(),
		SlowConsumers:        d.stats.slowConsumers.Load(),
		Panics:               d.stats.panics.Load(),
		WebhookFailures:      d.stats.webhookFailures.Load(),
		WebhookEventsDropped: d.hooks.dropped.Load(),
		HandshakeFailures:    d.stats.handshake.snapshot(),
		ClosedBy:             map[session.ClosedBy]uint64{},
		ConnectionsByRoute:   map[string]int{},
	}
	for k, v := range d.stats.closedBy.snapshot() {
		s.ClosedBy[session.ClosedBy(k)] = v
	}
	d.hub.each(nil, func(c *conn) bool {
		s.Connections++
		s.ConnectionsByRoute[c.route.Path]++
		qb, _ := c.snd.Queued()
		s.SendQueueBytes += int64(qb)
		return true
	})
	s.Handshaking = max(int(d.admitted.Load())-s.Connections, 0)
	return s
}
