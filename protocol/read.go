package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"time"
)

// Read reads the next data message into a new slice.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	return c.ReadInto(ctx, nil)
}

// ReadInto reads the next data message, appending it to buf[:0], and returns
// the resulting slice. Passing the previous result back in makes reading
// allocation-free once the buffer has grown to the largest message.
//
// Cancelling ctx during the call fails the connection. A context that can
// never be cancelled, with SetReadDeadline for timeouts, costs nothing.
func (c *Conn) ReadInto(ctx context.Context, buf []byte) (MessageType, []byte, error) {
	if err := c.readSem.acquire(ctx); err != nil {
		return 0, buf[:0], err
	}
	stop := watch(ctx, c.nc, setReadDeadline)
	c.rYield = c.lim.yield
	typ, buf, err := c.readMessage(buf[:0])
	c.rYield = false
	if err == errYield {
		typ, err = 0, nil
	}
	if stop != nil && !stop() {
		err = c.readCancelled(ctx, err)
	}
	c.readSem.release()
	return typ, buf, err
}

// errYield ends a read that handled control frames only, for
// Options.YieldAfterControl.
var errYield = errors.New("websocket: no message yet")

// Reader returns a reader of the next data message's payload; it returns
// io.EOF at the end of the message. A message not read to its end is
// discarded by the next call to Reader, Read or ReadInto. The context
// governs every Read on the returned reader.
func (c *Conn) Reader(ctx context.Context) (MessageType, io.Reader, error) {
	if err := c.readSem.acquire(ctx); err != nil {
		return 0, nil, err
	}
	stop := watch(ctx, c.nc, setReadDeadline)
	err := c.beginMessage()
	if stop != nil && !stop() {
		err = c.readCancelled(ctx, err)
	}
	c.readSem.release()
	if err != nil {
		return 0, nil, err
	}
	c.mr.ctx = ctx
	c.mr.msg++
	return MessageType(c.rMsgOp), &messageReaderHandle{r: &c.mr, msg: c.mr.msg}, nil
}

// CloseRead starts a goroutine that reads from the connection until it is
// closed, for an application that expects no more messages but must still
// have control frames handled: pings are answered, pongs reported
// (Options.OnPong) and the closing handshake completed, so Ping and Close
// work as usual. A data message is unexpected: the connection is closed
// with StatusPolicyViolation, as coder/websocket's CloseRead does.
//
// The returned context is done once the connection is closed, and
// context.Cause tells why (a *CloseError for a close frame, for instance).
// If ctx is done first, reading stops and the connection is closed, as for
// a cancelled Read. After CloseRead the application must not call Read,
// ReadInto or Reader. Calling CloseRead again starts no second reader and
// returns a context done once the connection is closed.
func (c *Conn) CloseRead(ctx context.Context) context.Context {
	ctx, cancel := context.WithCancelCause(ctx)
	c.closeMu.Lock()
	first := !c.closeRead
	c.closeRead = true
	c.closeMu.Unlock()
	go func() { // ends when the connection is closed or ctx is done
		if first {
			cancel(c.discardReads(ctx))
			return
		}
		select {
		case <-c.Done():
			cancel(c.closedErr())
		case <-ctx.Done():
		}
	}()
	return ctx
}

// discardReads is CloseRead's reader. It returns the error that ended the
// connection, once it is closed.
func (c *Conn) discardReads(ctx context.Context) error {
	_, _, err := c.Reader(ctx)
	if err == nil {
		err = &CloseError{Code: StatusPolicyViolation, Reason: "unexpected data message", Local: true}
		if cerr := c.Close(StatusPolicyViolation, "unexpected data message"); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}
	// Every failed read closes the connection, but not a read that could
	// not start (its context ended while another reader held the turn).
	if cerr := c.CloseNow(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return err
}

// readCancelled is cancelled for the reading goroutine: later reads report
// the connection as closed rather than the I/O error the cancellation caused.
func (c *Conn) readCancelled(ctx context.Context, err error) error {
	c.rErrOnce = errClosed
	return c.cancelled(ctx, err)
}

// cancelled handles I/O whose context fired: the deadline is now in the
// past and the frame stream may be cut mid-frame, so the connection is done.
func (c *Conn) cancelled(ctx context.Context, err error) error {
	c.setCloseErr(errClosed)
	if cerr := c.closeTCP(); cerr != nil && err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	return ctxErr(ctx, err)
}

// readMessage reads a whole message into buf.
func (c *Conn) readMessage(buf []byte) (MessageType, []byte, error) {
	if err := c.beginMessage(); err != nil {
		return 0, buf, err
	}
	typ := MessageType(c.rMsgOp)
	if c.rComp {
		buf, err := c.readInflated(buf)
		return typ, buf, err
	}
	for {
		n := int(c.rRemain)
		buf = c.grow(buf, n)
		if err := c.readPayload(buf[len(buf) : len(buf)+n]); err != nil {
			return typ, buf, err
		}
		buf = buf[:len(buf)+n]
		if c.rHdr.fin {
			break
		}
		if err := c.nextFrame(); err != nil {
			return typ, buf, err
		}
	}
	return typ, buf, c.endMessage()
}

// grow returns buf with room for n more bytes: buf itself if it has it,
// else a buffer from Options.Buffers (or a new one) holding buf's bytes.
func (c *Conn) grow(buf []byte, n int) []byte {
	if cap(buf)-len(buf) >= n {
		return buf
	}
	if c.lim.buffers == nil {
		return slices.Grow(buf, n)
	}
	return append(c.lim.buffers.Get(len(buf)+n), buf...)
}

// beginMessage discards what is left of a message a streaming reader did not
// finish, then reads up to the first frame of the next data message.
func (c *Conn) beginMessage() error {
	if c.rErrOnce != nil {
		return c.rErrOnce
	}
	if !c.rDone && c.rComp {
		// Inflate what is left: with context takeover the next message
		// refers back into this one.
		var scratch [512]byte
		for !c.rDone {
			if _, err := c.inflateRead(scratch[:]); err != nil && err != io.EOF {
				return err
			}
		}
	}
	for !c.rDone {
		if err := c.discardPayload(); err != nil {
			return err
		}
		if c.rHdr.fin {
			if err := c.endMessage(); err != nil {
				return err
			}
			break
		}
		if err := c.nextFrame(); err != nil {
			return err
		}
	}
	if err := c.nextFrame(); err != nil {
		return err
	}
	c.rDone = false
	return nil
}

// endMessage finishes a message whose final frame has been read.
func (c *Conn) endMessage() error {
	c.rDone = true
	if c.rMsgOp == OpText && !c.rUTF8.complete() {
		return c.fail(StatusInvalidPayloadData, "text message ends inside a UTF-8 sequence")
	}
	return nil
}

// readPayload fills p, which is no longer than what remains of the current
// frame, unmasking it and validating UTF-8 piece by piece as it arrives, so
// that an invalid text message fails before its end.
func (c *Conn) readPayload(p []byte) error {
	for len(p) > 0 {
		n, err := c.br.Read(p)
		if n > 0 {
			if verr := c.consume(p[:n]); verr != nil {
				return verr
			}
			p = p[n:]
		}
		if err != nil && len(p) > 0 {
			return c.readFailed(err)
		}
	}
	return nil
}

// consume unmasks and validates payload bytes just read.
func (c *Conn) consume(p []byte) error {
	if c.rHdr.masked {
		c.rPos = mask(c.rHdr.key, c.rPos, p)
	}
	c.rRemain -= uint64(len(p))
	if c.rMsgOp == OpText && !c.rComp {
		c.rUTF8 = c.rUTF8.feed(p)
		if c.rUTF8 == u8Reject {
			return c.fail(StatusInvalidPayloadData, "invalid UTF-8 in text message")
		}
	}
	return nil
}

// discardPayload skips the rest of the current frame, still validating it.
func (c *Conn) discardPayload() error {
	var scratch [512]byte
	for c.rRemain > 0 {
		n := min(c.rRemain, uint64(len(scratch)))
		if err := c.readPayload(scratch[:n]); err != nil {
			return err
		}
	}
	return nil
}

// nextFrame reads frames until the next data frame, whose header it leaves
// in c.rHdr. Control frames met on the way are handled here.
func (c *Conn) nextFrame() error {
	for {
		if err := c.readHeader(); err != nil {
			return err
		}
		h := &c.rHdr
		if c.lim.onFrame && !h.opcode.IsControl() {
			c.observe(Inbound, h, 0, "")
		}
		if code, why := c.checkHeader(h); code != 0 {
			return c.fail(code, why)
		}
		if h.opcode.IsControl() {
			if err := c.handleControl(h); err != nil {
				return err
			}
			if c.rYield && !c.rInMsg && !c.rDraining && c.br.Buffered() == 0 {
				return errYield
			}
			continue
		}
		if h.opcode == OpContinuation {
			if !c.rInMsg {
				return c.fail(StatusProtocolError, "continuation frame outside a fragmented message")
			}
		} else {
			if c.rInMsg {
				return c.fail(StatusProtocolError, "new data frame inside a fragmented message")
			}
			c.rMsgOp = h.opcode
			c.rMsgLen = 0
			c.rUTF8 = u8Accept
			c.rComp = h.rsv&rsv1 != 0
			c.rInflN = 0
		}
		// A compressed message is held to the limit as it inflates.
		if !c.rComp && h.length > c.lim.readLimit-c.rMsgLen {
			return c.fail(StatusMessageTooBig, "message exceeds the read limit")
		}
		c.rMsgLen += h.length
		c.rInMsg = !h.fin
		return nil
	}
}

// readHeader reads the next frame header into c.rHdr.
func (c *Conn) readHeader() error {
	b, err := c.br.Peek(2)
	if err != nil {
		return c.readFailed(err)
	}
	n := headerLen(b[0], b[1])
	if b, err = c.br.Peek(n); err != nil {
		return c.readFailed(err)
	}
	h, _, err := parseHeader(b)
	if _, derr := c.br.Discard(n); derr != nil {
		return c.readFailed(derr)
	}
	if err != nil {
		return c.fail(StatusProtocolError, err.Error())
	}
	c.rHdr = h
	c.rRemain = h.length
	c.rPos = 0
	return nil
}

// checkHeader applies the rules of RFC 6455 §5 to a received header and
// returns the status to fail with, or 0.
func (c *Conn) checkHeader(h *header) (StatusCode, string) {
	rsv := h.rsv
	if rsv&rsv1 != 0 && c.df != nil && (h.opcode == OpText || h.opcode == OpBinary) {
		rsv &^= rsv1 // permessage-deflate: RSV1 marks the first frame of a compressed message
	}
	if rsv != 0 {
		if h.opcode == OpContinuation && c.df != nil && rsv == rsv1 {
			return StatusProtocolError, "RSV1 set on a continuation frame"
		}
		return StatusProtocolError, "reserved bits set without a negotiated extension"
	}
	if !h.opcode.known() {
		return StatusProtocolError, "reserved opcode " + fmt.Sprintf("%#x", byte(h.opcode))
	}
	if h.masked == c.client {
		if c.client {
			return StatusProtocolError, "masked frame from server"
		}
		return StatusProtocolError, "unmasked frame from client"
	}
	if h.opcode.IsControl() {
		if !h.fin {
			return StatusProtocolError, "fragmented control frame"
		}
		if h.length > maxControlPayload {
			return StatusProtocolError, "control frame payload longer than 125 bytes"
		}
		return 0, ""
	}
	max := c.lim.maxFrame
	if c.df != nil && (h.rsv&rsv1 != 0 || h.opcode == OpContinuation && c.rInMsg && c.rComp) {
		// A compressed frame may carry a message at the limit and be a
		// little larger than it (incompressible data in stored blocks);
		// the message itself is held to ReadLimit as it inflates.
		max = deflateBound(max)
	}
	if h.length > max {
		if c.lim.maxFrame == c.lim.readLimit {
			// No frame limit of its own: the frame is over the message's.
			return StatusMessageTooBig, "message exceeds the maximum message size"
		}
		return StatusMessageTooBig, "frame exceeds the maximum frame size"
	}
	return 0, ""
}

// deflateBound is the most a DEFLATE stream of n bytes can take when its
// compressor falls back to stored blocks for data that does not compress
// (zlib's deflateBound, with room for the sync-flush trailer).
func deflateBound(n uint64) uint64 {
	if n >= readLimitUnlimited/2 {
		return n
	}
	return n + n>>12 + n>>14 + n>>25 + 64
}

// handleControl reads and acts on a control frame.
func (c *Conn) handleControl(h *header) error {
	bp := ctrlBufPool.Get().(*[maxControlPayload]byte)
	defer ctrlBufPool.Put(bp)
	p := bp[:h.length]
	if _, err := io.ReadFull(c.br, p); err != nil {
		return c.readFailed(err)
	}
	c.rRemain = 0
	if h.masked {
		mask(h.key, 0, p)
	}
	switch h.opcode {
	case OpPing:
		if c.lim.onFrame {
			c.observe(Inbound, h, 0, "")
		}
		if c.closeSent.Load() {
			return nil
		}
		if err := c.writeControl(OpPong, p); err != nil && !errors.Is(err, errCloseSent) {
			return err
		}
	case OpPong:
		if c.lim.onFrame {
			c.observe(Inbound, h, 0, "")
		}
		if c.lim.onPong {
			c.lim.hooks.OnPong(p)
		}
	case OpClose:
		code, reason, bad := parseClosePayload(p)
		if c.lim.onFrame {
			observed := code
			if len(p) == 0 {
				observed = 0 // an empty close frame carries no code
			}
			c.observe(Inbound, h, observed, reason)
		}
		if bad != 0 {
			return c.fail(bad, "invalid close frame")
		}
		return c.peerClosed(code, reason)
	}
	return nil
}

// ctrlBufPool holds control frame payload buffers: a connection needs one
// only while it handles a control frame.
var ctrlBufPool = sync.Pool{New: func() any { return new([maxControlPayload]byte) }}

// readFailed turns an I/O error into the connection's terminal read error.
func (c *Conn) readFailed(err error) error {
	if c.rErrOnce != nil {
		return c.rErrOnce
	}
	if ce := c.closedErr(); ce != nil {
		// Closed by us (CloseNow, Close, a cancelled context): say so.
		c.rErrOnce = ce
		return ce
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	c.rErrOnce = fmt.Errorf("read: %w", err)
	c.setCloseErr(c.rErrOnce)
	if cerr := c.closeTCP(); cerr != nil {
		return errors.Join(c.rErrOnce, cerr)
	}
	return c.rErrOnce
}

// readLimitUnlimited is the read limit used when Options.ReadLimit < 0.
const readLimitUnlimited = math.MaxInt64

// messageReader reads the current message for Reader.
type messageReader struct {
	c   *Conn
	ctx context.Context
	msg uint64 // sequence number of the current message
}

// messageReaderHandle binds a reader to one message so that a stale reader
// kept after the next Reader call returns an error instead of reading
// another message's bytes.
type messageReaderHandle struct {
	r   *messageReader
	msg uint64
}

var errStaleReader = errors.New("websocket: message reader used after the next message began")

func (h *messageReaderHandle) Read(p []byte) (int, error) {
	if h.msg != h.r.msg {
		return 0, errStaleReader
	}
	return h.r.read(p)
}

func (r *messageReader) read(p []byte) (int, error) {
	c := r.c
	if c.rDone {
		if c.rErrOnce != nil {
			return 0, c.rErrOnce
		}
		return 0, io.EOF
	}
	if err := c.readSem.acquire(r.ctx); err != nil {
		return 0, err
	}
	defer c.readSem.release()
	stop := watch(r.ctx, c.nc, setReadDeadline)
	n, err := r.readLocked(p)
	if stop != nil && !stop() {
		err = c.readCancelled(r.ctx, err)
	}
	return n, err
}

func (r *messageReader) readLocked(p []byte) (int, error) {
	c := r.c
	if c.rErrOnce != nil {
		return 0, c.rErrOnce
	}
	if c.rComp {
		return c.inflateRead(p)
	}
	for c.rRemain == 0 {
		if c.rHdr.fin {
			if err := c.endMessage(); err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		if err := c.nextFrame(); err != nil {
			return 0, err
		}
	}
	if uint64(len(p)) > c.rRemain {
		p = p[:c.rRemain]
	}
	n, err := c.br.Read(p)
	if n > 0 {
		if verr := c.consume(p[:n]); verr != nil {
			return 0, verr
		}
	}
	if err != nil {
		return n, c.readFailed(err)
	}
	return n, nil
}

// awaitPeerClose reads and discards frames until the peer's close frame has
// been handled (which finishes the TCP connection), the connection fails, or
// the close timeout passes. It reports whether the peer's close frame
// arrived. The caller holds readSem.
func (c *Conn) awaitPeerClose() bool {
	c.rDraining = true
	if err := c.nc.SetReadDeadline(time.Now().Add(c.lim.closeTimeout)); err == nil {
		for c.rErrOnce == nil {
			if c.rRemain > 0 {
				if _, err := c.br.Discard(int(c.rRemain)); err != nil {
					break
				}
				c.rRemain = 0
			}
			if c.nextFrame() != nil {
				break
			}
			c.rDone = c.rHdr.fin
			c.rMsgOp = OpBinary // discarded data needs no UTF-8 check
		}
	}
	c.closeMu.Lock()
	recv := c.closeRecv
	c.closeMu.Unlock()
	return recv
}

// payloadReader reads the raw payload of the current compressed message
// across its frames, then the deflate tail that RFC 7692 §7.2.2 says to
// append, then an empty final block so that the inflater ends cleanly.
type payloadReader struct {
	c    *Conn
	tail int   // bytes of inflateSuffix already returned
	err  error // a connection error met while reading, reported as is
}

var inflateSuffix = append(append([]byte{}, deflateTail...), finalBlock...)

func (pr *payloadReader) Read(p []byte) (int, error) {
	c := pr.c
	for c.rRemain == 0 {
		if c.rHdr.fin {
			if pr.tail < len(inflateSuffix) {
				n := copy(p, inflateSuffix[pr.tail:])
				pr.tail += n
				return n, nil
			}
			return 0, io.EOF
		}
		if err := c.nextFrame(); err != nil {
			pr.err = err
			return 0, err
		}
	}
	if uint64(len(p)) > c.rRemain {
		p = p[:c.rRemain]
	}
	n, err := c.br.Read(p)
	if n > 0 {
		if verr := c.consume(p[:n]); verr != nil {
			pr.err = verr
			return 0, verr
		}
	}
	if err != nil {
		pr.err = c.readFailed(err)
		return n, pr.err
	}
	return n, nil
}

// inflateRead reads inflated bytes of the current compressed message,
// holding them to the read limit and validating UTF-8 as they come. At the
// end of the message it returns io.EOF.
func (c *Conn) inflateRead(p []byte) (int, error) {
	if c.rDone {
		return 0, io.EOF
	}
	if c.rInfl == nil {
		c.pr.tail, c.pr.err = 0, nil
		c.rInfl = c.df.inflater(&c.pr)
	}
	n, err := c.rInfl.Read(p)
	if n > 0 {
		c.rInflN += uint64(n)
		if c.rInflN > c.lim.readLimit {
			return 0, c.fail(StatusMessageTooBig, "message exceeds the read limit once inflated")
		}
		if c.rMsgOp == OpText {
			c.rUTF8 = c.rUTF8.feed(p[:n])
			if c.rUTF8 == u8Reject {
				return 0, c.fail(StatusInvalidPayloadData, "invalid UTF-8 in text message")
			}
		}
		c.df.remember(p[:n])
	}
	switch {
	case err == nil:
		return n, nil
	case c.pr.err != nil:
		return n, c.pr.err
	case err != io.EOF:
		return n, c.fail(StatusInvalidPayloadData, "invalid compressed data")
	}
	// The deflate stream ended. Anything the sender put after a final
	// block of its own is still part of the frames: skip it.
	for c.rRemain > 0 || !c.rHdr.fin {
		if c.rRemain > 0 {
			if derr := c.discardPayload(); derr != nil {
				return n, derr
			}
			continue
		}
		if ferr := c.nextFrame(); ferr != nil {
			return n, ferr
		}
	}
	putInflater(c.rInfl)
	c.rInfl = nil
	if eerr := c.endMessage(); eerr != nil {
		return n, eerr
	}
	return n, io.EOF
}

// readInflated reads a whole compressed message into buf, growing it as
// the message inflates but never past the read limit.
func (c *Conn) readInflated(buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			grow := max(cap(buf), 512)
			if left := c.lim.readLimit + 1 - uint64(len(buf)); uint64(grow) > left {
				grow = int(left) // one byte past the limit is enough to fail
			}
			buf = c.grow(buf, grow)
		}
		n, err := c.inflateRead(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
