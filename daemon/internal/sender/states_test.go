package sender

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/protocol"
)

// Idle -> Inline -> Idle: a reply, a non-blocking message and a ping are
// written on the caller's goroutine, whole; nothing stays.
func TestInlineWhole(t *testing.T) {
	f := newFixture(t)
	f.idle()
	f.want(f.s.Reply(protocol.TextMessage, []byte("echo")), Written)
	f.idle()
	f.want(f.sendNB([]byte("broadcast")), Written)
	f.idle()
	at := time.Unix(0, 1234567)
	f.want(f.s.Ping(at), Written)
	f.idle()
	f.expect(protocol.OpText, []byte("echo"))
	f.expect(protocol.OpBinary, []byte("broadcast"))
	p := PingPayload(at.UnixNano())
	f.expect(protocol.OpPing, p[:])
	if msgs, n := f.s.Out(); msgs != 2 || n != uint64(len("echo")+len("broadcast")) {
		t.Fatalf("out: %d messages, %d bytes", msgs, n)
	}
	f.noFailure()
}

// Idle -> Writing -> Idle: a queued message starts the writer goroutine,
// which ends once the queue is empty.
func TestQueuedWriter(t *testing.T) {
	f := newFixture(t)
	msgs := [][]byte{[]byte("one"), pattern(2, 40<<10), []byte("three")}
	f.want(f.s.Send(protocol.TextMessage, msgs[0], nil, time.Now()), Queued)
	f.want(f.s.Send(protocol.BinaryMessage, msgs[1], prepared(t, msgs[1]), time.Now()), Queued)
	f.want(f.s.Send(protocol.TextMessage, msgs[2], nil, time.Now()), Queued)
	// While the writer is busy the ping queues behind the messages; if it
	// has already drained the queue (a fast machine, or a slow test
	// goroutine) the ping is written inline. Either way it comes last.
	if r := f.s.Ping(time.Unix(0, 7)); r != Queued && r != Written {
		t.Fatalf("ping: result %v, want queued (or written once idle)", r)
	}
	f.expect(protocol.OpText, msgs[0])
	f.expect(protocol.OpBinary, msgs[1])
	f.expect(protocol.OpText, msgs[2])
	p := PingPayload(7)
	f.expect(protocol.OpPing, p[:])
	f.idle()
	f.noFailure()
}

// Writing with a full socket: messages queue behind the one being written,
// counted in bytes and by age; Reply copies and queues; the limit refuses
// what does not fit (Full) but not pings; everything arrives in order once
// the peer reads.
func TestBusyQueuesAndLimit(t *testing.T) {
	f := newFixture(t)
	f.limits.QueueBytes.Store(400 << 10)
	filler := f.fill()
	// Large enough that the socket cannot take it, whatever room it
	// found since fill.
	first := pattern(1, 300<<10)
	start := time.Now()
	f.want(f.s.Send(protocol.BinaryMessage, first, nil, start), Queued)
	// The writer goroutine waits for the socket, in the middle of it.
	f.lockedWriter()
	start = time.Now()
	reply := []byte("reply")
	f.want(f.s.Reply(protocol.BinaryMessage, reply), Queued)
	copy(reply, "XXXXX") // the queued copy is not the caller's
	second := pattern(2, 3000)
	f.want(f.sendNB(second), Queued) // busy: no inline write
	want := len(first) + len(reply) + len(second)
	if bytes, oldest := f.s.Queued(); bytes != want || oldest < start.UnixNano() {
		t.Fatalf("queued %d bytes, oldest %d", bytes, oldest)
	}
	f.want(f.s.Send(protocol.BinaryMessage, pattern(3, 100<<10), nil, time.Now()), Full)
	f.want(f.s.Ping(time.Unix(0, 9)), Queued)
	if st := f.state(); !st.busy || st.queued != 3 || st.bytes != want {
		t.Fatalf("state %+v", st)
	}
	f.skip(filler)
	f.expect(protocol.OpBinary, first)
	f.expect(protocol.OpBinary, []byte("reply"))
	f.expect(protocol.OpBinary, second)
	p := PingPayload(9)
	f.expect(protocol.OpPing, p[:])
	f.idle()
	f.noFailure()
}

// Inline -> Writing (Held): the socket takes part of a message written
// inline; its tail is held and counted until the writer goroutine has
// sent it, before anything queued meanwhile.
func TestInlineHeld(t *testing.T) {
	f := newFixture(t)
	big := pattern(1, 256<<10)
	f.want(f.sendNB(big), Held)
	if st := f.state(); !st.busy || !st.rem || st.held != len(big) || st.bytes != len(big) {
		t.Fatalf("state after a partial inline write: %+v", st)
	}
	after := []byte("after")
	f.want(f.s.Send(protocol.TextMessage, after, nil, time.Now()), Queued)
	f.expect(protocol.OpBinary, big)
	f.expect(protocol.OpText, after)
	f.idle()

	// A full socket takes nothing at once: all of the frame is held.
	filler := f.fill()
	f.want(f.sendNB([]byte("small")), Held)
	f.skip(filler)
	f.expect(protocol.OpBinary, []byte("small"))
	f.idle()
	f.noFailure()
}

// Inline -> Writing (Deferred): a frame written past the Sender (as the
// framer writes pongs and close frames on its own) blocks on the full
// socket, holding the frame lock; a non-blocking message does not wait for
// it: it goes first in line, for the writer goroutine.
func TestInlineDeferred(t *testing.T) {
	f := newFixture(t)
	filler := f.fill()
	pinged := make(chan error, 1)
	// Large enough that the socket cannot take it, whatever room it
	// found since fill.
	own := pattern(7, 300<<10)
	go func() { pinged <- f.ws.Write(context.Background(), protocol.BinaryMessage, own) }()
	f.lockedWriter()
	msg := []byte("deferred")
	f.want(f.sendNB(msg), Deferred)
	if st := f.state(); !st.busy || st.queued != 1 || st.bytes != len(msg) {
		t.Fatalf("state %+v", st)
	}
	f.skip(filler)
	f.expect(protocol.OpBinary, own)
	if err := <-pinged; err != nil {
		t.Fatal(err)
	}
	f.expect(protocol.OpBinary, msg)
	f.idle()
	f.noFailure()
}

// Closed during an inline attempt that could not write (the frame lock
// was taken): the message is dropped (Discarded), the owner released.
func TestInlineDiscarded(t *testing.T) {
	f := newFixture(t)
	filler := f.fill()
	pinged := make(chan error, 1)
	// Large enough that the socket cannot take it, whatever room it
	// found since fill.
	own := pattern(7, 300<<10)
	go func() { pinged <- f.ws.Write(context.Background(), protocol.BinaryMessage, own) }()
	f.lockedWriter()
	// What send does before writeInline, then a Close that slips in
	// between.
	msg := []byte("lost")
	f.s.mu.Lock()
	f.s.busy = true
	f.s.q.bytes += len(msg)
	f.s.wg.Add(1)
	f.s.mu.Unlock()
	if n := f.s.Close(); n != 0 {
		t.Fatalf("Close discarded %d", n)
	}
	f.want(f.s.writeInline(item{kind: protocol.BinaryMessage, data: msg, pm: prepared(t, msg)}), Discarded)
	f.s.Wait()
	if st := f.state(); st.busy || st.bytes != 0 || st.queued != 0 {
		t.Fatalf("state %+v", st)
	}
	f.skip(filler)
	f.expect(protocol.OpBinary, own)
	if err := <-pinged; err != nil {
		t.Fatal(err)
	}
	f.noFailure()
}

// Close while the writer goroutine is blocked on the full socket: the
// queue is discarded and counted, later messages are refused (Closed);
// the message being written and then the close frame go out.
func TestCloseWhileBusy(t *testing.T) {
	f := newFixture(t)
	filler := f.fill()
	first := pattern(1, 300<<10) // more than the socket can take
	f.want(f.s.Send(protocol.BinaryMessage, first, nil, time.Now()), Queued)
	f.lockedWriter()
	for i := range 3 {
		f.want(f.s.Send(protocol.TextMessage, []byte{byte('a' + i)}, nil, time.Now()), Queued)
	}
	if n := f.s.Close(); n != 3 {
		t.Fatalf("Close discarded %d, want 3", n)
	}
	if n := f.s.Close(); n != 0 {
		t.Fatalf("second Close discarded %d", n)
	}
	if bytes, oldest := f.s.Queued(); bytes != 0 || oldest != 0 {
		t.Fatalf("closed with %d bytes queued", bytes)
	}
	f.want(f.s.Send(protocol.TextMessage, []byte("late"), nil, time.Now()), Closed)
	f.want(f.sendNB([]byte("late")), Closed)
	f.want(f.s.Reply(protocol.TextMessage, []byte("late")), Closed)
	f.want(f.s.Ping(time.Now()), Closed)
	if err := f.s.CloseDeadline(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- f.ws.Close(4000, "bye") }()
	f.skip(filler)
	f.expect(protocol.OpBinary, first)
	f.expect(protocol.OpClose, append([]byte{0x0f, 0xa0}, "bye"...))
	f.s.Wait()
	if st := f.state(); st.busy || !st.closed {
		t.Fatalf("state %+v", st)
	}
	f.peer.Close() // no answer to the close: Close gives up at EOF
	<-closed
	f.noFailure()
}

// Close with an inline write's tail held: the writer goroutine still
// sends the tail, then the close frame follows.
func TestCloseWhileHeld(t *testing.T) {
	f := newFixture(t)
	big := pattern(1, 256<<10)
	f.want(f.sendNB(big), Held)
	f.s.Close()
	closed := make(chan error, 1)
	go func() { closed <- f.ws.Close(4001, "") }()
	f.expect(protocol.OpBinary, big)
	f.expect(protocol.OpClose, []byte{0x0f, 0xa1})
	f.s.Wait()
	f.peer.Close()
	<-closed
	f.noFailure()
}

// Writing -> Failed (slow consumer): a peer that does not read makes the
// writer goroutine's write time out; the owner is told with
// os.ErrDeadlineExceeded.
func TestSlowConsumerTimeout(t *testing.T) {
	// (A timeout lowered later applies once the deadline already set,
	// for the handshake's response, is less than half of it away.)
	f := newFixture(t, 100*time.Millisecond)
	f.fill()
	f.want(f.s.Send(protocol.BinaryMessage, pattern(1, 1<<20), nil, time.Now()), Queued)
	select {
	case err := <-f.own.failed:
		if !isTimeout(err) {
			t.Fatalf("failure %v, want a timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the write never timed out")
	}
	f.s.Wait()
	if st := f.state(); st.busy {
		t.Fatalf("busy after a failure: %+v", st)
	}
}

// Inline -> Failed: a write to a connection closed under the Sender fails
// at once and the owner is told; so does a reply.
func TestInlineFailed(t *testing.T) {
	f := newFixture(t)
	if err := f.nc.Close(); err != nil {
		t.Fatal(err)
	}
	f.want(f.sendNB([]byte("x")), Failed)
	if err := <-f.own.failed; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("failure %v", err)
	}
	if st := f.state(); st.busy || st.bytes != 0 {
		t.Fatalf("state %+v", st)
	}
	f.want(f.s.Reply(protocol.TextMessage, []byte("y")), Failed)
	if err := <-f.own.failed; err == nil {
		t.Fatal("nil failure")
	}
	f.want(f.s.Send(protocol.TextMessage, []byte("z"), nil, time.Now()), Queued)
	select {
	case <-f.own.failed:
	case <-time.After(5 * time.Second):
		t.Fatal("the writer goroutine's failure was not reported")
	}
	f.s.Wait()
	if st := f.state(); st.busy {
		t.Fatalf("state %+v", st)
	}
}

// Without a raw socket (TLS) nothing is written inline without waiting.
func TestNoRawSocket(t *testing.T) {
	f := newFixture(t)
	f.s.w.rc = nil
	f.want(f.sendNB([]byte("queued")), Queued)
	f.want(f.s.Ping(time.Unix(0, 1)), Queued)
	f.expect(protocol.OpBinary, []byte("queued"))
	p := PingPayload(1)
	f.expect(protocol.OpPing, p[:])
	f.idle()
}

func TestResultString(t *testing.T) {
	for r := Queued; r <= Full; r++ {
		if r.String() == "unknown" {
			t.Errorf("result %d has no name", r)
		}
		if r.Taken() != (r <= Failed) {
			t.Errorf("%v.Taken() = %v", r, r.Taken())
		}
	}
	if Result(200).String() != "unknown" {
		t.Error("unnamed result")
	}
}
