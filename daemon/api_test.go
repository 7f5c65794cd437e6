package daemon

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// waitConns waits until the daemon has n live connections.
func waitConns(t *testing.T, d *Daemon, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for d.Count(session.Selector{}) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, want %d", d.Count(session.Selector{}), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func mustSelector(t *testing.T, s string) session.Selector {
	t.Helper()
	sel, err := session.ParseSelector(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

func TestDataMethods(t *testing.T) {
	cfg := testConfig()
	cfg.Routes = []Route{{Path: "/", Handler: HandlerSink, Labels: map[string]string{"app": "demo"}}}
	cfg.LabelsFromQuery = []string{"room"}
	d, url, rec := startDaemon(t, cfg)

	events := make(chan session.Event, 16)
	wctx, stopWatch := context.WithCancel(context.Background())
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- d.Watch(wctx, 8, func(e session.Event) bool { events <- e; return true })
	}()
	for deadline := time.Now().Add(5 * time.Second); d.events.n.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) { // the watcher registers
			t.Fatal("the watcher never registered")
		}
	}

	a := dial(t, url+"/?room=lobby", &protocol.DialOptions{Header: http.Header{"User-Agent": {"test-a"}}})
	b := dial(t, url+"/?room=lobby", nil)
	c := dial(t, url+"/?room=attic", nil)
	waitConns(t, d, 3)

	all, next, err := d.Connections(session.Selector{}, "", 2)
	if err != nil || len(all) != 2 || next == "" {
		t.Fatalf("first page: %d %q %v", len(all), next, err)
	}
	rest, next2, err := d.Connections(session.Selector{}, next, 2)
	if err != nil || len(rest) != 1 || next2 != "" {
		t.Fatalf("second page: %d %q %v", len(rest), next2, err)
	}
	first := all[0]
	if first.UserAgent != "test-a" || first.Labels["room"] != "lobby" || first.Labels["app"] != "demo" || first.Route != "/" {
		t.Fatalf("info %+v", first)
	}
	if _, err := d.Connection(first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Connection(testIDs.newID(time.Now()).String()); !errors.Is(err, session.ErrConnNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := d.Connection("nope"); !errors.Is(err, session.ErrInvalidID) {
		t.Fatalf("bad id: %v", err)
	}

	if err := d.Send(first.ID, session.Text, []byte("to a")); err != nil {
		t.Fatal(err)
	}
	if _, p := readMsg(t, a); string(p) != "to a" {
		t.Fatalf("a got %q", p)
	}
	res := d.Broadcast(mustSelector(t, "room=lobby"), session.Binary, []byte{7})
	if res != (session.BroadcastResult{Matched: 2, Queued: 2}) {
		t.Fatalf("broadcast %+v", res)
	}
	for _, cl := range []*protocol.Conn{a, b} {
		if typ, p := readMsg(t, cl); typ != protocol.BinaryMessage || len(p) != 1 || p[0] != 7 {
			t.Fatalf("broadcast got %v %v", typ, p)
		}
	}

	if _, err := d.CloseSelected(session.Selector{}, false, 1000, ""); !errors.Is(err, session.ErrEmptySelector) {
		t.Fatalf("empty selector close: %v", err)
	}
	if _, err := d.CloseSelected(session.Selector{}, true, 999, ""); !errors.Is(err, session.ErrInvalidClose) {
		t.Fatalf("bad code: %v", err)
	}
	n, err := d.CloseSelected(mustSelector(t, "room=attic"), false, 4000, "bye attic")
	if err != nil || n != 1 {
		t.Fatalf("close selected: %d %v", n, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, rerr := c.Read(ctx)
	var ce *protocol.CloseError
	if !errors.As(rerr, &ce) || ce.Code != 4000 || ce.Reason != "bye attic" {
		t.Fatalf("attic client: %v", rerr)
	}
	sc := rec.waitClose(t)
	if sc.ClosedBy != session.ClosedByAdmin || sc.CloseCode != 4000 {
		t.Fatalf("recorded %+v", sc)
	}
	if err := d.Close(ctx, first.ID, 4001, "just a"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Connection(first.ID); !errors.Is(err, session.ErrConnNotFound) {
		t.Fatal("closed connection still listed")
	}
	if sc := rec.waitClose(t); sc.ID != first.ID || sc.ClosedBy != session.ClosedByAdmin || sc.CloseCode != 4001 || sc.MessagesOut != 2 {
		t.Fatalf("recorded %+v", sc)
	}

	st := d.Stats()
	if st.Connections != 1 || st.Accepted != 3 || st.ClosedBy[session.ClosedByAdmin] != 2 || st.ConnectionsByRoute["/"] != 1 {
		t.Fatalf("stats %+v", st)
	}

	var got []session.EventType
	for len(got) < 5 {
		select {
		case e := <-events:
			got = append(got, e.Type)
			if e.Conn.ID == "" {
				t.Fatal("event without connection")
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("events so far: %v", got)
		}
	}
	if strings.Count(joinTypes(got), "connect") != 3 || strings.Count(joinTypes(got), "close") != 2 {
		t.Fatalf("events %v", got)
	}
	stopWatch()
	if err := <-watchDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("watch returned %v", err)
	}
}

func joinTypes(ts []session.EventType) string {
	var b strings.Builder
	for _, t := range ts {
		b.WriteString(string(t) + " ")
	}
	return b.String()
}

// noReadDial dials with a tiny receive buffer; the client never reads.
func noReadDial(t *testing.T, url string) *protocol.Conn {
	t.Helper()
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	return dial(t, url, &protocol.DialOptions{NetDialContext: d.DialContext})
}

func TestSlowConsumerByQueueBytes(t *testing.T) {
	cfg := testConfig()
	cfg.Routes = []Route{{Path: "/", Handler: HandlerSink}}
	cfg.SendQueueBytes = 64 << 10
	d, url, rec := startDaemon(t, cfg)
	slow := noReadDial(t, url)
	fast := dial(t, url, nil)
	waitConns(t, d, 2)
	conns, _, _ := d.Connections(session.Selector{}, "", 0)
	slowID, fastID := conns[0].ID, conns[1].ID

	msg := make([]byte, 16<<10)
	var slowErr error
	for i := 0; i < 2000 && slowErr == nil; i++ {
		res := d.Broadcast(session.Selector{}, session.Binary, msg)
		if res.Matched == 1 {
			break // the slow one is gone
		}
		slowErr = d.Send(slowID, session.Binary, msg)
		if _, p := readMsg(t, fast); len(p) != len(msg) {
			t.Fatal("fast consumer lost a message")
		}
	}
	sc := rec.waitClose(t)
	if sc.ID != slowID || sc.ClosedBy != session.ClosedBySlowConsumer || sc.CloseCode != 1008 {
		t.Fatalf("recorded %+v", sc)
	}
	if _, err := d.Connection(fastID); err != nil {
		t.Fatal("fast consumer closed")
	}
	// Counted once: not again when the close frame's write times out
	// (the client reads nothing) after the queue overflowed.
	if n := d.Stats().SlowConsumers; n != 1 {
		t.Fatalf("slow consumers counted %d times, want once", n)
	}
	_ = slow
}

func TestShutdownDrains(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnectionsPerIP = 0
	rec := newMemRecorder()
	d, err := New(cfg, Deps{Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- d.Serve(context.Background(), ln) }()
	url := "ws://" + ln.Addr().String()
	var cs []*protocol.Conn
	for range 300 { // more than one drain batch
		cs = append(cs, dial(t, url, nil))
	}
	mute := noReadDial(t, url) // answers nothing: forced at the deadline... or by its kernel
	waitConns(t, d, 301)
	codes := make(chan protocol.StatusCode, len(cs))
	for _, c := range cs {
		go func() {
			_, _, err := c.Read(context.Background())
			var ce *protocol.CloseError
			if errors.As(err, &ce) {
				codes <- ce.Code
			} else {
				codes <- 0
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	for range cs {
		if code := <-codes; code != protocol.StatusGoingAway {
			t.Fatalf("client saw %d", code)
		}
	}
	if d.Ready() {
		t.Fatal("ready after shutdown")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.closes) != 301 {
		t.Fatalf("%d closes recorded", len(rec.closes))
	}
	for _, c := range rec.closes {
		if c.ClosedBy != session.ClosedByShutdown || c.CloseCode != 1001 {
			t.Fatalf("recorded %+v", c)
		}
	}
	_ = mute
	// New connections are refused.
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("listener open after shutdown")
	}
}

func TestShutdownForcesAtDeadline(t *testing.T) {
	cfg := testConfig()
	cfg.CloseTimeout = 10 * time.Second // the handshake would outlast the drain
	rec := newMemRecorder()
	d, err := New(cfg, Deps{Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go d.Serve(context.Background(), ln)
	// A client that never reads never answers the close frame.
	dial(t, "ws://"+ln.Addr().String(), nil)
	waitConns(t, d, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := d.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown: %v", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("forced shutdown took %v", el)
	}
	sc := rec.waitClose(t)
	if sc.ClosedBy != session.ClosedByShutdown || !strings.Contains(sc.Error, "forced") {
		t.Fatalf("recorded %+v", sc)
	}
}

func TestReloadKeepsConnections(t *testing.T) {
	cfg := testConfig()
	cfg.Routes = []Route{{Path: "/chat", Handler: HandlerRelay, Arg: "room"}}
	cfg.LabelsFromQuery = []string{"room"}
	d, url, _ := startDaemon(t, cfg)
	a := dial(t, url+"/chat?room=x", nil)
	waitConns(t, d, 1)

	bad := cfg
	bad.Routes = nil
	if _, err := d.Reload(bad); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("invalid reload: %v", err)
	}
	next := cfg
	next.Routes = []Route{{Path: "/chat", Handler: HandlerRelay, Arg: "room"}, {Path: "/echo", Handler: HandlerEcho}}
	next.SendQueueBytes = 2 << 20
	changed, err := d.Reload(next)
	if err != nil || !strings.Contains(strings.Join(changed, ","), "Routes") {
		t.Fatalf("reload: %v %v", changed, err)
	}
	// A connection made after the reload shares the room with one from
	// before: the unchanged relay route was kept.
	b := dial(t, url+"/chat?room=x", nil)
	waitConns(t, d, 2)
	write(t, b, protocol.TextMessage, []byte("after"))
	if _, p := readMsg(t, a); string(p) != "after" {
		t.Fatalf("a got %q", p)
	}
	e := dial(t, url+"/echo", nil)
	write(t, e, protocol.TextMessage, []byte("new route"))
	if _, p := readMsg(t, e); string(p) != "new route" {
		t.Fatalf("echo got %q", p)
	}
	if d.Config().SendQueueBytes != 2<<20 {
		t.Fatal("new limit not in force")
	}
	// The same configuration again changes nothing, defaults included
	// (MaxFrameSize 0 means MaxMessageSize).
	next.MaxFrameSize = 0
	if changed, err := d.Reload(next); err != nil || len(changed) != 0 {
		t.Fatalf("reload of the same configuration: changed %v, %v", changed, err)
	}
}
