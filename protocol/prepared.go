package protocol

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
)

// PreparedMessage is a message framed (and compressed) once and written to
// many connections, for broadcasts. Each distinct negotiation among the
// receivers (uncompressed, or compressed for a given window) costs one
// encoding; connections that keep a compression context, and clients (whose
// frames need their own masking key), fall back to a normal Write.
type PreparedMessage struct {
	typ  MessageType
	data []byte

	// plain is the uncompressed frame once encoded: most receivers of a
	// broadcast take it, each without a lock.
	plain atomic.Pointer[preparedFrame]

	mu     sync.Mutex
	frames []*preparedFrame // compressed encodings
}

type preparedFrame struct {
	compressed bool
	bits       int
	level      int
	wire       []byte
	hdr        header // wire's header, for OnFrame
}

// NewPreparedMessage prepares data as a message of type typ. data must not
// be modified afterwards.
func NewPreparedMessage(typ MessageType, data []byte) (*PreparedMessage, error) {
	if typ != TextMessage && typ != BinaryMessage {
		return nil, ErrMessageType
	}
	return &PreparedMessage{typ: typ, data: data}, nil
}

// frame returns the wire form of the message for a server connection with
// the given compression state (nil: uncompressed), encoding it on first use.
func (pm *PreparedMessage) frame(df *deflateState) (*preparedFrame, error) {
	compressed := df != nil && (df.threshold < 0 || len(pm.data) >= df.threshold)
	if !compressed {
		if f := pm.plain.Load(); f != nil {
			return f, nil
		}
	}
	var bits, level int
	if compressed {
		bits, level = df.writeBits, df.level
	}
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if !compressed {
		if f := pm.plain.Load(); f != nil {
			return f, nil
		}
	}
	for _, f := range pm.frames {
		if f.compressed == compressed && f.bits == bits && f.level == level {
			return f, nil
		}
	}
	payload := pm.data
	var rsv byte
	if compressed {
		var buf bytes.Buffer
		st := &deflateState{level: level, writeBits: bits}
		if err := st.compress(&buf, pm.data); err != nil {
			return nil, err
		}
		payload, rsv = buf.Bytes(), rsv1
	}
	h := header{fin: true, rsv: rsv, opcode: Opcode(pm.typ), length: uint64(len(payload))}
	wire := append(appendHeader(make([]byte, 0, maxHeaderSize+len(payload)), h), payload...)
	f := &preparedFrame{compressed: compressed, bits: bits, level: level, wire: wire, hdr: h}
	if compressed {
		pm.frames = append(pm.frames, f)
	} else {
		pm.plain.Store(f)
	}
	return f, nil
}

// WritePrepared sends a prepared message. It behaves like Write.
func (c *Conn) WritePrepared(ctx context.Context, pm *PreparedMessage) error {
	if c.client || (c.df != nil && c.df.writeContext) {
		return c.Write(ctx, pm.typ, pm.data)
	}
	f, err := pm.frame(c.df)
	if err != nil {
		return err
	}
	if err := c.msgSem.acquire(ctx); err != nil {
		return err
	}
	stop := watch(ctx, c.nc, setWriteDeadline)
	err = c.writeWire(f)
	if stop != nil && !stop() {
		err = c.cancelled(ctx, err)
	}
	c.msgSem.release()
	return err
}

// TryWritePrepared sends a prepared message like WritePrepared, unless that
// would mean waiting for another writer: when a message or a frame (a pong,
// a close frame) is being written by another goroutine, it returns false
// and nil without writing anything. It never waits for a lock; the write
// itself waits only as long as the underlying connection's Write does (a
// caller that must never block gives the Conn a writer that does not).
// Connections that WritePrepared would not send prepared frames to (clients,
// compression with a kept context) also return false.
func (c *Conn) TryWritePrepared(pm *PreparedMessage) (bool, error) {
	if c.client || (c.df != nil && c.df.writeContext) {
		return false, nil
	}
	f, err := pm.frame(c.df)
	if err != nil {
		return false, err
	}
	if !c.msgSem.tryAcquire() {
		return false, nil
	}
	defer c.msgSem.release()
	if !c.wmu.TryLock() {
		return false, nil
	}
	defer c.wmu.Unlock()
	return true, c.writeWireLocked(f)
}

// writeWire writes one already-framed server frame.
func (c *Conn) writeWire(f *preparedFrame) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeWireLocked(f)
}

// writeWireLocked writes one already-framed server frame; the caller holds
// wmu.
func (c *Conn) writeWireLocked(f *preparedFrame) error {
	if err := c.writeClosed(); err != nil {
		return err
	}
	var err error
	if c.fw != nil {
		_, err = c.fw.Write(f.wire) // the buffer is empty between frames
	} else if _, err = c.bw.Write(f.wire); err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		return c.writeFailed(err)
	}
	if c.lim.onFrame {
		h := f.hdr
		c.observe(Outbound, &h, 0, "")
	}
	return nil
}
