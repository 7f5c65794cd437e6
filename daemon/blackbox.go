package daemon

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// The black box (PRODUCT.md §10): per connection, the headers of the last
// frames it received and sent, never their payload, kept in history with
// the session when it ends abnormally, so that `wsctl why` can show what
// happened just before.

// blackBoxFrames is how many frame headers a connection's ring holds.
// At 16 bytes an entry the ring costs 512 bytes, taken at the first
// frame after the handshake (from the rings finished connections gave
// back): a connection that never exchanges a frame (an idle one without
// keepalive) holds only the pointer.
const blackBoxFrames = 32

// blackBox is a connection's ring of frame headers. Frames are recorded
// from the reading goroutine and from writers (inside the protocol's write
// path) concurrently, so mu guards it; it is a leaf.
type blackBox struct {
	mu   sync.Mutex
	next uint32 // frames recorded so far; the ring's next slot is next % len
	ring [blackBoxFrames]bbEntry
}

// bbEntry is one frame header packed in 16 bytes: when, and in meta the
// payload length (low 52 bits, saturated), the opcode (4 bits), RSV (3),
// FIN (1) and the direction (1).
type bbEntry struct {
	at   int64 // unix nanoseconds
	meta uint64
}

const (
	bbLenBits  = 52
	bbLenMax   = 1<<bbLenBits - 1
	bbOpShift  = bbLenBits
	bbRSVShift = bbOpShift + 4
	bbFinBit   = 1 << (bbRSVShift + 3)
	bbInBit    = bbFinBit << 1
)

func packFrame(ev protocol.FrameEvent) uint64 {
	n := uint64(bbLenMax)
	if ev.Length >= 0 && ev.Length < bbLenMax {
		n = uint64(ev.Length)
	}
	meta := n | uint64(ev.Opcode&0xf)<<bbOpShift
	var rsv uint64
	if ev.RSV1 {
		rsv |= 4
	}
	if ev.RSV2 {
		rsv |= 2
	}
	if ev.RSV3 {
		rsv |= 1
	}
	meta |= rsv << bbRSVShift
	if ev.Fin {
		meta |= bbFinBit
	}
	if ev.Direction == protocol.Inbound {
		meta |= bbInBit
	}
	return meta
}

func (e bbEntry) frame() session.Frame {
	return session.Frame{
		At:     time.Unix(0, e.at),
		In:     e.meta&bbInBit != 0,
		Opcode: uint8(e.meta >> bbOpShift & 0xf),
		Fin:    e.meta&bbFinBit != 0,
		RSV:    uint8(e.meta >> bbRSVShift & 7),
		Len:    int64(e.meta & bbLenMax),
	}
}

func (b *blackBox) record(ev protocol.FrameEvent, now int64) {
	e := bbEntry{at: now, meta: packFrame(ev)}
	b.mu.Lock()
	b.ring[b.next%blackBoxFrames] = e
	b.next++
	b.mu.Unlock()
}

// frames returns the ring's frames, oldest first; nil when there are none.
func (b *blackBox) frames() []session.Frame {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(b.next, blackBoxFrames)
	if n == 0 {
		return nil
	}
	out := make([]session.Frame, 0, n)
	for i := b.next - n; i != b.next; i++ {
		out = append(out, b.ring[i%blackBoxFrames].frame())
	}
	return out
}

// blackBoxRef is the connection's lazily allocated black box.
type blackBoxRef struct{ p atomic.Pointer[blackBox] }

// blackBoxes recycles the rings of finished connections: under churn a
// connection's first frame is often its close, and most sessions end
// normally, their ring unread.
var blackBoxes = sync.Pool{New: func() any { return new(blackBox) }}

func (r *blackBoxRef) get() *blackBox {
	if b := r.p.Load(); b != nil {
		return b
	}
	b := blackBoxes.Get().(*blackBox)
	b.next = 0 // not shared yet; what the ring still holds is never read
	if r.p.CompareAndSwap(nil, b) {
		return b
	}
	blackBoxes.Put(b)
	return r.p.Load()
}

// release gives the ring back for another connection. It is called once
// the connection is finished: its socket is closed and every goroutine
// that could write or read a frame (and so record one) has ended.
func (r *blackBoxRef) release() {
	if b := r.p.Swap(nil); b != nil {
		blackBoxes.Put(b)
	}
}

// OnFrame implements protocol.Hooks for every connection (on the
// goroutine doing the I/O): it feeds the black box and, when the session's
// frames are traced (or the connection is traced on demand), the trace.
func (c *conn) OnFrame(ev protocol.FrameEvent) {
	now := time.Now().UnixNano()
	c.bb.get().record(ev, now)
	if t := c.armedFrameTrace(now); t != nil {
		t.frame(ev) // traced on demand: every frame, whatever --trace-frames says
	} else if t := c.frameTrace(); t != nil {
		t.frame(ev)
	}
}

// abnormal reports whether a session that ended for cause ended
// abnormally, so that its black box is worth keeping: no close frame
// (1006), a pong timeout, a protocol error, a message too big, a slow
// consumer or a policy violation.
func abnormal(cause closeCause) bool {
	switch cause.by {
	case session.ClosedByIdleTimeout, session.ClosedByProtocolError, session.ClosedBySlowConsumer, session.ClosedByPolicy:
		return true
	}
	switch cause.code {
	case int(protocol.StatusAbnormalClosure), session.CodePongTimeout, int(protocol.StatusMessageTooBig), int(protocol.StatusProtocolError), int(protocol.StatusPolicyViolation):
		return true
	}
	return false
}
