package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/admin"
	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/internal/natstest"
	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// The admin API finds the fleet's verbs on the Hub cmd/wsd gives it.
var _ admin.FleetVerbs = (*Node)(nil)

// idOf returns the id of the one live connection labelled name=name.
func idOf(t *testing.T, tn *testNode, name string) string {
	t.Helper()
	var id string
	eventually(t, "connection "+name, 5*time.Second, func() bool {
		cs, _, _, err := tn.n.FleetConnections(sel(t, "name="+name), "", 10)
		if err != nil || len(cs) != 1 {
			return false
		}
		id = cs[0].ID
		return true
	})
	return id
}

// mute makes tn stop answering requests while it still heartbeats: a node
// the fleet knows that does not answer in time.
func (tn *testNode) mute(t *testing.T) {
	t.Helper()
	tn.n.subsMu.Lock()
	defer tn.n.subsMu.Unlock()
	for _, s := range tn.n.subs {
		if strings.Contains(s.Subject, ".rpc.") {
			if err := s.Unsubscribe(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestFleetCordonDrain: cordon, uncordon, drain and its status by node
// name run on that node only; its own errors keep their meaning across
// the hop; an unknown node and one that does not answer say so.
func TestFleetCordonDrain(t *testing.T) {
	ns := natstest.Start(t, 0)
	defer ns.Shutdown()
	nodes := fleet(t, ns.ClientURL())
	a, b, c := nodes[0], nodes[1], nodes[2]
	ctx := context.Background()

	if on, err := a.n.CordonNode(ctx, "c", true); err != nil || !on || !c.d.Cordoned() || a.d.Cordoned() || b.d.Cordoned() {
		t.Fatalf("cordon c through a: %v %v; cordoned a %v b %v c %v", on, err, a.d.Cordoned(), b.d.Cordoned(), c.d.Cordoned())
	}
	eventually(t, "a to see c cordoned", 5*time.Second, func() bool {
		nodes, _ := a.n.Nodes()
		for _, nd := range nodes {
			if nd.Name == "c" {
				return nd.Health == apitype.HealthCordoned
			}
		}
		return false
	})
	if on, err := a.n.CordonNode(ctx, "c", false); err != nil || on || c.d.Cordoned() {
		t.Fatalf("uncordon c through a: %v %v", on, err)
	}
	if _, ok, _, err := a.n.NodeDrainStatus(ctx, "b"); err != nil || ok {
		t.Fatalf("status of b, never drained: %v %v", ok, err)
	}

	// Drain c's two clients through a: they see the code; c's history says drain.
	w1, w2 := c.dial(t, "/?name=c1"), c.dial(t, "/?name=c2")
	other := b.dial(t, "/?name=b1")
	idOf(t, a, "c1")
	idOf(t, a, "c2")
	st, cordoned, err := a.n.DrainNode(ctx, "c", session.Selector{}, 200*time.Millisecond, 1012, "maint")
	if err != nil || st.Total != 2 || !cordoned {
		t.Fatalf("drain c: %+v %v %v", st, cordoned, err)
	}
	for _, w := range []*wsClient{w1, w2} {
		select {
		case ce := <-w.Closed:
			if ce == nil || ce.Code != 1012 || ce.Reason != "maint" {
				t.Fatalf("drained client saw %v", ce)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("drained client not closed")
		}
	}
	eventually(t, "c's drain to end", 5*time.Second, func() bool {
		st, ok, cordoned, err := b.n.NodeDrainStatus(ctx, "c")
		return err == nil && ok && cordoned && !st.Running && st.Closed == 2
	})
	select {
	case ce := <-other.Closed:
		t.Fatalf("b's client closed by c's drain: %v", ce)
	default:
	}

	// A second drain while one runs: 409's sentinel across the hop, for
	// the drain and for an uncordon.
	if on, err := a.n.CordonNode(ctx, "c", false); err != nil || on {
		t.Fatalf("uncordon c: %v %v", on, err)
	}
	c.dial(t, "/?name=c3")
	idOf(t, a, "c3")
	if _, _, err := a.n.DrainNode(ctx, "c", session.Selector{}, time.Hour, 1012, "slow"); err != nil {
		t.Fatalf("slow drain: %v", err)
	}
	if _, _, err := b.n.DrainNode(ctx, "c", session.Selector{}, time.Hour, 1012, "again"); !errors.Is(err, session.ErrDrainRunning) {
		t.Fatalf("second drain: %v, want ErrDrainRunning", err)
	}
	if _, err := b.n.CordonNode(ctx, "c", false); !errors.Is(err, session.ErrDrainRunning) {
		t.Fatalf("uncordon while draining: %v, want ErrDrainRunning", err)
	}

	// Unknown node; a node that does not answer.
	var un *UnknownNodeError
	if _, err := a.n.CordonNode(ctx, "zz", true); !errors.As(err, &un) || un.UnknownNode() != "zz" || err.Error() != "no node named zz" {
		t.Fatalf("unknown node: %v", err)
	}
	b.mute(t)
	start := time.Now()
	var ue *UnavailableError
	if _, err := a.n.CordonNode(ctx, "b", true); !errors.As(err, &ue) || !ue.FleetUnavailable() || !strings.Contains(err.Error(), "node(s) b did not answer") {
		t.Fatalf("mute node: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("mute node answered after %v", took)
	}
	if _, _, _, err := a.n.NodeDrainStatus(ctx, "b"); !errors.As(err, &ue) {
		t.Fatalf("mute node's drain status: %v", err)
	}
	if b.d.Cordoned() {
		t.Error("b cordoned though it never heard the request")
	}
	// A node's own name runs the verb on itself.
	if on, err := a.n.CordonNode(ctx, "a", true); err != nil || !on || !a.d.Cordoned() {
		t.Fatalf("cordon a on a: %v %v", on, err)
	}
}

// TestFleetTraceAndLimits: tracing on demand and its state are asked of
// the connection's node; errors keep their sentinel; a node's limits are
// its own.
func TestFleetTraceAndLimits(t *testing.T) {
	ns := natstest.Start(t, 0)
	defer ns.Shutdown()
	nodes := fleet(t, ns.ClientURL())
	a, c := nodes[0], nodes[2]
	ctx := context.Background()
	c.dial(t, "/?name=x")
	id := idOf(t, a, "x")
	if _, err := a.n.FleetTraceConnection(ctx, id, time.Minute); !errors.Is(err, session.ErrTracingOff) {
		t.Fatalf("trace on c without tracing: %v, want ErrTracingOff", err)
	}
	if _, ok, err := a.n.FleetConnectionTrace(ctx, id); err != nil || ok {
		t.Fatalf("trace state: %v %v", ok, err)
	}
	gone := c.dial(t, "/?name=gone")
	goneID := idOf(t, a, "gone")
	if err := gone.Conn.Close(1000, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, "gone to go", 5*time.Second, func() bool { _, err := c.d.Connection(goneID); return err != nil })
	if _, err := a.n.FleetTraceConnection(ctx, goneID, time.Minute); !errors.Is(err, session.ErrConnNotFound) {
		t.Fatalf("trace a closed connection: %v", err)
	}
	if _, _, err := a.n.FleetConnectionTrace(ctx, goneID); !errors.Is(err, session.ErrConnNotFound) {
		t.Fatalf("trace state of a closed connection: %v", err)
	}
	l, err := a.n.NodeLimits(ctx, "c", session.ClosedByIdleTimeout, 1006, "")
	if err != nil || len(l) != 2 || l[0].Name != "ping-interval" {
		t.Fatalf("c's limits: %+v %v", l, err)
	}
	if _, err := a.n.NodeLimits(ctx, "zz", session.ClosedByIdleTimeout, 1006, ""); err == nil {
		t.Fatal("limits of an unknown node")
	}
}

// tapper runs FleetTap in the background and collects its events.
type tapper struct {
	evs     chan session.TapEvent
	dropped atomic.Uint64
	fleet   apitype.Fleet
	done    chan error
	cancel  context.CancelFunc
}

func startTap(t *testing.T, tn *testNode, s, id string, fn func(session.TapEvent)) *tapper {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tp := &tapper{evs: make(chan session.TapEvent, 1024), done: make(chan error, 1), cancel: cancel}
	subscribed := make(chan struct{})
	go func() {
		tp.done <- tn.n.FleetTap(ctx, sel(t, s), id, 0, 64, func(f apitype.Fleet) { tp.fleet = f; close(subscribed) },
			func(ev session.TapEvent, dropped uint64) bool {
				if fn != nil {
					fn(ev)
				}
				tp.dropped.Add(dropped)
				tp.evs <- ev
				return true
			})
	}()
	select {
	case <-subscribed:
	case err := <-tp.done:
		cancel()
		tp.done <- err
		return tp
	case <-time.After(5 * time.Second):
		t.Fatal("tap not subscribed")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-tp.done:
		case <-time.After(5 * time.Second):
			t.Error("tap did not end")
		}
	})
	return tp
}

func (tp *tapper) next(t *testing.T) session.TapEvent {
	t.Helper()
	select {
	case ev := <-tp.evs:
		return ev
	case err := <-tp.done:
		t.Fatalf("tap ended: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no tap event")
	}
	return session.TapEvent{}
}

func servedTaps(tn *testNode) int {
	tn.n.tapMu.Lock()
	defer tn.n.tapMu.Unlock()
	return len(tn.n.taps)
}

// TestFleetTap: a connection of another node is tapped on its node and its
// events stream to the requester; a selector taps every node, partial
// when one does not answer; the owner stops when its lease lapses or the
// requester cancels.
func TestFleetTap(t *testing.T) {
	ns := natstest.Start(t, 0)
	defer ns.Shutdown()
	nodes := fleet(t, ns.ClientURL())
	a, b, c := nodes[0], nodes[1], nodes[2]
	ctx := context.Background()
	for _, tn := range nodes {
		tn.n.tapLease = 300 * time.Millisecond
	}
	w := map[string]*wsClient{}
	for _, tn := range nodes {
		w[tn.name] = tn.dial(t, "/?room=t&name="+tn.name)
	}
	cid := idOf(t, a, "c")

	// One connection of c, tapped through a: in and out.
	tp := startTap(t, a, "", cid, nil)
	if tp.fleet.Partial || servedTaps(c) != 1 {
		t.Fatalf("tap: %+v, c serves %d", tp.fleet, servedTaps(c))
	}
	if err := w["c"].Conn.Write(ctx, protocol.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if ev := tp.next(t); ev.ConnID != cid || !ev.In || ev.Size != 2 || ev.Type != session.Text {
		t.Fatalf("in event %+v", ev)
	}
	if err := b.n.SendContext(ctx, cid, session.Binary, []byte("yo!")); err != nil {
		t.Fatal(err)
	}
	if ev := tp.next(t); ev.ConnID != cid || ev.In || ev.Size != 3 || ev.Type != session.Binary {
		t.Fatalf("out event %+v", ev)
	}
	// The lease is renewed while the requester is there: still streaming
	// after several leases.
	time.Sleep(time.Second) // long enough for three leases to lapse unrenewed
	if err := w["c"].Conn.Write(ctx, protocol.TextMessage, []byte("still")); err != nil {
		t.Fatal(err)
	}
	if ev := tp.next(t); ev.Size != 5 {
		t.Fatalf("after renewals: %+v", ev)
	}
	// The requester cancels: the owner stops.
	tp.cancel()
	eventually(t, "c to stop serving the cancelled tap", 5*time.Second, func() bool { return servedTaps(c) == 0 })

	// A selector taps every node, merged.
	all := startTap(t, b, "room=t", "", nil)
	if all.fleet.Partial {
		t.Fatalf("selector tap partial: %+v", all.fleet)
	}
	for _, name := range []string{"a", "b", "c"} {
		if err := w[name].Conn.Write(ctx, protocol.TextMessage, []byte(name)); err != nil {
			t.Fatal(err)
		}
	}
	from := map[string]bool{}
	for range 3 {
		ev := all.next(t)
		from[ev.ConnID] = true
	}
	if len(from) != 3 {
		t.Fatalf("selector tap saw %d connections, want 3", len(from))
	}
	all.cancel()

	// An id of an unknown connection; a mute node: partial for a
	// selector, unavailable for its id.
	if err := a.n.FleetTap(ctx, session.Selector{}, "0000000000000000000000000x", 0, 1, nil, nil); !errors.Is(err, session.ErrConnNotFound) {
		t.Fatalf("tap of a bad id: %v", err)
	}
	c.mute(t)
	part := startTap(t, a, "room=t", "", nil)
	if !part.fleet.Partial || fmt.Sprint(part.fleet.MissingNodes) != "[c]" {
		t.Fatalf("selector tap with c mute: %+v", part.fleet)
	}
	if err := w["b"].Conn.Write(ctx, protocol.TextMessage, []byte("b")); err != nil {
		t.Fatal(err)
	}
	if ev := part.next(t); ev.Size != 1 {
		t.Fatalf("partial tap event %+v", ev)
	}
	var ue *UnavailableError
	if err := a.n.FleetTap(ctx, session.Selector{}, cid, 0, 1, nil, nil); !errors.As(err, &ue) {
		t.Fatalf("tap on a mute node: %v", err)
	}
	part.cancel()
	// A cancel reaches the owners over the bus, a moment later.
	eventually(t, "b to stop serving the cancelled selector taps", 5*time.Second, func() bool { return servedTaps(b) == 0 })

	// The requester vanishes (no cancel): the owner's lease lapses.
	bid := idOf(t, c, "b")
	startTap(t, a, "", bid, nil)
	if servedTaps(b) != 1 {
		t.Fatalf("b serves %d taps", servedTaps(b))
	}
	a.crash()
	eventually(t, "b's lease to lapse", 5*time.Second, func() bool { return servedTaps(b) == 0 })
}

// TestFleetTapDrops: a requester that does not keep up loses events,
// counted, and never slows the connection.
func TestFleetTapDrops(t *testing.T) {
	ns := natstest.Start(t, 0)
	defer ns.Shutdown()
	nodes := fleet(t, ns.ClientURL())
	a, c := nodes[0], nodes[2]
	ctx := context.Background()
	wc := c.dial(t, "/?name=x")
	id := idOf(t, a, "x")
	release := make(chan struct{})
	var first atomic.Bool
	tp := startTap(t, a, "", id, func(session.TapEvent) {
		if first.CompareAndSwap(false, true) {
			<-release // the reader stalls on the first event
		}
	})
	const total = 500
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for i := range total {
		if err := wc.Conn.Write(wctx, protocol.TextMessage, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatalf("the client's writes stalled behind a slow tap: %v", err)
		}
	}
	eventually(t, "c to receive every message", 5*time.Second, func() bool {
		cn, err := c.d.Connection(id)
		return err == nil && cn.MessagesIn == total
	})
	close(release)
	// A last message carries the count of those dropped before it. It may
	// be dropped too, while the backlog still fills the requester's
	// buffer: send more, the i-th one i bytes longer than the first, until
	// one comes through.
	const last = "the last message, longer than the others"
	sent := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(sent)
		for i := 1; i <= 50; i++ {
			if err := wc.Conn.Write(ctx, protocol.TextMessage, []byte(last+strings.Repeat("+", i))); err != nil {
				t.Error(err)
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	defer func() { close(stop); <-sent }()
	got := 0
	for {
		ev := tp.next(t)
		got++
		if i := ev.Size - len(last); i > 0 {
			if d := tp.dropped.Load(); d == 0 || uint64(got)+d != uint64(total+i) {
				t.Fatalf("received %d, dropped %d up to the last message #%d; want them to add up to %d with some dropped", got, d, i, total+i)
			}
			return
		}
	}
}
