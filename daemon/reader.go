package daemon

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/wsd-dev/wsd/daemon/internal/bufpool"
)

// Idle connections should cost (almost) no buffer memory, yet busy ones
// should read and write in large chunks with one system call per batch.
// The protocol package keeps one bufio.Reader and one bufio.Writer per
// connection for its whole life; the daemon hands it tiny ones (16 and
// WriteBufferSize bytes) layered over lazyReader and the connection's
// sender (internal/sender), which borrow a pooled chunk only while bytes
// are actually in transit.

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

	// in counts the bytes the protocol has taken: the keepalive scanner
	// takes any of them as a sign of life (a pong may be queued behind
	// a long upload's frames). Counted as they are consumed rather than
	// as the socket gives them, so that a chunk that takes long to work
	// through still shows progress.
	in atomic.Uint64
	// dead: the peer was declared unresponsive; a read that would wait
	// for it fails at once instead (errPeerDead).
	dead atomic.Bool
}

// errPeerDead is what a read that would wait returns once the peer has been
// declared unresponsive.
var errPeerDead = fmt.Errorf("peer declared unresponsive: %w", os.ErrDeadlineExceeded)

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
		return err != syscall.EAGAIN || l.dead.Load()
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
		l.in.Add(uint64(n))
		l.r += n
		if l.r == l.w {
			l.release()
		}
		return n, nil
	}
	if len(p) >= chunkSize || l.rc == nil {
		// Large reads go straight into the caller's memory.
		n, err := l.nc.Read(p)
		l.in.Add(uint64(n))
		return n, err
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
	l.in.Add(uint64(n))
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
			if l.dead.Load() {
				l.err = errPeerDead
				return true
			}
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

// isTimeout reports whether err is a deadline expiry.
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
