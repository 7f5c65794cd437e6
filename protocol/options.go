package protocol

import (
	"io"
	"time"
)

// Defaults applied to zero Options fields.
const (
	DefaultReadLimit    = 32 << 20 // bytes per message
	DefaultCloseTimeout = 5 * time.Second
	DefaultBufferSize   = 4096
)

// Direction tells whether a frame was received or sent.
type Direction uint8

// Frame directions.
const (
	Inbound Direction = iota + 1
	Outbound
)

func (d Direction) String() string {
	switch d {
	case Inbound:
		return "inbound"
	case Outbound:
		return "outbound"
	}
	return "unknown"
}

// FrameEvent describes one frame as seen on the wire, for tracing. It never
// carries payload bytes, only the close code and reason of close frames.
type FrameEvent struct {
	Direction Direction
	Opcode    Opcode
	Fin       bool
	RSV1      bool
	RSV2      bool
	RSV3      bool
	Masked    bool
	Length    int64
	// CloseCode and CloseReason are set for close frames that carry them.
	CloseCode   StatusCode
	CloseReason string
}

// Options are the settings shared by servers and clients. The zero value is
// ready to use; zero fields take the documented defaults.
type Options struct {
	// ReadLimit is the largest message accepted, in bytes, after
	// reassembly of its frames. A larger message fails the connection with
	// 1009. Default DefaultReadLimit; negative means no limit (not for
	// servers facing untrusted peers).
	ReadLimit int64
	// MaxFrameSize is the largest frame payload accepted. A larger frame
	// fails the connection with 1009. Default: ReadLimit.
	MaxFrameSize int64
	// CloseTimeout bounds each step of the closing handshake: sending the
	// close frame, waiting for the peer's, and (client side) waiting for the
	// server to close the TCP connection. Default DefaultCloseTimeout.
	CloseTimeout time.Duration
	// ReadBufferSize and WriteBufferSize size the buffers the connection
	// has to make: those Upgrade is not given, and those of the HTTP server
	// that Accept finds too small. Default DefaultBufferSize.
	ReadBufferSize  int
	WriteBufferSize int
	// OnFrame, if set, is called for every frame read or written, from the
	// goroutine doing the I/O. It must be fast and must not call the Conn.
	OnFrame func(FrameEvent)
	// OnPong, if set, is called from the reading goroutine with the payload
	// of each pong received (solicited or not). The slice is only valid
	// during the call.
	OnPong func(payload []byte)
	// YieldAfterControl makes Read and ReadInto return a zero MessageType
	// and no error after handling control frames that arrived between
	// messages, once the connection's buffer holds no more input. A server
	// that parks idle connections outside the read path (waiting for
	// readability) uses it so that a keepalive pong does not leave its
	// goroutine blocked deep inside ReadInto.
	// (See "Servers that manage their own I/O" in the package doc.)
	YieldAfterControl bool
	// Buffers, if set, supplies the memory of a message that does not fit
	// the buffer given to ReadInto (Read gives none). The Conn never gives
	// buffers back: a caller that pools them puts back what ReadInto
	// returned once it is done with the message. Large messages then share
	// a few warm buffers instead of each connection holding one of its own.
	// (See "Servers that manage their own I/O" in the package doc.)
	Buffers BufferSource
	// Hooks, if set, is called like OnFrame and OnPong (and before them,
	// when they are set too). A server with many connections can give
	// each one its own Hooks (a pointer to its connection state) instead
	// of two funcs bound to it, which would be two allocations per
	// connection.
	Hooks Hooks
	// FrameWriter, if set, is the writer beneath the connection's
	// buffered writer (the one given to Upgrade in rw, or nc). A prepared
	// message's frame (WritePrepared, TryWritePrepared), already whole, is
	// then written to it directly instead of being copied through the
	// buffer, which is always empty between frames: a broadcast to many
	// connections touches less memory per connection.
	// (See "Servers that manage their own I/O" in the package doc.)
	FrameWriter io.Writer
}

// Hooks observes a connection's frames and pongs (Options.Hooks). Its
// methods have the contracts of Options.OnFrame and Options.OnPong.
type Hooks interface {
	OnFrame(FrameEvent)
	OnPong(payload []byte)
}

// funcHooks adapts Options.OnFrame and Options.OnPong, and Options.Hooks
// when set together with them, to Hooks.
type funcHooks struct {
	next    Hooks // nil when only the funcs are set
	onFrame func(FrameEvent)
	onPong  func([]byte)
}

func (h *funcHooks) OnFrame(ev FrameEvent) {
	if h.next != nil {
		h.next.OnFrame(ev)
	}
	if h.onFrame != nil {
		h.onFrame(ev)
	}
}

func (h *funcHooks) OnPong(p []byte) {
	if h.next != nil {
		h.next.OnPong(p)
	}
	if h.onPong != nil {
		h.onPong(p)
	}
}

// A BufferSource lends memory for messages (Options.Buffers). Get returns a
// slice of length 0 and capacity at least n. It is called from the reading
// goroutine of any connection that has it, so it must be safe for
// concurrent use.
type BufferSource interface {
	Get(n int) []byte
}

// limits holds the effective values of Options.
type limits struct {
	readLimit    uint64 // 0 = unlimited
	maxFrame     uint64 // 0 = unlimited
	closeTimeout time.Duration
	hooks        Hooks // nil when nothing observes frames or pongs
	onFrame      bool  // hooks.OnFrame is to be called
	onPong       bool  // hooks.OnPong is to be called
	yield        bool
	buffers      BufferSource
}

func (o *Options) limits() limits {
	var l limits
	if o == nil {
		o = &Options{}
	}
	switch {
	case o.ReadLimit == 0:
		l.readLimit = DefaultReadLimit
	case o.ReadLimit > 0:
		l.readLimit = uint64(o.ReadLimit)
	default:
		l.readLimit = readLimitUnlimited
	}
	switch {
	case o.MaxFrameSize > 0:
		l.maxFrame = uint64(o.MaxFrameSize)
	default:
		l.maxFrame = l.readLimit
	}
	l.closeTimeout = o.CloseTimeout
	if l.closeTimeout <= 0 {
		l.closeTimeout = DefaultCloseTimeout
	}
	switch {
	case o.OnFrame == nil && o.OnPong == nil:
		l.hooks = o.Hooks
		l.onFrame, l.onPong = o.Hooks != nil, o.Hooks != nil
	default:
		l.hooks = &funcHooks{next: o.Hooks, onFrame: o.OnFrame, onPong: o.OnPong}
		l.onFrame = o.Hooks != nil || o.OnFrame != nil
		l.onPong = o.Hooks != nil || o.OnPong != nil
	}
	l.yield = o.YieldAfterControl
	l.buffers = o.Buffers
	return l
}

func (o *Options) readBufferSize() int {
	if o == nil || o.ReadBufferSize <= 0 {
		return DefaultBufferSize
	}
	return o.ReadBufferSize
}

func (o *Options) writeBufferSize() int {
	if o == nil || o.WriteBufferSize <= 0 {
		return DefaultBufferSize
	}
	return o.WriteBufferSize
}
