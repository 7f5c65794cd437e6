package daemon

import (
	"net/http"
	"sync"

	"github.com/wsd-dev/wsd/protocol"
)

// handler is what a route does with its connections. Every method runs on
// the connection's reading goroutine (connect: before the upgrade), so a
// handler sees one connection's events in order and must not block for
// long: sends to other connections go through their queues.
type handler interface {
	// connect may refuse the handshake (before the upgrade).
	connect(c *conn, req *http.Request) *rejection
	// opened runs once the connection is registered.
	opened(c *conn)
	// message handles one message; p is valid only during the call.
	message(c *conn, typ protocol.MessageType, p []byte)
	// closed runs after the connection ended, before it is recorded.
	closed(c *conn, cause closeCause)
}

// route is a compiled Route. Reloads keep the same *route for an
// unchanged Route, so relay rooms span connections from before and after.
type route struct {
	Route
	h handler
}

func newHandler(d *Daemon, r Route) handler {
	switch r.Handler {
	case HandlerEcho:
		return echoHandler{}
	case HandlerSink:
		return sinkHandler{}
	case HandlerRelay:
		return newRelay(d, r.Path, r.Arg)
	case HandlerWebhook:
		return newWebhook(d, r)
	case handlerPanic:
		return panicHandler{}
	}
	panic("daemon: unvalidated handler " + r.Handler)
}

// baseHandler provides no-op methods.
type baseHandler struct{}

func (baseHandler) connect(*conn, *http.Request) *rejection     { return nil }
func (baseHandler) opened(*conn)                                {}
func (baseHandler) message(*conn, protocol.MessageType, []byte) {}
func (baseHandler) closed(*conn, closeCause)                    {}

// echoHandler sends every message back, same type.
type echoHandler struct{ baseHandler }

func (echoHandler) message(c *conn, typ protocol.MessageType, p []byte) { c.reply(typ, p) }

// sinkHandler drops every message (push-only clients).
type sinkHandler struct{ baseHandler }

// panicHandler panics on every message: it exists to test that a panic is
// contained to its connection (Config.TestHandlers).
type panicHandler struct{ baseHandler }

func (panicHandler) message(*conn, protocol.MessageType, []byte) {
	panic("test-panic handler")
}

// relay sends each message to every other connection of the route whose
// label has the same value (a room). Connections without the label are
// refused at the handshake. Rooms are sharded maps; sending holds only the
// room's shard read lock, and enqueueing never blocks.
type relay struct {
	d      *Daemon
	path   string // the route's, as the bus names it
	label  string
	shards [16]relayShard
}

type relayShard struct {
	mu    sync.RWMutex
	rooms map[string]map[*conn]struct{}
}

func newRelay(d *Daemon, path, label string) *relay {
	r := &relay{d: d, path: path, label: label}
	for i := range r.shards {
		r.shards[i].rooms = make(map[string]map[*conn]struct{})
	}
	return r
}

func (r *relay) shard(room string) *relayShard {
	var h uint32 = 2166136261 // FNV-1a
	for i := 0; i < len(room); i++ {
		h = (h ^ uint32(room[i])) * 16777619
	}
	return &r.shards[h%uint32(len(r.shards))]
}

func (r *relay) connect(c *conn, _ *http.Request) *rejection {
	if _, ok := c.labels[r.label]; !ok {
		return &rejection{status: http.StatusBadRequest, reason: "this route relays by label " + r.label + ": the connection needs one (see --label-from-query)", metric: "missing_label"}
	}
	return nil
}

func (r *relay) opened(c *conn) {
	room := c.labels[r.label]
	s := r.shard(room)
	s.mu.Lock()
	m := s.rooms[room]
	if m == nil {
		m = make(map[*conn]struct{})
		s.rooms[room] = m
	}
	m[c] = struct{}{}
	s.mu.Unlock()
}

func (r *relay) closed(c *conn, _ closeCause) {
	room := c.labels[r.label]
	s := r.shard(room)
	s.mu.Lock()
	if m := s.rooms[room]; m != nil {
		delete(m, c)
		if len(m) == 0 {
			delete(s.rooms, room)
		}
	}
	s.mu.Unlock()
}

func (r *relay) message(c *conn, typ protocol.MessageType, p []byte) {
	room := c.labels[r.label]
	if bus := r.d.relayBus; bus != nil {
		// The other nodes' members of the room (Deps.RelayBus).
		bus.PublishRelay(r.path, room, sessionType(typ), p)
	}
	r.deliver(c, room, typ, p)
}

// deliver sends p to every member of room on this node but from (nil for
// a message from another node) and returns how many it was queued for.
func (r *relay) deliver(from *conn, room string, typ protocol.MessageType, p []byte) int {
	s := r.shard(room)
	s.mu.RLock()
	defer s.mu.RUnlock()
	members := s.rooms[room]
	if len(members) == 0 || len(members) == 1 && from != nil {
		return 0 // alone in the room
	}
	// One copy, framed (and compressed) once, shared by every recipient.
	data := clone(p)
	pm, err := protocol.NewPreparedMessage(typ, data)
	if err != nil {
		return 0 // typ is always text or binary
	}
	now := r.d.now()
	n := 0
	for other := range members {
		if other != from {
			other.enqueuePrepared(typ, data, pm, now)
			n++
		}
	}
	return n
}
