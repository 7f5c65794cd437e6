package sender

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wsd-dev/wsd/protocol"
)

// Owner is the connection a Sender serves.
type Owner interface {
	// WriteFailed reports a failed write: the connection is broken (the
	// framer has closed it), or a write timed out (os.ErrDeadlineExceeded
	// in err's chain: a slow consumer). It is called once per failed
	// attempt, on the goroutine that made it, without the Sender's locks;
	// the owner closes the connection (and the Sender).
	WriteFailed(err error)
}

// Limits are the bounds every Sender of a server shares; they may be
// changed at any time and apply from the next write.
type Limits struct {
	WriteTimeout atomic.Int64 // nanoseconds per write; <= 0: none
	QueueBytes   atomic.Int64 // bytes queued per connection
}

// Result is the outcome of handing a Sender a message.
type Result uint8

const (
	Queued    Result = iota // queued: the writer goroutine sends it
	Written                 // written inline, whole
	Held                    // written inline in part: the writer goroutine sends the rest first
	Deferred                // another write held the frame lock: queued first in line
	Failed                  // the inline write failed: Owner.WriteFailed was called
	Discarded               // closed during the inline attempt, which wrote nothing: dropped
	Closed                  // the Sender is closed: dropped
	Full                    // over Limits.QueueBytes: dropped; the caller closes the connection
)

var resultNames = [...]string{"queued", "written", "held", "deferred", "failed", "discarded", "closed", "full"}

func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "unknown"
}

// Taken reports whether the message was taken (sent, or on its way, or
// lost with a connection that failed): not refused outright.
func (r Result) Taken() bool { return r < Discarded }

// Sender is one connection's send state (package doc). The zero value is
// initialized with Init, then Attach.
type Sender struct {
	w     writer
	fr    *protocol.Conn // the framer: it writes its frames into w
	owner Owner

	mu     sync.Mutex
	busy   bool // someone (inline or the writer goroutine) owns the message writes
	closed bool // no more messages are taken; the queue stays empty
	// rem: the writer holds what an inline write left, which the writer
	// goroutine sends first; held is the bytes (counted in q.bytes) of
	// the message whose tail that is. Both are set by the inline writer
	// before it starts the writer goroutine, and belong to that goroutine
	// afterwards.
	rem  bool
	held int
	q    queue

	wg       sync.WaitGroup // the writer goroutine
	msgsOut  atomic.Uint64
	bytesOut atomic.Uint64
}

// Init prepares s to write to nc. rc is nc's raw socket (nil: none, as
// with TLS; then writes never skip a goroutine without waiting: SendNB
// and Ping queue); limits are shared and read at each write.
func (s *Sender) Init(nc net.Conn, rc syscall.RawConn, limits *Limits, owner Owner) {
	s.w.nc, s.w.rc, s.w.limits = nc, rc, limits
	s.owner = owner
}

// Attach gives s the framer: the connection whose bufio.Writer writes into
// s (Write). Each frame is written whole under the framer's frame lock;
// its Try methods, which inline writes use, do not wait for that lock. It
// comes before any message is sent; the framer may write into s before (a
// handshake response).
func (s *Sender) Attach(fr *protocol.Conn) { s.fr = fr }

// Write is the framer's io.Writer: every byte the framer writes (frames,
// a handshake response) goes through it. Only the framer calls it.
func (s *Sender) Write(p []byte) (int, error) { return s.w.Write(p) }

// Send queues a message without blocking; data must not be modified
// afterwards. pm, when not nil, is data prepared once for many
// connections (a broadcast, a relay).
func (s *Sender) Send(typ protocol.MessageType, data []byte, pm *protocol.PreparedMessage, at time.Time) Result {
	return s.send(item{kind: typ, data: data, pm: pm, at: at.UnixNano()}, false)
}

// SendNB sends a prepared message (pm must not be nil) without ever
// waiting: inline with a non-blocking system call when nobody is writing
// (what the socket does not take is held, and the writer goroutine sends
// it), else through the queue.
func (s *Sender) SendNB(typ protocol.MessageType, data []byte, pm *protocol.PreparedMessage, at time.Time) Result {
	return s.send(item{kind: typ, data: data, pm: pm, at: at.UnixNano()}, true)
}

// Ping sends a keepalive ping like SendNB: inline without waiting when it
// can, so that pinging an idle connection starts no goroutine. Its payload
// is at in unix nanoseconds, 8 bytes big-endian (PingPayload). Pings do not
// count toward Limits.QueueBytes.
func (s *Sender) Ping(at time.Time) Result {
	return s.send(item{kind: kindPing, at: at.UnixNano()}, true)
}

// PingPayload is the payload of a ping sent at (unix nanoseconds), from
// which its pong measures the round trip.
func PingPayload(at int64) [8]byte {
	var p [8]byte
	binary.BigEndian.PutUint64(p[:], uint64(at))
	return p
}

// send queues it, or with inline set writes it inline (writeInline) when
// nobody owns the writes, nothing is queued and the socket allows
// non-blocking writes.
func (s *Sender) send(it item, inline bool) Result {
	n := len(it.data)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Closed
	}
	if it.kind != kindPing {
		if int64(s.q.bytes+n) > s.w.limits.QueueBytes.Load() {
			s.mu.Unlock()
			return Full
		}
		s.q.bytes += n
	}
	start := !s.busy
	if start {
		s.busy = true
		s.wg.Add(1)
		if inline && s.w.rc != nil && s.q.len() == 0 {
			s.mu.Unlock()
			return s.writeInline(it)
		}
	}
	s.q.push(it)
	s.mu.Unlock()
	if start {
		go s.writeLoop()
	}
	return Queued
}

// writeInline writes a prepared message or a ping on the caller's
// goroutine without waiting: for a frame lock another write holds (a pong
// or close frame blocked on a full socket), nor for the socket. It is
// called with busy taken, its bytes counted in q.bytes and wg.Add(1) done,
// all of which it hands to the writer goroutine when one must finish the
// job: when the message could not be written (it goes back to the head of
// the queue), when the socket did not take all of it (the goroutine sends
// the rest first), or when messages were queued meanwhile.
func (s *Sender) writeInline(it item) Result {
	n := len(it.data)
	wrote, left := false, false
	var err error
	if s.w.beginNB() {
		if it.kind == kindPing {
			p := PingPayload(it.at)
			wrote, err = s.fr.TryPing(p[:])
		} else {
			wrote, err = s.fr.TryWritePrepared(it.pm)
		}
		var ferr error
		left, ferr = s.w.endNB()
		if wrote && err == nil && it.kind != kindPing {
			s.count(n)
		}
		if err == nil {
			err = ferr
		}
	}
	s.mu.Lock()
	res, start := Written, false
	switch {
	case err != nil:
		if !s.closed {
			s.q.bytes -= n
		}
		s.busy = false
		res = Failed
	case s.closed:
		// Close has zeroed q.bytes.
		switch {
		case !wrote:
			res = Discarded
		case left:
			res = Held
		}
		if left {
			// What the socket did not take may end with the close
			// frame, written into our batch meanwhile: it must go out.
			s.rem, start = true, true
		} else {
			s.busy = false
		}
	case !wrote:
		// Another write held the frame lock. The message goes first in
		// line, its bytes still counted, after whatever the writer still
		// holds (frames the other write put in our batch).
		s.q.pushFront(it)
		s.rem, start, res = left, true, Deferred
	case left:
		// The frame's tail is held: its bytes count until it is out.
		s.held, s.rem, start, res = n, true, true, Held
	default:
		s.q.bytes -= n
		start = s.q.len() > 0 // queued meanwhile: hand them to the goroutine
		if !start {
			s.busy = false
		}
	}
	s.mu.Unlock()
	switch {
	case err != nil:
		s.wg.Done()
		s.owner.WriteFailed(err)
	case start:
		go s.writeLoop() // takes over the wg count
	default:
		s.wg.Done()
	}
	return res
}

// Reply sends a message from the goroutine that reads the connection
// (an echo): inline when nobody else is writing, blocking up to the write
// timeout, else through the queue (p is then copied). p may be reused
// once Reply returns.
func (s *Sender) Reply(typ protocol.MessageType, p []byte) Result {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Closed
	}
	if s.busy {
		s.mu.Unlock()
		return s.send(item{kind: typ, data: clone(p), at: time.Now().UnixNano()}, false)
	}
	s.busy = true
	s.q.bytes += len(p)
	s.mu.Unlock()

	s.w.begin()
	err := s.writeMessage(typ, p)
	if ferr := s.w.end(); err == nil {
		err = ferr
	}
	s.mu.Lock()
	if !s.closed {
		s.q.bytes -= len(p)
	}
	start := false
	if err == nil && !s.closed && s.q.len() > 0 {
		start = true // queued meanwhile: hand them to the writer goroutine
		s.wg.Add(1)
	} else {
		s.busy = false
	}
	s.mu.Unlock()
	if err != nil {
		s.owner.WriteFailed(err)
		return Failed
	}
	if start {
		go s.writeLoop()
	}
	return Written
}

// batchLimit is how many bytes the writer goroutine accumulates before
// writing them out even though more items are queued.
const batchLimit = 16 << 10

// writeLoop is the writer goroutine: it writes queued items until the
// queue is empty, then exits. It is started with wg.Add(1) and busy set.
// Items are batched: what the framer writes goes into one pooled chunk and
// out in one system call when the queue runs dry or the chunk fills.
func (s *Sender) writeLoop() {
	defer s.wg.Done()
	if s.rem {
		// An inline write left bytes in the writer: they go first
		// (unless a control frame written meanwhile already took them).
		err := s.w.flush()
		s.mu.Lock()
		if !s.closed {
			s.q.bytes -= s.held
		}
		s.held, s.rem = 0, false
		if err != nil {
			s.busy = false
		}
		s.mu.Unlock()
		if err != nil {
			s.owner.WriteFailed(err)
			return
		}
	}
	s.w.begin()
	for {
		s.mu.Lock()
		it, ok := s.q.pop() // closed: the queue is empty
		if !ok {
			s.mu.Unlock()
			err := s.w.end()
			s.mu.Lock()
			if err == nil && !s.closed && s.q.len() > 0 {
				// Queued while we flushed: keep going.
				s.mu.Unlock()
				s.w.begin()
				continue
			}
			s.busy = false
			s.mu.Unlock()
			if err != nil {
				s.owner.WriteFailed(err)
			}
			return
		}
		s.mu.Unlock()
		err := s.writeItem(it)
		if err == nil && s.w.pending() >= batchLimit {
			err = s.w.end()
			s.w.begin()
		}
		s.mu.Lock()
		if it.kind != kindPing && !s.closed {
			s.q.bytes -= len(it.data)
		}
		if err != nil {
			s.busy = false
		}
		s.mu.Unlock()
		if err != nil {
			// What the batch still holds cannot be delivered either.
			s.owner.WriteFailed(errors.Join(err, s.w.end()))
			return
		}
	}
}

// writeItem writes one item; the writer's deadline bounds each write.
func (s *Sender) writeItem(it item) error {
	if it.kind == kindPing {
		p := PingPayload(it.at)
		return s.fr.Ping(context.Background(), p[:])
	}
	if it.pm != nil {
		if err := s.fr.WritePrepared(context.Background(), it.pm); err != nil {
			return err
		}
		s.count(len(it.data))
		return nil
	}
	return s.writeMessage(it.kind, it.data)
}

func (s *Sender) writeMessage(typ protocol.MessageType, p []byte) error {
	if err := s.fr.Write(context.Background(), typ, p); err != nil {
		return err
	}
	s.count(len(p))
	return nil
}

func (s *Sender) count(n int) {
	s.msgsOut.Add(1)
	s.bytesOut.Add(uint64(n))
}

// Out returns the messages and bytes written so far.
func (s *Sender) Out() (msgs, bytes uint64) { return s.msgsOut.Load(), s.bytesOut.Load() }

// Queued returns the bytes queued, being written or held, and the enqueue
// time (unix nanoseconds) of the oldest message queued, or 0.
func (s *Sender) Queued() (bytes int, oldest int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.q.bytes, s.q.oldest()
}

// Close stops taking messages and discards the queue; it returns how many
// messages it discarded (0 when already closed). It does not wait: an
// inline write in progress finishes, and a running writer goroutine
// flushes its batch — which may end with the close frame the framer
// writes next — and exits.
func (s *Sender) Close() (discarded int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0
	}
	s.closed = true
	discarded = s.q.len()
	s.q.reset()
	s.q.bytes = 0
	return discarded
}

// CloseDeadline bounds every write from now on, including one blocked
// right now, by d: the closing handshake's time. It does not wait for a
// blocked write.
func (s *Sender) CloseDeadline(d time.Duration) error { return s.w.closing(d) }

// Wait waits for the writer goroutine, if any, to end. It is called once
// the Sender is closed, before Release.
func (s *Sender) Wait() { s.wg.Wait() }

// Release drops whatever the writer still holds (what an inline write left
// on a connection that has ended) and gives its buffer back.
func (s *Sender) Release() { s.w.discard() }

func clone(p []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}
