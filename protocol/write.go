package protocol

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
)

// errCloseSent is returned by writes after a close frame was sent.
var errCloseSent = fmt.Errorf("websocket: close frame sent: %w", net.ErrClosed)

// errWriterClosed is returned by a message writer used after its Close.
var errWriterClosed = errors.New("websocket: write to a closed message writer")

// Write sends p as one message of type typ, in a single frame. Text messages
// are not re-validated: the caller promises UTF-8.
//
// Write may be called from several goroutines; messages are sent whole, one
// after the other. Cancelling ctx during the call fails the connection; a
// context that is never cancelled, with SetWriteDeadline for timeouts, costs
// nothing.
func (c *Conn) Write(ctx context.Context, typ MessageType, p []byte) error {
	if typ != TextMessage && typ != BinaryMessage {
		return ErrMessageType
	}
	if err := c.msgSem.acquire(ctx); err != nil {
		return err
	}
	stop := watch(ctx, c.nc, setWriteDeadline)
	var err error
	if c.df != nil && (c.df.threshold < 0 || len(p) >= c.df.threshold) {
		err = c.writeCompressed(Opcode(typ), p)
	} else {
		err = c.writeFrame(true, Opcode(typ), 0, p)
	}
	if stop != nil && !stop() {
		err = c.cancelled(ctx, err)
	}
	c.msgSem.release()
	return err
}

// writeCompressed sends p as one compressed frame; the caller holds msgSem,
// which also serialises use of the compression context.
func (c *Conn) writeCompressed(op Opcode, p []byte) error {
	buf := byteBufferPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer putByteBuffer(buf)
	if err := c.df.compress(buf, p); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return c.writeFrame(true, op, rsv1, buf.Bytes())
}

// putByteBuffer returns a buffer to the pool unless a huge message made it
// too big to keep around.
func putByteBuffer(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 {
		byteBufferPool.Put(b)
	}
}

// Ping sends a ping with payload (at most 125 bytes). The pong arrives
// through Options.OnPong while a goroutine reads.
func (c *Conn) Ping(ctx context.Context, payload []byte) error {
	if len(payload) > maxControlPayload {
		return ErrControlTooLong
	}
	stop := watch(ctx, c.nc, setWriteDeadline)
	err := c.writeControl(OpPing, payload)
	if stop != nil && !stop() {
		err = c.cancelled(ctx, err)
	}
	return err
}

// TryPing sends a ping like Ping, unless that would mean waiting for
// another writer: when a frame (a message's, a pong, a close frame) is being
// written by another goroutine, it returns false and nil without writing.
// It never waits for a lock; the write itself waits only as long as the
// underlying connection's Write does. A ping may go out between the frames
// of a message another goroutine is writing.
func (c *Conn) TryPing(payload []byte) (bool, error) {
	if len(payload) > maxControlPayload {
		return false, ErrControlTooLong
	}
	if !c.wmu.TryLock() {
		return false, nil
	}
	defer c.wmu.Unlock()
	if err := c.writeClosed(); err != nil {
		return true, err
	}
	return true, c.writeControlLocked(OpPing, payload, 0, "")
}

// Writer returns a writer for one message sent in fragments: each Write
// sends one frame, Close sends the final frame. No other message is sent
// until the writer is closed; control frames may go out between fragments.
// With permessage-deflate, the message is compressed as it streams and a
// Write sends whatever compressed bytes the compressor has emitted.
// The context governs every call on the writer.
func (c *Conn) Writer(ctx context.Context, typ MessageType) (io.WriteCloser, error) {
	if typ != TextMessage && typ != BinaryMessage {
		return nil, ErrMessageType
	}
	if err := c.msgSem.acquire(ctx); err != nil {
		return nil, err
	}
	w := &messageWriter{c: c, ctx: ctx, op: Opcode(typ)}
	if c.df != nil {
		w.out = byteBufferPool.Get().(*bytes.Buffer)
		w.out.Reset()
		w.rsv = rsv1
		if c.df.writeContext {
			w.fw = c.df.streamWriter(w.out)
		} else {
			// The message's length is unknown: with a window below
			// 32 KiB only Huffman coding is safe (see compress).
			w.level = c.df.level
			if c.df.writeBits < 15 {
				w.level = flate.HuffmanOnly
			}
			w.fw = getFlateWriter(w.level, w.out)
			w.pooled = true
		}
	}
	return w, nil
}

// messageWriter streams one fragmented message.
type messageWriter struct {
	c      *Conn
	ctx    context.Context
	op     Opcode // OpText/OpBinary for the first frame, then OpContinuation
	rsv    byte   // RSV1 on the first frame of a compressed message
	closed bool

	// Compression, when negotiated.
	fw     *flate.Writer
	out    *bytes.Buffer
	level  int
	pooled bool
}

func (w *messageWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errWriterClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	if w.fw != nil {
		if _, err := w.fw.Write(p); err != nil {
			return 0, fmt.Errorf("write: compress: %w", err)
		}
		if w.out.Len() > 0 {
			err := w.frame(false, w.out.Bytes())
			w.out.Reset()
			if err != nil {
				return 0, err
			}
		}
		return len(p), nil
	}
	if err := w.frame(false, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close sends the final (empty) frame of the message and lets the next
// message go.
func (w *messageWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	var err error
	if w.fw != nil {
		err = w.finishCompressed()
	} else {
		err = w.frame(true, nil)
	}
	w.c.msgSem.release()
	return err
}

// finishCompressed flushes the compressor and sends the last frame without
// the deflate tail, then gives the compressor back.
func (w *messageWriter) finishCompressed() error {
	ferr := w.fw.Flush()
	if w.pooled {
		putFlateWriter(w.level, w.fw)
	}
	w.fw = nil
	defer putByteBuffer(w.out)
	if ferr != nil {
		return fmt.Errorf("write: compress: %w", ferr)
	}
	if !bytes.HasSuffix(w.out.Bytes(), deflateTail) {
		return errors.New("write: permessage-deflate: flushed stream lacks the sync tail")
	}
	w.out.Truncate(w.out.Len() - len(deflateTail))
	return w.frame(true, w.out.Bytes())
}

func (w *messageWriter) frame(fin bool, p []byte) error {
	c := w.c
	stop := watch(w.ctx, c.nc, setWriteDeadline)
	err := c.writeFrame(fin, w.op, w.rsv, p)
	if stop != nil && !stop() {
		err = c.cancelled(w.ctx, err)
	}
	w.op, w.rsv = OpContinuation, 0
	return err
}

// writeControl sends one control frame (but close frames: writeClose).
func (c *Conn) writeControl(op Opcode, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writeClosed(); err != nil {
		return err
	}
	return c.writeControlLocked(op, p, 0, "")
}

// writeFrame sends one frame.
func (c *Conn) writeFrame(fin bool, op Opcode, rsv byte, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writeClosed(); err != nil {
		return err
	}
	return c.writeFrameLocked(fin, op, rsv, p, 0, "")
}

// writeClosed returns why no more data may be written, or nil. The error
// always wraps net.ErrClosed, and the *CloseError that ended the
// connection if there was one.
func (c *Conn) writeClosed() error {
	if !c.closeSent.Load() {
		return nil
	}
	err := c.closedErr()
	switch {
	case err == nil:
		return errCloseSent
	case errors.Is(err, net.ErrClosed):
		return fmt.Errorf("write: %w", err)
	}
	return fmt.Errorf("write: %w: %w", net.ErrClosed, err)
}

// writeFrameLocked writes one frame and flushes it; the caller holds wmu.
// Clients mask a copy of the payload in the write buffer, so p is never
// modified. A failed write leaves the stream cut mid-frame: the connection
// is closed.
func (c *Conn) writeFrameLocked(fin bool, op Opcode, rsv byte, p []byte, code StatusCode, reason string) error {
	h := header{fin: fin, rsv: rsv, opcode: op, masked: c.client, length: uint64(len(p))}
	if c.client {
		h.key = uint32(c.rng.Uint64())
	}
	if _, err := c.bw.Write(appendHeader(c.wHdr[:0], h)); err != nil {
		return c.writeFailed(err)
	}
	if !c.client {
		if _, err := c.bw.Write(p); err != nil {
			return c.writeFailed(err)
		}
	} else if err := c.copyPayload(&h, p); err != nil {
		return err
	}
	if err := c.bw.Flush(); err != nil {
		return c.writeFailed(err)
	}
	if c.lim.onFrame {
		c.observe(Outbound, &h, code, reason)
	}
	return nil
}

// writeControlLocked writes one control frame and flushes it, like
// writeFrameLocked; the caller holds wmu. Its payload (at most 125 bytes)
// is copied into the write buffer, never handed to the underlying writer,
// so that a caller's payload can stay on its stack (a ping's time stamp, a
// close frame's code): no allocation per control frame.
func (c *Conn) writeControlLocked(op Opcode, p []byte, code StatusCode, reason string) error {
	h := header{fin: true, opcode: op, masked: c.client, length: uint64(len(p))}
	if c.client {
		h.key = uint32(c.rng.Uint64())
	}
	if _, err := c.bw.Write(appendHeader(c.wHdr[:0], h)); err != nil {
		return c.writeFailed(err)
	}
	if err := c.copyPayload(&h, p); err != nil {
		return err
	}
	if err := c.bw.Flush(); err != nil {
		return c.writeFailed(err)
	}
	if c.lim.onFrame {
		c.observe(Outbound, &h, code, reason)
	}
	return nil
}

// copyPayload copies the payload of h's frame into the write buffer,
// flushing it as it fills, and masks the copy when h is masked.
func (c *Conn) copyPayload(h *header, p []byte) error {
	pos := 0
	for len(p) > 0 {
		if c.bw.Available() == 0 {
			if err := c.bw.Flush(); err != nil {
				return c.writeFailed(err)
			}
		}
		buf := c.bw.AvailableBuffer()
		n := min(cap(buf), len(p))
		buf = append(buf, p[:n]...)
		if h.masked {
			pos = mask(h.key, pos, buf)
		}
		if _, err := c.bw.Write(buf); err != nil {
			return c.writeFailed(err)
		}
		p = p[n:]
	}
	return nil
}

// writeFailed records a write error as terminal and closes the connection.
func (c *Conn) writeFailed(err error) error {
	err = fmt.Errorf("write: %w", err)
	c.setCloseErr(err)
	if cerr := c.closeTCP(); cerr != nil {
		return errors.Join(err, cerr)
	}
	return err
}
