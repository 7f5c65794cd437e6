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
