package protocol

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// MessageType is the type of a data message.
type MessageType int

// Message types, with the values of their opcodes.
const (
	TextMessage   MessageType = MessageType(OpText)
	BinaryMessage MessageType = MessageType(OpBinary)
)

func (t MessageType) String() string {
	switch t {
	case TextMessage:
		return "text"
	case BinaryMessage:
		return "binary"
	}
	return fmt.Sprintf("MessageType(%d)", int(t))
}

// Conn is a WebSocket connection. See the package documentation for the
// concurrency rules.
type Conn struct {
	// Writer state first: a frame written whole (a broadcast's prepared
	// message) touches only the first two cache lines of the Conn.
	// msgSem is held for a whole message, wmu for one frame.
	fw        io.Writer     // Options.FrameWriter: beneath bw; nil: none
	bw        *bufio.Writer // empty between frames
	df        *deflateState // negotiated permessage-deflate, or nil
	msgSem    sem
	wmu       sync.Mutex
	closeSent atomic.Bool // a close frame was sent or is being sent; set under closeMu
	client    bool
	lim       limits
	wHdr      [maxHeaderSize]byte
	rng       *rand.ChaCha8 // masking keys (client only), guarded by wmu

	nc       net.Conn
	br       *bufio.Reader
	subproto string
	exts     string

	// Reader state, owned by the goroutine holding readSem.
	readSem   sem
	rHdr      header // current data frame
	rRemain   uint64 // payload bytes of rHdr not yet read
	rPos      int    // masking key offset within rHdr's payload
	rInMsg    bool   // a fragmented message is being received
	rMsgOp    Opcode // opcode of the message being received
	rMsgLen   uint64 // bytes of the message received so far
	rUTF8     utf8State
	rDone     bool // the current message's final frame has been read
	rComp     bool // the current message is compressed (RSV1 on its first frame)
	rInfl     io.ReadCloser
	rInflN    uint64 // inflated bytes of the current message
	pr        payloadReader
	mr        messageReader
	rErrOnce  error // terminal read error, once the connection failed
	rDraining bool  // reading only to find the peer's close frame
	rYield    bool  // this read may yield after control frames (see Options.YieldAfterControl)

	// Close state, guarded by closeMu (and closeSent above).
	closeMu   sync.Mutex
	closeRecv bool
	closeRead bool          // CloseRead was called
	tcpClosed bool          // the TCP connection is closed
	closeErr  error         // what Read and Write return once closed
	doneC     chan struct{} // made on demand by Done, closed with the TCP connection
}

func newConn(nc net.Conn, br *bufio.Reader, bw *bufio.Writer, client bool, o *Options) *Conn {
	c := &Conn{
		nc:     nc,
		br:     br,
		bw:     bw,
		client: client,
		lim:    o.limits(),
	}
	if o != nil {
		c.fw = o.FrameWriter
	}
	c.rDone = true
	c.mr.c = c
	c.pr.c = c
	if client {
		var seed [32]byte
		// crypto/rand.Read never fails on supported platforms (Go ≥1.24).
		crand.Read(seed[:])
		c.rng = rand.NewChaCha8(seed)
	}
	return c
}

// Subprotocol returns the negotiated subprotocol, or "".
func (c *Conn) Subprotocol() string { return c.subproto }

// Extensions returns the negotiated Sec-WebSocket-Extensions value, or "".
func (c *Conn) Extensions() string { return c.exts }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// NetConn returns the underlying connection. Reading from or writing to it
// corrupts the WebSocket stream; it is meant for socket options.
func (c *Conn) NetConn() net.Conn { return c.nc }

// SetReadDeadline sets the deadline of reads, as net.Conn does. A read that
// passes it fails the connection: the frame stream cannot be resumed.
// Deadlines cost nothing per message, unlike a cancellable context.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline of writes, as net.Conn does. A write
// that passes it fails the connection.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.nc.SetWriteDeadline(t) }

// Done returns a channel closed once the underlying connection is closed.
func (c *Conn) Done() <-chan struct{} {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.doneC == nil {
		c.doneC = make(chan struct{})
		if c.tcpClosed {
			close(c.doneC)
		}
	}
	return c.doneC
}

// aLongTimeAgo is a deadline in the past, used to interrupt blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// setReadDeadline and setWriteDeadline are the deadline setters passed to
// watch. A method value such as c.nc.SetReadDeadline would be allocated on
// every call, even for a context that can never be cancelled.
func setReadDeadline(nc net.Conn, t time.Time) error  { return nc.SetReadDeadline(t) }
func setWriteDeadline(nc net.Conn, t time.Time) error { return nc.SetWriteDeadline(t) }

// watch makes cancellation of ctx interrupt I/O in progress by moving nc's
// deadline set by setDeadline into the past. It returns a function that ends
// the watch and reports whether ctx fired. Contexts that can never be
// cancelled (Done() == nil) cost nothing.
func watch(ctx context.Context, nc net.Conn, setDeadline func(net.Conn, time.Time) error) (stop func() bool) {
	if ctx.Done() == nil {
		return nil
	}
	return context.AfterFunc(ctx, func() {
		// The deadline is only a wake-up call; an error here means the
		// connection is already closed, which wakes the I/O as well.
		if err := setDeadline(nc, aLongTimeAgo); err != nil {
			return
		}
	})
}

// ctxErr converts an I/O error caused by a cancelled context into the
// context's error.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	return err
}

// closedErr returns the terminal error if the connection is closed or
// closing, nil otherwise.
func (c *Conn) closedErr() error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	return c.closeErr
}

// setCloseErr records the first terminal error.
func (c *Conn) setCloseErr(err error) {
	c.closeMu.Lock()
	if c.closeErr == nil {
		c.closeErr = err
	}
	c.closeMu.Unlock()
}

// errClosed is the terminal error of a connection closed without a close
// handshake.
var errClosed = fmt.Errorf("websocket: %w", net.ErrClosed)

// CloseNow closes the underlying connection at once, without a closing
// handshake. It is safe to call more than once and from any goroutine.
func (c *Conn) CloseNow() error {
	c.setCloseErr(errClosed)
	return c.closeTCP()
}

// closeTCP closes the network connection once.
func (c *Conn) closeTCP() error {
	c.closeMu.Lock()
	if c.tcpClosed {
		c.closeMu.Unlock()
		return nil
	}
	c.tcpClosed = true
	if c.doneC != nil {
		close(c.doneC)
	}
	c.closeMu.Unlock()
	if err := c.nc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

func (c *Conn) observe(dir Direction, h *header, code StatusCode, reason string) {
	c.lim.hooks.OnFrame(FrameEvent{
		Direction:   dir,
		Opcode:      h.opcode,
		Fin:         h.fin,
		RSV1:        h.rsv&rsv1 != 0,
		RSV2:        h.rsv&rsv2 != 0,
		RSV3:        h.rsv&rsv3 != 0,
		Masked:      h.masked,
		Length:      int64(h.length),
		CloseCode:   code,
		CloseReason: reason,
	})
}
