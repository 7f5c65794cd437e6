package daemon

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"github.com/prometheus/client_golang/prometheus"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/daemon/internal/bufpool"
	"github.com/wsd-dev/wsd/daemon/internal/sender"
	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// inlineOutcomes counts, through testHookInline, what inline writes did.
type inlineOutcomes struct {
	wrote, left, busy, failed atomic.Int64
}

func watchInline(t *testing.T) *inlineOutcomes {
	var o inlineOutcomes
	testHookInline = func(r sender.Result) {
		switch r {
		case sender.Failed:
			o.failed.Add(1)
		case sender.Queued, sender.Deferred, sender.Discarded:
			// Another write owned the connection: the writer goroutine
			// (started by an earlier inline write that was held or
			// that found a ping queued meanwhile) or a frame lock.
			o.busy.Add(1)
		case sender.Held:
			o.wrote.Add(1)
			o.left.Add(1)
		case sender.Written:
			o.wrote.Add(1)
		}
	}
	t.Cleanup(func() { testHookInline = nil })
	return &o
}

// smallSendBufferListener listens on loopback with a small SO_SNDBUF, which
// the accepted connections inherit: the daemon's sockets fill up after a few
// kilobytes that the client has not read.
func smallSendBufferListener(t *testing.T) net.Listener {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// numbered returns message i of a stream tagged tag: the tag, the index and
// n bytes that depend on both, so that a lost, repeated, reordered or cut
// message shows.
func numbered(tag byte, i, n int) []byte {
	p := make([]byte, 5+n)
	p[0] = tag
	binary.BigEndian.PutUint32(p[1:], uint32(i))
	for j := range n {
		p[5+j] = byte(i*31 + j*7)
	}
	return p
}

// TestBroadcastFullSocket broadcasts to a client that does not read until
// the daemon's socket is full, then reads: the broadcasts written inline
// that the socket did not take finish on the writer goroutine, and every
// message (broadcasts, echo replies written by the reading goroutine,
// keepalive pings, pongs to the client's pings) arrives whole and in order.
func TestBroadcastFullSocket(t *testing.T) {
	out := watchInline(t)
	cfg := testConfig()
	cfg.SendQueueBytes = 64 << 20
	cfg.PingInterval = 10 * time.Millisecond
	rec := newMemRecorder()
	d, url := startDaemonOn(t, cfg, Deps{Recorder: rec}, smallSendBufferListener(t))
	closed := func() {
		select {
		case sc := <-rec.closed:
			t.Fatalf("closed: %+v", sc)
		default:
		}
	}

	var pings, pongs atomic.Int64
	c := dial(t, url, &protocol.DialOptions{Options: protocol.Options{
		OnPong: func([]byte) { pongs.Add(1) },
		OnFrame: func(ev protocol.FrameEvent) {
			if ev.Direction == protocol.Inbound && ev.Opcode == protocol.OpPing {
				pings.Add(1)
			}
		},
	}})
	waitConns(t, d, 1)
	conns, _, _ := d.Connections(session.Selector{}, "", 0)
	id := conns[0].ID

	sizes := []int{10, 1000, 9000, bufpool.ChunkSize + 3000, 70000}
	const nb, ne = 150, 60
	// On failure, the goroutines below stop before the test returns.
	var wg sync.WaitGroup
	var stop atomic.Bool
	quit := make(chan struct{})
	defer func() {
		stop.Store(true)
		close(quit)
		c.CloseNow()
		wg.Wait()
	}()
	broadcast := func(i int) {
		if stop.Load() {
			return
		}
		if res := d.Broadcast(session.Selector{}, session.Binary, numbered('b', i, sizes[i%len(sizes)])); res.Queued != 1 && !stop.Load() {
			t.Errorf("broadcast %d: %+v", i, res)
		}
	}
	// Not reading: the first broadcasts fill the socket; an inline write
	// leaves a remainder, or finds the writer goroutine busy: a keepalive
	// ping met the full socket first, or was queued while a broadcast was
	// written inline and so handed the connection to the writer.
	i := 0
	for ; i < 40 || out.left.Load()+out.busy.Load() == 0; i++ {
		if i == nb {
			t.Fatal("the socket never filled up")
		}
		broadcast(i)
	}
	// Echo requests and pings while the daemon cannot write: its reading
	// goroutine blocks in its reply. (They stay small enough to fit the
	// socket buffers, so that the client's writes do not block its own
	// pongs.)
	echoed := make(chan struct{})
	wg.Go(func() {
		defer close(echoed)
		for j := 0; j < ne && !stop.Load(); j++ {
			if err := c.Write(context.Background(), protocol.BinaryMessage, numbered('e', j, j*11%700)); err != nil && !stop.Load() {
				t.Errorf("echo request %d: %v", j, err)
				return
			}
			if j%10 == 0 {
				if err := c.Ping(context.Background(), []byte("client")); err != nil && !stop.Load() {
					t.Errorf("ping: %v", err)
					return
				}
			}
		}
	})
	// More broadcasts while the client reads, some queued, some inline:
	// before each of the largest, wait for the writer to finish, so that
	// it is written inline and races the client's reads and pongs.
	reading := make(chan struct{})
	wg.Go(func() {
		select {
		case <-reading:
		case <-quit:
			return
		}
		for j := i; j < nb; j++ {
			if sizes[j%len(sizes)] == 70000 {
				for deadline := time.Now().Add(time.Second); time.Now().Before(deadline) && !stop.Load(); time.Sleep(100 * time.Microsecond) {
					if ci, err := d.Connection(id); err != nil || ci.SendQueueBytes == 0 {
						break
					}
				}
			}
			broadcast(j)
		}
	})
	// The client reads once its echo requests and pings are all sent.
	select {
	case <-echoed:
	case <-time.After(10 * time.Second):
		t.Fatal("the echo requests were not sent")
	}
	close(reading)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nextB, nextE := 0, 0
	for nextB < nb || nextE < ne {
		typ, p, err := c.Read(ctx)
		if err != nil {
			closed()
			t.Fatalf("read: %v", err)
		}
		switch {
		case typ != protocol.BinaryMessage || len(p) < 5:
			t.Fatalf("unexpected %v message of %d bytes", typ, len(p))
		case p[0] == 'b':
			if want := numbered('b', nextB, sizes[nextB%len(sizes)]); !bytes.Equal(p, want) {
				t.Fatalf("broadcast %d: got %d bytes, index %d", nextB, len(p), binary.BigEndian.Uint32(p[1:]))
			}
			nextB++
		case p[0] == 'e':
			if want := numbered('e', nextE, nextE*11%700); !bytes.Equal(p, want) {
				t.Fatalf("echo reply %d: got %d bytes, index %d", nextE, len(p), binary.BigEndian.Uint32(p[1:]))
			}
			nextE++
		default:
			t.Fatalf("unexpected message of %d bytes tagged %q", len(p), p[0])
		}
	}
	wg.Wait()
	// The client reads on for the pongs and pings.
	go func() {
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ci, err := d.Connection(id)
		if err != nil {
			t.Fatal(err)
		}
		if ci.SendQueueBytes == 0 && ci.MessagesOut == nb+ne && pongs.Load() > 0 && pings.Load() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the last message: send queue %d bytes, %d messages out (want %d), %d pongs, %d pings",
				ci.SendQueueBytes, ci.MessagesOut, nb+ne, pongs.Load(), pings.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	closed()
	t.Logf("inline writes: %d complete, %d left a remainder, %d found another writer, %d failed; %d pings, %d pongs",
		out.wrote.Load()-out.left.Load(), out.left.Load(), out.busy.Load(), out.failed.Load(), pings.Load(), pongs.Load())
	if out.failed.Load() != 0 {
		t.Fatal("an inline write failed")
	}
}

// TestSlowConsumerByBroadcast: a client that reads nothing is closed as a
// slow consumer by broadcasts alone, the tail of the message written inline
// counting toward send-queue-bytes until it is out.
func TestSlowConsumerByBroadcast(t *testing.T) {
	out := watchInline(t)
	cfg := testConfig()
	cfg.Routes = []Route{{Path: "/", Handler: HandlerSink}}
	cfg.SendQueueBytes = 1 << 20
	rec := newMemRecorder()
	reg := prometheus.NewPedanticRegistry()
	d, url := startDaemonOn(t, cfg, Deps{Recorder: rec, Metrics: reg}, smallSendBufferListener(t))
	noReadDial(t, url)
	waitConns(t, d, 1)
	conns, _, _ := d.Connections(session.Selector{}, "", 0)
	id := conns[0].ID

	msg := make([]byte, 256<<10)
	if res := d.Broadcast(session.Selector{}, session.Binary, msg); res.Queued != 1 {
		t.Fatalf("first broadcast: %+v", res)
	}
	if out.left.Load() != 1 {
		t.Fatalf("the first broadcast was not written inline in part: %d wrote, %d left, %d busy",
			out.wrote.Load(), out.left.Load(), out.busy.Load())
	}
	if ci, err := d.Connection(id); err != nil || ci.SendQueueBytes != int64(len(msg)) {
		t.Fatalf("send queue after a partial inline write: %d bytes (want %d), %v", ci.SendQueueBytes, len(msg), err)
	}
	// Three more fit the limit; the fifth does not.
	for i := range 3 {
		if res := d.Broadcast(session.Selector{}, session.Binary, msg); res.Queued != 1 {
			t.Fatalf("broadcast %d: %+v", i+2, res)
		}
	}
	if res := d.Broadcast(session.Selector{}, session.Binary, msg); res.Dropped != 1 {
		t.Fatalf("broadcast over the limit: %+v", res)
	}
	sc := rec.waitClose(t)
	if sc.ID != id || sc.ClosedBy != session.ClosedBySlowConsumer || sc.CloseCode != 1008 {
		t.Fatalf("recorded %+v", sc)
	}
	// Counted once, in the stats and the metric: not again when the
	// writer's blocked write times out under the closing handshake's
	// deadline (issue 19, defect 4).
	if n := d.Stats().SlowConsumers; n != 1 {
		t.Fatalf("slow consumer counted %d times, want once", n)
	}
	if got := scrape(t, reg, "wsd_slow_consumer_closes_total"); got != 1 {
		t.Fatalf("wsd_slow_consumer_closes_total %v, want 1", got)
	}
}

// scrape returns the value of an unlabelled metric in reg.
func scrape(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			m := f.GetMetric()[0]
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// TestCloseAfterPartialBroadcast: a connection closed while the tail of an
// inline broadcast is still held gets that tail, then the close frame.
func TestCloseAfterPartialBroadcast(t *testing.T) {
	out := watchInline(t)
	cfg := testConfig()
	cfg.Routes = []Route{{Path: "/", Handler: HandlerSink}}
	rec := newMemRecorder()
	d, url := startDaemonOn(t, cfg, Deps{Recorder: rec}, smallSendBufferListener(t))
	c := dial(t, url, nil)
	waitConns(t, d, 1)
	conns, _, _ := d.Connections(session.Selector{}, "", 0)
	id := conns[0].ID

	msg := numbered('b', 0, 256<<10)
	d.Broadcast(session.Selector{}, session.Binary, msg)
	if out.left.Load() != 1 {
		t.Fatalf("the broadcast was not written inline in part: %d wrote, %d left", out.wrote.Load(), out.left.Load())
	}
	closed := make(chan error, 1)
	go func() { closed <- d.Close(context.Background(), id, 4000, "bye") }()
	if _, p := readMsg(t, c); !bytes.Equal(p, msg) {
		t.Fatalf("got %d bytes", len(p))
	}
	_, _, err := c.Read(context.Background())
	var ce *protocol.CloseError
	if !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "bye" {
		t.Fatalf("after the message: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if sc := rec.waitClose(t); sc.ClosedBy != session.ClosedByAdmin || sc.CloseCode != 4000 || sc.MessagesOut != 1 {
		t.Fatalf("recorded %+v", sc)
	}
}

// TestBroadcastParallel: a broadcast shared among several goroutines still
// reaches every matching connection once, in order, and counts right.
func TestBroadcastParallel(t *testing.T) {
	old := parallelBroadcastMin
	parallelBroadcastMin = 0
	t.Cleanup(func() { parallelBroadcastMin = old })
	cfg := testConfig()
	cfg.Routes = []Route{{Path: "/", Handler: HandlerSink}}
	cfg.LabelsFromQuery = []string{"room"}
	d, url, _ := startDaemon(t, cfg)
	const n, msgs = 40, 30
	var in, out []*protocol.Conn
	for i := range n {
		if i%4 == 0 {
			out = append(out, dial(t, url+"/?room=attic", nil))
		} else {
			in = append(in, dial(t, url+"/?room=lobby", nil))
		}
	}
	waitConns(t, d, n)
	sel := mustSelector(t, "room=lobby")
	for i := range msgs {
		res := d.Broadcast(sel, session.Binary, numbered('b', i, i*100))
		if res.Matched != len(in) || res.Queued != len(in) || res.Dropped != 0 {
			t.Fatalf("broadcast %d: %+v", i, res)
		}
	}
	for _, c := range in {
		for i := range msgs {
			if _, p := readMsg(t, c); !bytes.Equal(p, numbered('b', i, i*100)) {
				t.Fatalf("message %d: got %d bytes", i, len(p))
			}
		}
	}
	// The others got nothing: the first message they see is this one.
	res := d.Broadcast(mustSelector(t, "room=attic"), session.Binary, []byte("last"))
	if res.Matched != len(out) || res.Queued != len(out) {
		t.Fatalf("last broadcast: %+v", res)
	}
	for _, c := range out {
		if _, p := readMsg(t, c); string(p) != "last" {
			t.Fatalf("got %q", p)
		}
	}
}
