package sender

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/protocol"
)

// The tests below walk the Sender's transitions (package doc) with a real
// *protocol.Conn as its framer, over loopback TCP whose server side has a
// small send buffer, and a peer that reads the raw frames (or does not).

// owner records the failures a Sender reports.
type owner struct{ failed chan error }

func (o *owner) WriteFailed(err error) {
	select {
	case o.failed <- err:
	default:
	}
}

// hijacker hands protocol.Accept the connection and the buffers to use:
// a tiny reader, and a small writer over the Sender.
type hijacker struct {
	nc  net.Conn
	brw *bufio.ReadWriter
	h   http.Header
}

func (h *hijacker) Header() http.Header         { return h.h }
func (h *hijacker) Write(p []byte) (int, error) { return h.brw.Write(p) }
func (h *hijacker) WriteHeader(int)             {}
func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return h.nc, h.brw, nil
}

type fixture struct {
	t      *testing.T
	s      *Sender
	ws     *protocol.Conn
	nc     net.Conn // the server's side
	peer   net.Conn
	pr     *bufio.Reader
	own    *owner
	limits *Limits
}

// newFixture returns a Sender serving an upgraded connection whose send
// buffer is small (4 KiB asked: the kernel makes it 8). The write timeout
// is 10 s, or the one given.
func newFixture(t *testing.T, writeTimeout ...time.Duration) *fixture {
	t.Helper()
	peer, nc := tcpPair(t)
	if err := nc.(*net.TCPConn).SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, s: new(Sender), nc: nc, peer: peer, pr: bufio.NewReader(peer),
		own: &owner{failed: make(chan error, 16)}, limits: &Limits{}}
	f.limits.WriteTimeout.Store(int64(10 * time.Second))
	for _, d := range writeTimeout {
		f.limits.WriteTimeout.Store(int64(d))
	}
	f.limits.QueueBytes.Store(64 << 20)
	f.s.Init(nc, rawConn(nc), f.limits, f.own)
	req := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/"}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Host: "test", Header: http.Header{
			"Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Sec-Websocket-Version": {"13"},
			"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="},
		}}
	h := &hijacker{nc: nc, h: http.Header{}, brw: bufio.NewReadWriter(bufio.NewReaderSize(nc, 16), bufio.NewWriterSize(f.s, 128))}
	ws, err := protocol.Accept(h, req, &protocol.AcceptOptions{Options: protocol.Options{
		ReadBufferSize: 16, WriteBufferSize: 128, CloseTimeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	f.ws = ws
	f.s.Attach(ws)
	t.Cleanup(func() {
		ws.CloseNow()
		f.s.Close()
		f.s.Wait()
		f.s.Release()
	})
	tp := textproto.NewReader(f.pr)
	if line, err := tp.ReadLine(); err != nil || line != "HTTP/1.1 101 Switching Protocols" {
		t.Fatalf("handshake: %q %v", line, err)
	}
	if _, err := tp.ReadMIMEHeader(); err != nil {
		t.Fatal(err)
	}
	return f
}

// state is a snapshot of the Sender's state.
type state struct {
	busy, closed, rem bool
	queued, bytes     int
	held              int
}

func (f *fixture) state() state {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	return state{busy: f.s.busy, closed: f.s.closed, rem: f.s.rem, queued: f.s.q.len(), bytes: f.s.q.bytes, held: f.s.held}
}

// idle checks that the Sender is Idle: no owner, nothing queued or held,
// no writer goroutine (Wait returns), no queue storage and no buffer.
func (f *fixture) idle() {
	f.t.Helper()
	f.s.Wait()
	if st := f.state(); st != (state{}) || f.s.q.items != nil {
		f.t.Fatalf("not idle: %+v", st)
	}
	if n := f.s.w.pending(); n != 0 {
		f.t.Fatalf("idle with %d bytes held", n)
	}
}

// frame reads one frame the server sent (unmasked).
func (f *fixture) frame() (protocol.Opcode, []byte) {
	f.t.Helper()
	if err := f.peer.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		f.t.Fatal(err)
	}
	var h [2]byte
	if _, err := io.ReadFull(f.pr, h[:]); err != nil {
		f.t.Fatalf("frame header: %v", err)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(f.pr, b[:]); err != nil {
			f.t.Fatal(err)
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(f.pr, b[:]); err != nil {
			f.t.Fatal(err)
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(f.pr, p); err != nil {
		f.t.Fatalf("frame payload: %v", err)
	}
	if h[0]&0x80 == 0 {
		f.t.Fatal("fragmented frame")
	}
	return protocol.Opcode(h[0] & 0x0f), p
}

// expect reads a frame and checks it.
func (f *fixture) expect(op protocol.Opcode, want []byte) {
	f.t.Helper()
	gotOp, got := f.frame()
	if gotOp != op || !bytes.Equal(got, want) {
		f.t.Fatalf("got %v frame of %d bytes, want %v of %d", gotOp, len(got), op, len(want))
	}
}

// fill fills the server's socket; the peer must read what it returns
// before anything the Sender writes.
func (f *fixture) fill() []byte {
	f.t.Helper()
	return fillSocket(f.t, f.nc)
}

// skip reads and checks n bytes the test wrote past the Sender.
func (f *fixture) skip(want []byte) {
	f.t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(f.pr, got); err != nil || !bytes.Equal(got, want) {
		f.t.Fatalf("filler: %v", err)
	}
}

func prepared(t *testing.T, p []byte) *protocol.PreparedMessage {
	t.Helper()
	pm, err := protocol.NewPreparedMessage(protocol.BinaryMessage, p)
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

func (f *fixture) sendNB(p []byte) Result {
	return f.s.SendNB(protocol.BinaryMessage, p, prepared(f.t, p), time.Now())
}

func (f *fixture) want(got, want Result) {
	f.t.Helper()
	if got != want {
		f.t.Fatalf("result %v, want %v", got, want)
	}
}

func (f *fixture) noFailure() {
	f.t.Helper()
	select {
	case err := <-f.own.failed:
		f.t.Fatalf("write failed: %v", err)
	default:
	}
}

// lockedWriter waits until a write holds the Sender's writer (blocked on
// the full socket).
func (f *fixture) lockedWriter() {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for f.s.w.mu.TryLock() {
		f.s.w.mu.Unlock()
		if time.Now().After(deadline) {
			f.t.Fatal("no write took the writer")
		}
		time.Sleep(time.Millisecond)
	}
}
