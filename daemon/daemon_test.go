package daemon

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// memRecorder keeps what the daemon records.
type memRecorder struct {
	mu     sync.Mutex
	opens  []session.Open
	closes []session.Close
	closed chan session.Close
}

func newMemRecorder() *memRecorder { return &memRecorder{closed: make(chan session.Close, 1024)} }

func (r *memRecorder) RecordOpen(o session.Open) {
	r.mu.Lock()
	r.opens = append(r.opens, o)
	r.mu.Unlock()
}

func (r *memRecorder) RecordClose(c session.Close) {
	r.mu.Lock()
	r.closes = append(r.closes, c)
	r.mu.Unlock()
	r.closed <- c
}

// waitClose returns the next recorded close.
func (r *memRecorder) waitClose(t *testing.T) session.Close {
	t.Helper()
	select {
	case c := <-r.closed:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no session close recorded")
		return session.Close{}
	}
}

// testConfig has short timers for tests.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.HandshakeRate = 0
	cfg.CloseTimeout = time.Second
	cfg.DrainTimeout = 5 * time.Second
	return cfg
}

// startDaemon serves cfg on a loopback listener and returns the daemon, its
// ws:// base URL and its recorder.
func startDaemon(t *testing.T, cfg Config) (*Daemon, string, *memRecorder) {
	t.Helper()
	rec := newMemRecorder()
	d, url := startDaemonDeps(t, cfg, Deps{Recorder: rec})
	return d, url, rec
}

// startDaemonDeps serves cfg with deps on a loopback listener until the
// test ends, and returns the daemon and its ws:// base URL.
func startDaemonDeps(t *testing.T, cfg Config, deps Deps) (*Daemon, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startDaemonOn(t, cfg, deps, ln)
}

// startDaemonOn is startDaemonDeps on a listener of the caller's.
func startDaemonOn(t testing.TB, cfg Config, deps Deps, ln net.Listener) (*Daemon, string) {
	t.Helper()
	d, err := New(cfg, deps)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- d.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return d, "ws://" + ln.Addr().String()
}

func dial(t *testing.T, url string, opts *protocol.DialOptions) *protocol.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := protocol.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func readMsg(t *testing.T, c *protocol.Conn) (protocol.MessageType, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, p, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return typ, p
}

func write(t *testing.T, c *protocol.Conn, typ protocol.MessageType, p []byte) {
	t.Helper()
	if err := c.Write(context.Background(), typ, p); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func TestEcho(t *testing.T) {
	_, url, rec := startDaemon(t, testConfig())
	c := dial(t, url+"/any/path", nil)
	for _, n := range []int{0, 1, 125, 126, 4095, 16 << 10, 16<<10 + 1, 65535, 65536, 300 << 10} {
		for _, typ := range []protocol.MessageType{protocol.TextMessage, protocol.BinaryMessage} {
			p := bytes.Repeat([]byte("a"), n)
			write(t, c, typ, p)
			gt, got := readMsg(t, c)
			if gt != typ || !bytes.Equal(got, p) {
				t.Fatalf("echo of %d bytes %v: got %d bytes %v", n, typ, len(got), gt)
			}
		}
	}
	if err := c.Close(protocol.StatusNormalClosure, "bye"); err != nil {
		t.Fatal(err)
	}
	sc := rec.waitClose(t)
	if sc.ClosedBy != session.ClosedByClient || sc.CloseCode != 1000 || sc.CloseReason != "bye" || sc.MessagesIn != 20 || sc.MessagesOut != 20 {
		t.Fatalf("recorded close %+v", sc)
	}
}

func TestEchoPipelined(t *testing.T) {
	_, url, _ := startDaemon(t, testConfig())
	c := dial(t, url, nil)
	const n = 2000
	go func() {
		for i := range n {
			if err := c.Write(context.Background(), protocol.BinaryMessage, bytes.Repeat([]byte{byte(i)}, i%3000)); err != nil {
				return
			}
		}
	}()
	for i := range n {
		_, p := readMsg(t, c)
		if len(p) != i%3000 || (len(p) > 0 && p[0] != byte(i)) {
			t.Fatalf("message %d: got %d bytes", i, len(p))
		}
	}
}

func TestRelay(t *testing.T) {
	cfg := testConfig()
	cfg.Routes = []Route{{Path: "/chat", Handler: HandlerRelay, Arg: "room"}}
	cfg.LabelsFromQuery = []string{"room"}
	d, url, _ := startDaemon(t, cfg)
	a := dial(t, url+"/chat?room=a", nil)
	b := dial(t, url+"/chat?room=a", nil)
	other := dial(t, url+"/chat?room=b", nil)
	waitConns(t, d, 3)
	write(t, a, protocol.TextMessage, []byte("hello"))
	if _, p := readMsg(t, b); string(p) != "hello" {
		t.Fatalf("b got %q", p)
	}
	write(t, other, protocol.TextMessage, []byte("other room"))
	write(t, b, protocol.TextMessage, []byte("back"))
	if _, p := readMsg(t, a); string(p) != "back" {
		t.Fatalf("a got %q", p)
	}
	// Without the label: refused before the upgrade.
	_, resp, err := protocol.Dial(context.Background(), url+"/chat", nil)
	if err == nil || resp == nil || resp.StatusCode != 400 {
		t.Fatalf("dial without room: %v %v", err, resp)
	}
}

// busRecorder is a RelayBus that keeps what is published.
type busRecorder struct {
	mu   sync.Mutex
	msgs []string // route|room|type|payload
}

func (b *busRecorder) PublishRelay(route, room string, typ session.MessageType, p []byte) {
	b.mu.Lock()
	b.msgs = append(b.msgs, route+"|"+room+"|"+typ.String()+"|"+string(p))
	b.mu.Unlock()
}

// TestRelayBus: a relay message goes to the room's members here and once
// to the bus, even from a member alone on this node; a message from the
// bus reaches every member here (issue 18's cross-node rooms).
func TestRelayBus(t *testing.T) {
	cfg := testConfig()
	cfg.Routes = []Route{{Path: "/chat", Handler: HandlerRelay, Arg: "room"}}
	cfg.LabelsFromQuery = []string{"room"}
	bus := &busRecorder{}
	d, url := startDaemonDeps(t, cfg, Deps{RelayBus: bus})
	a := dial(t, url+"/chat?room=a", nil)
	b := dial(t, url+"/chat?room=a", nil)
	alone := dial(t, url+"/chat?room=solo", nil)
	waitConns(t, d, 3)
	write(t, a, protocol.TextMessage, []byte("hello"))
	if _, p := readMsg(t, b); string(p) != "hello" {
		t.Fatalf("b got %q", p)
	}
	write(t, alone, protocol.BinaryMessage, []byte("anyone?"))
	// Both publishes are made before the sender's read returns the echo
	// of nothing: wait for them.
	deadline := time.Now().Add(5 * time.Second)
	for {
		bus.mu.Lock()
		got := slices.Clone(bus.msgs)
		bus.mu.Unlock()
		if len(got) == 2 {
			slices.Sort(got)
			if got[0] != "/chat|a|text|hello" || got[1] != "/chat|solo|binary|anyone?" {
				t.Fatalf("published %q", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("published %q, want 2", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := d.DeliverRelay("/chat", "a", session.Text, []byte("from afar")); n != 2 {
		t.Fatalf("DeliverRelay queued for %d, want 2", n)
	}
	for _, c := range []*protocol.Conn{a, b} {
		if _, p := readMsg(t, c); string(p) != "from afar" {
			t.Fatalf("got %q, want the bus's message", p)
		}
	}
	if n := d.DeliverRelay("/nope", "a", session.Text, []byte("x")); n != 0 {
		t.Fatalf("unknown route delivered to %d", n)
	}
}

func TestPanicContained(t *testing.T) {
	cfg := testConfig()
	cfg.TestHandlers = true
	cfg.Routes = []Route{{Path: "/panic", Handler: handlerPanic}, {Path: "/", Handler: HandlerEcho}}
	_, url, rec := startDaemon(t, cfg)
	good := dial(t, url+"/", nil)
	bad := dial(t, url+"/panic", nil)
	write(t, bad, protocol.TextMessage, []byte("boom"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := bad.Read(ctx)
	var ce *protocol.CloseError
	if !errors.As(err, &ce) || ce.Code != protocol.StatusInternalError {
		t.Fatalf("panicking connection: %v", err)
	}
	sc := rec.waitClose(t)
	if sc.ClosedBy != session.ClosedByServer || sc.CloseCode != 1011 || !strings.Contains(sc.Error, "panic") {
		t.Fatalf("recorded %+v", sc)
	}
	write(t, good, protocol.TextMessage, []byte("still here"))
	if _, p := readMsg(t, good); string(p) != "still here" {
		t.Fatalf("good got %q", p)
	}
}
