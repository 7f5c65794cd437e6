package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// errCloseSent is returned by writes after a close frame was sent.
var errCloseSent = fmt.Errorf("websocket: close sent: %w", errClosedForWrite)

var errClosedForWrite = errors.New("connection is closing")

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
	if err := acquire(ctx, c.msgSem); err != nil {
		return err
	}
	stop := watch(ctx, c.nc, setWriteDeadline)
	err := c.writeFrame(true, Opcode(typ), p)
	if stop != nil && !stop() {
		err = c.cancelled(ctx, err)
	}
	<-c.msgSem
	return err
}

// Ping sends a ping with payload (at most 125 bytes). The pong arrives
// through Options.OnPong while a goroutine reads.
func (c *Conn) Ping(ctx context.Context, payload []byte) error {
	if len(payload) > maxControlPayload {
		return ErrControlTooLong
	}
	stop := watch(ctx, c.nc, setWriteDeadline)
	err := c.writeFrame(true, OpPing, payload)
	if stop != nil && !stop() {
		err = c.cancelled(ctx, err)
	}
	return err
}

// Writer returns a writer for one message sent in fragments: each Write
// sends one frame, Close sends the final frame. No other message is sent
// until the writer is closed; control frames may go out between fragments.
// The context governs every call on the writer.
func (c *Conn) Writer(ctx context.Context, typ MessageType) (io.WriteCloser, error) {
	if typ != TextMessage && typ != BinaryMessage {
		return nil, ErrMessageType
	}
	if err := acquire(ctx, c.msgSem); err != nil {
		return nil, err
	}
	return &messageWriter{c: c, ctx: ctx, op: Opcode(typ)}, nil
}

// messageWriter streams one fragmented message.
type messageWriter struct {
	c      *Conn
	ctx    context.Context
	op     Opcode // OpText/OpBinary for the first frame, then OpContinuation
	closed bool
}

func (w *messageWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, fmt.Errorf("websocket: write to closed message writer: %w", errClosedForWrite)
	}
	if len(p) == 0 {
		return 0, nil
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
	err := w.frame(true, nil)
	<-w.c.msgSem
	return err
}

func (w *messageWriter) frame(fin bool, p []byte) error {
	c := w.c
	stop := watch(w.ctx, c.nc, setWriteDeadline)
	err := c.writeFrame(fin, w.op, p)
	if stop != nil && !stop() {
		err = c.cancelled(w.ctx, err)
	}
	w.op = OpContinuation
	return err
}

// writeFrame sends one frame.
func (c *Conn) writeFrame(fin bool, op Opcode, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent.Load() {
		if err := c.closedErr(); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return errCloseSent
	}
	return c.writeFrameLocked(fin, op, p, 0, "")
}

// writeFrameLocked writes one frame and flushes it; the caller holds wmu.
// Clients mask a copy of the payload in the write buffer, so p is never
// modified. A failed write leaves the stream cut mid-frame: the connection
// is closed.
func (c *Conn) writeFrameLocked(fin bool, op Opcode, p []byte, code StatusCode, reason string) error {
	h := header{fin: fin, opcode: op, masked: c.client, length: uint64(len(p))}
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
	} else {
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
			pos = mask(h.key, pos, buf)
			if _, err := c.bw.Write(buf); err != nil {
				return c.writeFailed(err)
			}
			p = p[n:]
		}
	}
	if err := c.bw.Flush(); err != nil {
		return c.writeFailed(err)
	}
	if c.lim.onFrame != nil {
		c.observe(Outbound, &h, code, reason)
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
