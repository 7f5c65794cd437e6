package daemon

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wsd-dev/wsd/daemon/internal/bufpool"
)

// Idle connections should cost (almost) no buffer memory, yet busy ones
// should read and write in large chunks with one system call per batch.
// The protocol package keeps one bufio.Reader and one bufio.Writer per
// connection for its whole life; the daemon hands it tiny ones (16 and
// WriteBufferSize bytes) layered over lazyReader and lazyWriter, which borrow
// a pooled chunk only while bytes are actually in transit.

// chunkSize is the size of the pooled chunks (bufpool): the largest read
// system call and the batch a writer accumulates before writing.
const chunkSize = bufpool.ChunkSize

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
	// callback is a method value bound once (no allocation per read). The
	// callbacks are bound at their first use: a connection that stays idle
	// never needs them.
	n      int
	err    error
	readFn func(fd uintptr) bool
	peekFn func(fd uintptr) bool
	peekB  [1]byte
}

// rawConn returns nc's raw socket access, or nil (TLS, pipes). It is
// allocated: get it once per connection and share it.
func rawConn(nc net.Conn) syscall.RawConn {
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			return rc
		}
	}
	return nil
}

// newLazyReader returns a reader of nc; rc is rawConn(nc).
func newLazyReader(nc net.Conn, rc syscall.RawConn) *lazyReader {
	return &lazyReader{nc: nc, rc: rc}
}

// waitReadable blocks until the connection has input (or an error, or a
// deadline), without reading it. The connection's goroutine parks here,
// rather than deep inside the protocol's read path, while a connection is
// idle: its stack stays at the minimum 2 KiB (the GC shrinks it back after
// activity). Errors are left for the read that follows. It touches only
// the socket, peekB and peekFn, which no read uses, so it may run while
// another goroutine reads; the caller checks first that nothing is
// buffered.
func (l *lazyReader) waitReadable() {
	if l.rc == nil {
		return
	}
	if l.peekFn == nil {
		l.peekFn = l.rawPeek
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
		l.buf = bufpool.GetChunk()
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
	if l.readFn == nil {
		l.readFn = l.rawRead
	}
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
		l.buf = bufpool.GetChunk()
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
	bufpool.PutChunk(l.buf)
	l.buf, l.r, l.w = nil, 0, 0
}

// lazyWriter sits under the protocol's small bufio.Writer. Outside a batch
// it writes straight through (control frames the protocol sends on its own:
// pongs, close frames). Inside a batch (begin .. end, used by the one
// goroutine that writes the connection's messages) it accumulates whole
// frames in a pooled chunk and end writes them with one system call; a
// batch that outgrows the chunk is written with writev. Frames stay whole
// and in order because the protocol writes each frame under its own lock.
//
// A non-blocking batch (beginNB .. endNB, on raw sockets only) never waits
// for the socket: its first frame is written at once with a non-blocking
// system call, frames behind a held one are held, endNB writes what is held
// the same way, and what the socket did not take stays held, first in line:
// the next write of any kind (the next batch's end, flush, or a control
// frame written outside a batch) sends it before anything else.
//
// The lazyWriter also owns the connection's write deadline: before each
// system call it makes sure that between half and all of the write timeout
// is left, so every write is bounded — messages and the control frames the
// protocol writes on its own alike — while a busy connection moves its
// deadline only once per half timeout. Once the connection is closing the
// deadline is the closing handshake's (closing).
type lazyWriter struct {
	nc      net.Conn
	rc      syscall.RawConn // nil: no raw access, no non-blocking batches
	timeout *atomic.Int64   // the write timeout in nanoseconds, shared by the daemon

	mu    sync.Mutex
	batch bool
	nb    bool    // the batch is non-blocking (beginNB)
	buf   *[]byte // a pooled chunk, or a larger buffer holding a remainder
	n     int     // bytes held in buf: the batch, or a remainder outside one
	err   error   // sticky: the connection is broken
	dl    int64   // the write deadline set on nc, unix nanoseconds

	// closeDL is the closing handshake's deadline (unix nanoseconds; 0:
	// not closing). It is set without mu, which a writer blocked on a
	// full socket may hold: the new deadline is what unblocks it.
	closeDL atomic.Int64

	// Argument and results of rawWrite, which RawConn.Write calls; kept
	// here so that the callback is a method value bound once.
	p       []byte
	wn      int
	werr    error
	writeFn func(fd uintptr) bool
}

// newLazyWriter returns a writer to nc; rc is rawConn(nc), timeout the
// write timeout (nil: none).
func newLazyWriter(nc net.Conn, rc syscall.RawConn, timeout *atomic.Int64) *lazyWriter {
	return &lazyWriter{nc: nc, rc: rc, timeout: timeout}
}

func (w *lazyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if !w.batch {
		if w.n > 0 {
			// A remainder left by endNB goes first.
			if err := w.flushLocked(); err != nil {
				return 0, err
			}
		}
		return w.writeLocked(p)
	}
	if w.nb {
		return w.writeNB(p)
	}
	if w.buf == nil {
		if len(p) >= chunkSize {
			return w.writeLocked(p)
		}
		w.buf = bufpool.GetChunk()
	}
	if w.n+len(p) <= len(*w.buf) {
		w.n += copy((*w.buf)[w.n:], p)
		return len(p), nil
	}
	err := w.deadlineLocked()
	if err == nil {
		err = w.writeJoined(p)
	}
	w.releaseLocked()
	if err != nil {
		w.err = err
		return 0, err
	}
	return len(p), nil
}

// writeJoined writes what the chunk holds and then p, from one contiguous
// buffer (from bufpool.Large) when they fit its largest class. The kernel
// copies a contiguous buffer much faster than the two parts given to
// writev: p usually starts mid-frame (bufio filled the chunk with the
// frame's first bytes), so its bytes land in the socket buffer misaligned
// with where they come from, and the kernel's copy slows down badly on
// that (echo of 64 KiB over one connection: 0.37 of gorilla's CPU with
// writev, 0.24 joined; the copy into the joining buffer costs a few µs).
func (w *lazyWriter) writeJoined(p []byte) error {
	n := w.n + len(p)
	if !bufpool.Pooled(n) {
		bufs := net.Buffers{(*w.buf)[:w.n], p}
		_, err := bufs.WriteTo(w.nc)
		return err
	}
	b := append(append(bufpool.Large().Get(n), (*w.buf)[:w.n]...), p...)
	_, err := w.nc.Write(b)
	bufpool.Large().Put(b)
	return err
}

// writeNB is Write inside a non-blocking batch: it never waits. When
// nothing is held before it, p is written at once, without waiting and
// without a copy (the usual case: a broadcast's single frame); whatever
// the socket does not take is held.
func (w *lazyWriter) writeNB(p []byte) (int, error) {
	rest := p
	if w.n == 0 {
		k, err := w.writeRawLocked(p)
		if err != nil {
			w.err = err
			w.releaseLocked()
			return 0, err
		}
		rest = p[k:]
	}
	w.hold(rest)
	return len(p), nil
}

// hold appends p to the bytes held, growing past the chunk if it must.
func (w *lazyWriter) hold(p []byte) {
	if len(p) == 0 {
		return
	}
	if w.buf == nil && len(p) <= chunkSize {
		w.buf = bufpool.GetChunk()
	}
	if w.buf == nil || w.n+len(p) > len(*w.buf) {
		b := make([]byte, w.n+len(p))
		if w.buf != nil {
			copy(b, (*w.buf)[:w.n])
			bufpool.PutChunk(w.buf)
		}
		w.buf = &b
	}
	w.n += copy((*w.buf)[w.n:], p)
}

func (w *lazyWriter) writeLocked(p []byte) (int, error) {
	if err := w.deadlineLocked(); err != nil {
		w.err = err
		return 0, err
	}
	n, err := w.nc.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

// deadlineLocked makes sure the next write has between half and all of the
// write timeout: the deadline moves only when less than half is left,
// which spares a timer update per write on busy connections.
func (w *lazyWriter) deadlineLocked() error {
	if w.timeout == nil || w.closeDL.Load() != 0 {
		return nil
	}
	wt := w.timeout.Load()
	now := time.Now().UnixNano()
	if wt <= 0 || w.dl-now > wt/2 {
		return nil
	}
	w.dl = now + wt
	if err := w.nc.SetWriteDeadline(time.Unix(0, w.dl)); err != nil {
		return err
	}
	if cd := w.closeDL.Load(); cd != 0 {
		// closing ran meanwhile, maybe before our SetWriteDeadline:
		// its deadline stands.
		return w.nc.SetWriteDeadline(time.Unix(0, cd))
	}
	return nil
}

// closing bounds every write from now on, including one blocked right now,
// by d, the closing handshake's time. It does not wait for mu.
func (w *lazyWriter) closing(d time.Duration) error {
	cd := time.Now().Add(d).UnixNano()
	w.closeDL.Store(cd)
	return w.nc.SetWriteDeadline(time.Unix(0, cd))
}

// writeRawLocked writes p with non-blocking system calls until the socket
// takes no more, and returns how much it took. A deadline that has passed
// fails it (RawConn.Write checks it first), as it fails a normal write.
func (w *lazyWriter) writeRawLocked(p []byte) (int, error) {
	if err := w.deadlineLocked(); err != nil {
		return 0, err
	}
	w.p, w.wn, w.werr = p, 0, nil
	if w.writeFn == nil {
		w.writeFn = w.rawWrite // bound at the first raw write, like lazyReader's
	}
	err := w.rc.Write(w.writeFn)
	n := w.wn
	if err == nil && w.werr != nil {
		err = &net.OpError{Op: "write", Net: w.nc.LocalAddr().Network(), Source: w.nc.LocalAddr(), Addr: w.nc.RemoteAddr(), Err: w.werr}
	}
	w.p, w.werr = nil, nil
	return n, err
}

// rawWrite is called by RawConn.Write with the socket. It always returns
// true: it never waits for writability.
func (w *lazyWriter) rawWrite(fd uintptr) bool {
	for w.wn < len(w.p) {
		n, err := syscall.Write(int(fd), w.p[w.wn:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return true
		case err != nil:
			w.werr = os.NewSyscallError("write", err)
			return true
		case n <= 0:
			// Not expected of a socket; do not spin.
			return true
		}
		w.wn += n
	}
	return true
}

// begin starts a batch.
func (w *lazyWriter) begin() {
	w.mu.Lock()
	w.batch = true
	w.mu.Unlock()
}

// beginNB starts a non-blocking batch. It fails, starting nothing, when the
// connection has no raw socket or when another goroutine is writing through
// the lazyWriter right now (it may be blocked on a full socket).
func (w *lazyWriter) beginNB() bool {
	if w.rc == nil || !w.mu.TryLock() {
		return false
	}
	w.batch, w.nb = true, true
	w.mu.Unlock()
	return true
}

// pending returns the bytes held: those of the current batch, or outside a
// batch the remainder a non-blocking batch left.
func (w *lazyWriter) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// end writes what the batch holds and leaves batch mode.
func (w *lazyWriter) end() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.batch, w.nb = false, false
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

// endNB leaves a non-blocking batch: it writes what the batch holds without
// waiting and keeps what the socket did not take. left reports whether
// anything is kept (flush, or any later write, sends it first).
func (w *lazyWriter) endNB() (left bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.batch, w.nb = false, false
	if w.err != nil {
		w.releaseLocked()
		return false, w.err
	}
	if w.n == 0 {
		w.releaseLocked()
		return false, nil
	}
	k, err := w.writeRawLocked((*w.buf)[:w.n])
	if err != nil {
		w.err = err
		w.releaseLocked()
		return false, err
	}
	if k == w.n {
		w.releaseLocked()
		return false, nil
	}
	w.n = copy(*w.buf, (*w.buf)[k:w.n])
	return true, nil
}

// flush writes, blocking, what a non-blocking batch left. It is called
// outside a batch by the owner of the connection's writes.
func (w *lazyWriter) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		w.releaseLocked()
		return w.err
	}
	if w.batch || w.n == 0 {
		return nil
	}
	return w.flushLocked()
}

func (w *lazyWriter) flushLocked() error {
	_, err := w.writeLocked((*w.buf)[:w.n])
	w.releaseLocked()
	return err
}

// discard drops whatever is held; for a connection that is finished.
func (w *lazyWriter) discard() {
	w.mu.Lock()
	w.releaseLocked()
	w.batch, w.nb = false, false
	w.mu.Unlock()
}

func (w *lazyWriter) releaseLocked() {
	bufpool.PutChunk(w.buf)
	w.buf, w.n = nil, 0
}

// isTimeout reports whether err is a deadline expiry.
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
