package daemon

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// Idle connections should cost (almost) no buffer memory, yet busy ones
// should read and write in large chunks with one system call per batch.
// The protocol package keeps one bufio.Reader and one bufio.Writer per
// connection for its whole life; the daemon hands it tiny ones (16 and
// WriteBufferSize bytes) layered over lazyReader and lazyWriter, which borrow
// a pooled chunk only while bytes are actually in transit.

// chunkSize is the size of the pooled chunks: the largest read system call
// and the batch a writer accumulates before writing.
const chunkSize = 16 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

func getChunk() *[]byte  { return chunkPool.Get().(*[]byte) }
func putChunk(b *[]byte) { chunkPool.Put(b) }

// lazyReader reads from a connection into a pooled chunk that it holds only
// while some of the chunk is unread. While the connection is idle it holds
// no buffer: it waits for readability through syscall.RawConn and borrows a
// chunk only when a read will return data. Deadlines set on the connection
// apply (RawConn.Read honours them). It is used by one goroutine at a time
// (the protocol's reader).
type lazyReader struct {
	nc  net.Conn
	rc  syscall.RawConn // nil: no raw access, read through a kept chunk
	buf *[]byte
	r   int
	w   int

	// Results of readFn, which RawConn.Read calls; kept here so that the
	// callback is a method value bound once (no allocation per read).
	n      int
	err    error
	readFn func(fd uintptr) bool
	peekFn func(fd uintptr) bool
	peekB  [1]byte

	// The idle pong path (takePong).
	pongFn  func(fd uintptr) bool
	pongBuf [maxIdlePong]byte
	pongLen int  // payload bytes of the pong taken, or -1
	broken  bool // a pong was only partly consumed: the stream is lost
}

func newLazyReader(nc net.Conn) *lazyReader {
	l := &lazyReader{nc: nc}
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			l.rc = rc
		}
	}
	l.readFn = l.rawRead
	l.peekFn = l.rawPeek
	l.pongFn = l.rawPong
	return l
}

// waitReadable blocks until the connection has input (or an error, or a
// deadline), without reading it. The connection's goroutine parks here,
// rather than deep inside the protocol's read path, while a connection is
// idle: its stack stays at the minimum 2 KiB (the GC shrinks it back after
// activity). Errors are left for the read that follows. It touches only
// the socket and peekB, so it may run while another goroutine reads; the
// caller checks first that nothing is buffered.
func (l *lazyReader) waitReadable() {
	if l.rc == nil {
		return
	}
	if err := l.rc.Read(l.peekFn); err != nil {
		return // the next read reports it
	}
}

// rawPeek reports whether the socket has input (or an error) to read.
func (l *lazyReader) rawPeek(fd uintptr) bool {
	for {
		_, _, err := syscall.Recvfrom(int(fd), l.peekB[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if err == syscall.EINTR {
			continue
		}
		return err != syscall.EAGAIN
	}
}

// seed makes p (bytes read past the handshake) the first bytes returned.
func (l *lazyReader) seed(p []byte) {
	if len(p) == 0 {
		return
	}
	if len(p) > chunkSize {
		// Cannot happen: the handshake reader is smaller than a chunk.
		b := make([]byte, len(p))
		l.buf = &b
	} else {
		l.buf = getChunk()
	}
	l.r, l.w = 0, copy(*l.buf, p)
}

// buffered returns the bytes held and not yet read.
func (l *lazyReader) buffered() int { return l.w - l.r }

func (l *lazyReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if l.r < l.w {
		n := copy(p, (*l.buf)[l.r:l.w])
		l.r += n
		if l.r == l.w {
			l.release()
		}
		return n, nil
	}
	if len(p) >= chunkSize || l.rc == nil {
		// Large reads go straight into the caller's memory.
		return l.nc.Read(p)
	}
	l.n, l.err = 0, nil
	if err := l.rc.Read(l.readFn); err != nil {
		l.release()
		return 0, err
	}
	if l.err != nil {
		l.release()
		return 0, l.err
	}
	l.r, l.w = 0, l.n
	n := copy(p, (*l.buf)[:l.w])
	l.r = n
	if l.r == l.w {
		l.release()
	}
	return n, nil
}

// rawRead is called by RawConn.Read with the socket; false means "wait for
// readability and call again". The chunk is borrowed only around the read.
func (l *lazyReader) rawRead(fd uintptr) bool {
	if l.buf == nil {
		l.buf = getChunk()
	}
	for {
		n, err := syscall.Read(int(fd), *l.buf)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			l.release()
			return false
		case err != nil:
			l.err = os.NewSyscallError("read", err)
		case n == 0:
			l.err = io.EOF
		default:
			l.n = n
		}
		return true
	}
}

// maxIdlePong is the largest pong frame takePong consumes: header, masking
// key and the 8-byte payload of the daemon's own pings.
const maxIdlePong = 2 + 4 + 8

// takePong consumes a pong frame waiting at the head of the socket, if that
// is what is there, and returns its unmasked payload (valid until the next
// call). It exists for idle connections: the protocol handles control
// frames inside ReadInto and returns only with a data message, so reading
// the keepalive pong through it would leave the goroutine parked deep in the
// read path (and its stack at 4 KiB) until the client next sends a message.
//
// The caller guarantees that the protocol is between messages with nothing
// buffered and that no other goroutine reads (it holds conn.mu with the
// connection not closing; see conn.serve). Only a complete, final, masked
// pong with at most 8 bytes of payload and no RSV bits is taken; anything
// else is left for the protocol, which validates it.
func (l *lazyReader) takePong() ([]byte, bool) {
	if l.rc == nil || l.r < l.w {
		return nil, false
	}
	l.pongLen = -1
	if err := l.rc.Read(l.pongFn); err != nil || l.pongLen < 0 {
		return nil, false
	}
	p := l.pongBuf[6 : 6+l.pongLen]
	for i := range p {
		p[i] ^= l.pongBuf[2+i%4]
	}
	return p, true
}

func (l *lazyReader) rawPong(fd uintptr) bool {
	n, _, err := syscall.Recvfrom(int(fd), l.pongBuf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	if err != nil || n < 2 {
		return true // nothing there after all, or an error the protocol will see
	}
	const finPong, masked = 0x80 | 0x0A, 0x80
	size := int(l.pongBuf[1] &^ masked)
	if l.pongBuf[0] != finPong || l.pongBuf[1]&masked == 0 || size > maxIdlePong-6 || n < 6+size {
		return true
	}
	m, err := syscall.Read(int(fd), l.pongBuf[:6+size])
	if err != nil || m != 6+size {
		// Cannot happen for bytes just peeked on a stream socket; if it
		// did, the frame stream would be cut.
		l.broken = true
		return true
	}
	l.pongLen = size
	return true
}

func (l *lazyReader) release() {
	if l.buf != nil && cap(*l.buf) == chunkSize {
		putChunk(l.buf)
	}
	l.buf, l.r, l.w = nil, 0, 0
}

// lazyWriter sits under the protocol's small bufio.Writer. Outside a batch
// it writes straight through (control frames the protocol sends on its own:
// pongs, close frames). Inside a batch (begin .. end, used by the one
// goroutine that writes the connection's messages) it accumulates whole
// frames in a pooled chunk and end writes them with one system call; a
// batch that outgrows the chunk is written with writev. Frames stay whole
// and in order because the protocol writes each frame under its own lock.
type lazyWriter struct {
	nc net.Conn

	mu    sync.Mutex
	batch bool
	buf   *[]byte
	n     int
	err   error // sticky: the connection is broken
}

func newLazyWriter(nc net.Conn) *lazyWriter { return &lazyWriter{nc: nc} }

func (w *lazyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if !w.batch {
		n, err := w.nc.Write(p)
		if err != nil {
			w.err = err
		}
		return n, err
	}
	if w.buf == nil {
		if len(p) >= chunkSize {
			return w.writeLocked(p)
		}
		w.buf = getChunk()
	}
	if w.n+len(p) <= chunkSize {
		w.n += copy((*w.buf)[w.n:], p)
		return len(p), nil
	}
	bufs := net.Buffers{(*w.buf)[:w.n], p}
	_, err := bufs.WriteTo(w.nc)
	w.releaseLocked()
	if err != nil {
		w.err = err
		return 0, err
	}
	return len(p), nil
}

func (w *lazyWriter) writeLocked(p []byte) (int, error) {
	n, err := w.nc.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

// begin starts a batch.
func (w *lazyWriter) begin() {
	w.mu.Lock()
	w.batch = true
	w.mu.Unlock()
}

// pending returns the bytes held by the current batch.
func (w *lazyWriter) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// end writes what the batch holds and leaves batch mode.
func (w *lazyWriter) end() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.batch = false
	if w.buf == nil {
		return w.err
	}
	var err error
	if w.err == nil && w.n > 0 {
		_, err = w.writeLocked((*w.buf)[:w.n])
	}
	w.releaseLocked()
	if err == nil {
		err = w.err
	}
	return err
}

func (w *lazyWriter) releaseLocked() {
	if w.buf != nil {
		putChunk(w.buf)
	}
	w.buf, w.n = nil, 0
}

// isTimeout reports whether err is a deadline expiry.
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
