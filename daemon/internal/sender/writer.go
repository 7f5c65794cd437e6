package sender

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wsd-dev/wsd/daemon/internal/bufpool"
)

// writer sits under the framer's small bufio.Writer: it is where the
// framer's bytes go (Sender.Write). Outside a batch it writes straight
// through (control frames the framer sends on its own: pongs, close
// frames). Inside a batch (begin .. end, used by the one goroutine that
// owns the connection's message writes) it accumulates whole frames in a
// pooled chunk and end writes them with one system call; a batch that
// outgrows the chunk is written joined or with writev. Frames stay whole
// and in order because the framer writes each frame under its own lock.
//
// A non-blocking batch (beginNB .. endNB, on raw sockets only) never waits
// for the socket: its first frame is written at once with a non-blocking
// system call, frames behind a held one are held, endNB writes what is
// held the same way, and what the socket did not take stays held, first in
// line: the next write of any kind (the next batch's end, flush, or a
// control frame written outside a batch) sends it before anything else.
//
// The writer also owns the connection's write deadline: before each
// system call it makes sure that between half and all of the write timeout
// is left, so every write is bounded — messages and the control frames the
// framer writes on its own alike — while a busy connection moves its
// deadline only once per half timeout. Once the connection is closing the
// deadline is the closing handshake's (closing).
type writer struct {
	nc     net.Conn
	rc     syscall.RawConn // nil: no raw access, no non-blocking batches
	limits *Limits         // nil: no write timeout

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
	// here so that the callback is a method value bound once (at the
	// first raw write: a connection that never needs it allocates none).
	p       []byte
	wn      int
	werr    syscall.Errno
	writeFn func(fd uintptr) bool
}

// Write is the framer's io.Writer.
func (w *writer) Write(p []byte) (int, error) {
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
		if len(p) >= bufpool.ChunkSize {
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
func (w *writer) writeJoined(p []byte) error {
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
func (w *writer) writeNB(p []byte) (int, error) {
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
func (w *writer) hold(p []byte) {
	if len(p) == 0 {
		return
	}
	if w.buf == nil && len(p) <= bufpool.ChunkSize {
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

func (w *writer) writeLocked(p []byte) (int, error) {
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
func (w *writer) deadlineLocked() error {
	if w.limits == nil || w.closeDL.Load() != 0 {
		return nil
	}
	wt := w.limits.WriteTimeout.Load()
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
func (w *writer) closing(d time.Duration) error {
	cd := time.Now().Add(d).UnixNano()
	w.closeDL.Store(cd)
	return w.nc.SetWriteDeadline(time.Unix(0, cd))
}

// writeRawLocked writes p with non-blocking system calls until the socket
// takes no more, and returns how much it took. A deadline that has passed
// fails it (RawConn.Write checks it first), as it fails a normal write.
func (w *writer) writeRawLocked(p []byte) (int, error) {
	if err := w.deadlineLocked(); err != nil {
		return 0, err
	}
	w.p, w.wn, w.werr = p, 0, 0
	if w.writeFn == nil {
		w.writeFn = w.rawWrite
	}
	err := w.rc.Write(w.writeFn)
	n := w.wn
	if err == nil && w.werr != 0 {
		err = &net.OpError{Op: "write", Net: w.nc.LocalAddr().Network(), Source: w.nc.LocalAddr(), Addr: w.nc.RemoteAddr(), Err: os.NewSyscallError("write", w.werr)}
	}
	w.p, w.werr = nil, 0
	return n, err
}

// rawWrite is called by RawConn.Write with the socket. It always returns
// true: it never waits for writability.
func (w *writer) rawWrite(fd uintptr) bool {
	for w.wn < len(w.p) {
		n, err := syscall.Write(int(fd), w.p[w.wn:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return true
		case err != nil:
			w.werr = errno(err)
			return true
		case n <= 0:
			// Not expected of a socket; do not spin.
			return true
		}
		w.wn += n
	}
	return true
}

// errno returns the system call error err (always a syscall.Errno from
// syscall.Write on Linux), or EIO.
func errno(err error) syscall.Errno {
	if e, ok := err.(syscall.Errno); ok {
		return e
	}
	return syscall.EIO
}

// begin starts a batch.
func (w *writer) begin() {
	w.mu.Lock()
	w.batch = true
	w.mu.Unlock()
}

// beginNB starts a non-blocking batch. It fails, starting nothing, when the
// connection has no raw socket or when another goroutine is writing through
// the writer right now (it may be blocked on a full socket).
func (w *writer) beginNB() bool {
	if w.rc == nil || !w.mu.TryLock() {
		return false
	}
	w.batch, w.nb = true, true
	w.mu.Unlock()
	return true
}

// pending returns the bytes held: those of the current batch, or outside a
// batch the remainder a non-blocking batch left.
func (w *writer) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// end writes what the batch holds and leaves batch mode.
func (w *writer) end() error {
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
func (w *writer) endNB() (left bool, err error) {
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
func (w *writer) flush() error {
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

func (w *writer) flushLocked() error {
	_, err := w.writeLocked((*w.buf)[:w.n])
	w.releaseLocked()
	return err
}

// discard drops whatever is held; for a connection that is finished.
func (w *writer) discard() {
	w.mu.Lock()
	w.releaseLocked()
	w.batch, w.nb = false, false
	w.mu.Unlock()
}

func (w *writer) releaseLocked() {
	bufpool.PutChunk(w.buf)
	w.buf, w.n = nil, 0
}
