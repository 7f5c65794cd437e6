package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/daemon"
	"github.com/wsd-dev/wsd/internal/natstest"
	"github.com/wsd-dev/wsd/internal/wsdtest"
	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
	"github.com/wsd-dev/wsd/store"
)

// testNode is a real daemon and store on loopback joined to the fleet.
type testNode struct {
	name  string
	d     *daemon.Daemon
	st    *store.Store
	n     *Node
	wsURL string
}

func newTestNode(t *testing.T, url, name string) *testNode {
	t.Helper()
	return newTestNodeWith(t, url, name, nil)
}

// newTestNodeWith starts a node whose Local is wrap(its daemon) when wrap
// is not nil.
func newTestNodeWith(t *testing.T, url, name string, wrap func(*daemon.Daemon) Local) *testNode {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Path: filepath.Join(t.TempDir(), "wsd.db"), FlushInterval: -1, Node: name})
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{
		URLs: []string{url}, Name: name, Version: "test", Address: "127.0.0.1:0",
		Timeout: 700 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond, NodeTTL: 600 * time.Millisecond,
	}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	dcfg := daemon.DefaultConfig()
	dcfg.Routes = []daemon.Route{{Path: "/", Handler: daemon.HandlerSink}, {Path: "/room", Handler: daemon.HandlerRelay, Arg: "room"}}
	dcfg.LabelsFromQuery = []string{"room", "name"}
	dcfg.HandshakeRate = 0
	dcfg.CloseTimeout = time.Second
	dcfg.NodeTag = session.NodeTag(name)
	d, err := daemon.New(dcfg, daemon.Deps{Recorder: st, RelayBus: n})
	if err != nil {
		t.Fatal(err)
	}
	var local Local = d
	if wrap != nil {
		local = wrap(d)
	}
	if err := n.Start(local, st); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- d.Serve(context.Background(), ln) }()
	tn := &testNode{name: name, d: d, st: st, n: n, wsURL: "ws://" + ln.Addr().String()}
	t.Cleanup(func() {
		n.Stop()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Shutdown(sctx); err != nil {
			t.Errorf("daemon shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("store close: %v", err)
		}
	})
	return tn
}

// crash leaves the fleet the way kill -9 does: no goodbye.
func (tn *testNode) crash() {
	tn.n.stop()
	tn.n.unsubscribe()
	tn.n.wg.Wait()
	tn.n.nc.Close()
}

type wsClient struct{ *wsdtest.Client }

func (tn *testNode) dial(t *testing.T, path string) *wsClient {
	t.Helper()
	return &wsClient{wsdtest.Dial(t, tn.wsURL+path, false)}
}

func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func sel(t *testing.T, s string) session.Selector {
	t.Helper()
	x, err := session.ParseSelector(s)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// fleet starts three nodes and waits until each sees the others.
func fleet(t *testing.T, url string) []*testNode {
	t.Helper()
	ns := []*testNode{newTestNode(t, url, "a"), newTestNode(t, url, "b"), newTestNode(t, url, "c")}
	for _, tn := range ns {
		eventually(t, tn.name+" sees the fleet", 5*time.Second, func() bool {
			nodes, f := tn.n.Nodes()
			return len(nodes) == 3 && !f.Partial
		})
	}
	return ns
}

func TestFleetConnections(t *testing.T) {
	ns := natstest.Start(t, 0)
	defer ns.Shutdown()
	nodes := fleet(t, ns.ClientURL())
	a, b, c := nodes[0], nodes[1], nodes[2]
	// Two clients on each node, room=r on all.
	var clients = map[string]*wsClient{}
	for _, tn := range nodes {
		for i := range 2 {
			name := fmt.Sprintf("%s%d", tn.name, i)
			clients[name] = tn.dial(t, "/?room=r&name="+name)
		}
	}
	eventually(t, "six connections fleet-wide", 5*time.Second, func() bool { return a.n.Count(sel(t, "room=r")) == 6 })

	// List, merged and paginated, with the node of each.
	var got []session.Conn
	after := ""
	for range 10 {
		cs, next, f, err := b.n.FleetConnections(sel(t, "room=r"), after, 4)
		if err != nil || f.Partial {
			t.Fatalf("list: %v %+v", err, f)
		}
		got = append(got, cs...)
		if next == "" {
			break
		}
		after = next
	}
	if len(got) != 6 {
		t.Fatalf("listed %d connections, want 6", len(got))
	}
	if !slices.IsSortedFunc(got, func(x, y session.Conn) int { return cmpStr(x.ID, y.ID) }) {
		t.Error("list not in id order")
	}
	perNode := map[string]int{}
	for _, cn := range got {
		perNode[cn.Node]++
		if want := cn.Labels["name"][:1]; cn.Node != want {
			t.Errorf("connection %s listed on node %q, want %q", cn.Labels["name"], cn.Node, want)
		}
	}
	if perNode["a"] != 2 || perNode["b"] != 2 || perNode["c"] != 2 {
		t.Errorf("per node %v", perNode)
	}

	// Inspect, send and kill by id on another node, through node a.
	var c0 session.Conn
	for _, cn := range got {
		if cn.Labels["name"] == "c0" {
			c0 = cn
		}
	}
	if cn, err := a.n.Connection(c0.ID); err != nil || cn.Node != "c" {
		t.Fatalf("inspect c0 via a: %+v %v", cn, err)
	}
	if err := a.n.SendContext(context.Background(), c0.ID, session.Text, []byte("hello c0")); err != nil {
		t.Fatal(err)
	}
	clients["c0"].Expect(t, "hello c0")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.n.Close(ctx, c0.ID, 4001, "bye"); err != nil {
		t.Fatal(err)
	}
	select {
	case ce := <-clients["c0"].Closed:
		if ce == nil || ce.Code != 4001 || ce.Reason != "bye" {
			t.Fatalf("c0 closed with %v", ce)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("c0 not closed")
	}
	if _, err := a.n.Connection(c0.ID); !errors.Is(err, session.ErrConnNotFound) {
		t.Fatalf("closed c0: %v, want not found", err)
	}

	// Broadcast by selector, with per-node counts.
	res, per, f := c.n.FleetBroadcast(context.Background(), sel(t, "room=r"), session.Text, []byte("all"))
	if f.Partial || res.Matched != 5 || res.Queued != 5 {
		t.Fatalf("broadcast %+v %+v", res, f)
	}
	if per["a"].Queued != 2 || per["b"].Queued != 2 || per["c"].Queued != 1 {
		t.Fatalf("broadcast per node %+v", per)
	}
	for name, w := range clients {
		if name != "c0" {
			w.Expect(t, "all")
		}
	}

	// Stats per node and in total.
	sts, rates, f := a.n.FleetStats()
	if f.Partial || len(sts) != 3 || Total(sts).Connections != 5 {
		t.Fatalf("stats %v %+v", sts, f)
	}
	// Each node's own rates: its two connects since start (the sampler's
	// first second) or within the window.
	for _, name := range []string{"a", "b", "c"} {
		if r, ok := rates[name]; !ok || r.Window <= 0 || r.ConnectsPerSecond <= 0 {
			t.Errorf("node %s rates %+v (given %v)", name, r, ok)
		}
	}

	// Bulk close by selector.
	k, perClose, f, err := b.n.FleetCloseSelected(sel(t, "name=a1"), false, 1000, "")
	if err != nil || k != 1 || perClose["a"] != 1 || f.Partial {
		t.Fatalf("bulk close: %d %v %+v %v", k, perClose, f, err)
	}
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestFleetRelayAndEvents(t *testing.T) {
	ns := natstest.Start(t, 0)
	defer ns.Shutdown()
	nodes := fleet(t, ns.ClientURL())

	// A watcher on node a sees connects on every node.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := make(chan session.Event, 64)
	subscribed := make(chan struct{})
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- nodes[0].n.WatchSubscribed(ctx, 64, func() { close(subscribed) }, func(ev session.Event) bool {
			seen <- ev
			return true
		})
	}()
	<-subscribed

	members := map[string]*wsClient{}
	for _, tn := range nodes {
		members[tn.name] = tn.dial(t, "/room?room=x&name="+tn.name)
	}
	fromNode := map[string]bool{}
	for len(fromNode) < 3 {
		select {
		case ev := <-seen:
			if ev.Type == session.EventConnect {
				fromNode[ev.Conn.Node] = true
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("events seen from %v, want a, b, c", fromNode)
		}
	}
	eventually(t, "three members", 5*time.Second, func() bool { return nodes[0].n.Count(sel(t, "room=x")) == 3 })

	// Node a's member publishes 50 messages: b's and c's members get each
	// once, in order; the publisher gets none (relay skips the sender).
	const count = 50
	for i := range count {
		if err := members["a"].Conn.Write(context.Background(), protocol.TextMessage, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"b", "c"} {
		for i := range count {
			members[name].Expect(t, fmt.Sprintf("m%d", i))
		}
	}
	select {
	case m := <-members["a"].Msgs:
		t.Fatalf("publisher got %q", m)
	case <-time.After(100 * time.Millisecond):
	}
	for _, name := range []string{"b", "c"} {
		select {
		case m := <-members[name].Msgs:
			t.Fatalf("%s got a duplicate %q", name, m)
		default:
		}
	}
	cancel()
	if err := <-watchDone; err != nil {
		t.Fatalf("watch: %v", err)
	}
}

func TestFleetHistoryAndAudit(t *testing.T) {
	ns := natstest.Start(t, 0)
	defer ns.Shutdown()
	nodes := fleet(t, ns.ClientURL())
	// Sessions: 3 on a, 2 on b, 4 on c, closed, then flushed.
	want := 0
	for i, k := range []int{3, 2, 4} {
		for j := range k {
			w := nodes[i].dial(t, fmt.Sprintf("/?name=%s%d", nodes[i].name, j))
			eventually(t, "connection", 5*time.Second, func() bool { return nodes[i].d.Count(sel(t, "all")) == 1 })
			if err := w.Conn.Close(protocol.StatusNormalClosure, ""); err != nil {
				t.Fatal(err)
			}
			eventually(t, "close", 5*time.Second, func() bool { return nodes[i].d.Count(sel(t, "all")) == 0 })
			want++
		}
		for j := range 2 {
			nodes[i].st.RecordAudit(session.AuditEntry{Subject: "s", Action: "test", Target: fmt.Sprintf("%s-%d", nodes[i].name, j), Result: "ok"})
		}
		if err := nodes[i].st.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// Pages of 2, newest first, no duplicates, every session once.
	var got []session.Record
	before := ""
	for range 20 {
		p, f, err := nodes[1].n.FleetSessions(context.Background(), session.Filter{Limit: 2, Before: before})
		if err != nil || f.Partial {
			t.Fatalf("sessions: %v %+v", err, f)
		}
		got = append(got, p.Sessions...)
		if p.Next == "" {
			break
		}
		before = p.Next
	}
	if len(got) != want {
		t.Fatalf("paged %d sessions, want %d", len(got), want)
	}
	ids := map[string]bool{}
	for i, r := range got {
		if ids[r.ID] {
			t.Fatalf("session %s twice", r.ID)
		}
		ids[r.ID] = true
		if i > 0 && r.ConnectedAt.After(got[i-1].ConnectedAt) {
			t.Fatalf("sessions not newest first at %d", i)
		}
	}
	// One session by id from another node.
	if r, err := nodes[0].n.GetSession(context.Background(), got[0].ID); err != nil || r.ID != got[0].ID {
		t.Fatalf("get session: %v", err)
	}
	// Audit: 6 entries in pages of 4, each with its node.
	var entries []string
	cursor := ""
	for range 10 {
		es, nn, next, f, err := nodes[2].n.FleetAudit(context.Background(), session.AuditFilter{Limit: 4}, cursor)
		if err != nil || f.Partial {
			t.Fatalf("audit: %v %+v", err, f)
		}
		for i, e := range es {
			if e.Target[:1] != nn[i] {
				t.Errorf("audit %s from node %s", e.Target, nn[i])
			}
			entries = append(entries, e.Target)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	slices.Sort(entries)
	if fmt.Sprint(entries) != "[a-0 a-1 b-0 b-1 c-0 c-1]" {
		t.Fatalf("audit entries %v", entries)
	}
}

func TestFleetNodeDiesAndBusDown(t *testing.T) {
	ns := natstest.Start(t, 0)
	port := ns.Addr().(*net.TCPAddr).Port
	nodes := fleet(t, ns.ClientURL())
	a, c := nodes[0], nodes[2]
	local := a.dial(t, "/?name=a0")
	eventually(t, "a0", 5*time.Second, func() bool { return a.d.Count(sel(t, "all")) == 1 })

	// A node dies without a word: answers are partial until its
	// heartbeat expires, then it is gone and answers are whole again.
	c.crash()
	start := time.Now()
	_, f := a.n.FleetCount(sel(t, "all"))
	if !f.Partial || !slices.Equal(f.MissingNodes, []string{"c"}) {
		t.Logf("count right after the crash: %+v (c may have expired already)", f)
	}
	eventually(t, "c gone from nodes", 5*time.Second, func() bool {
		nn, _ := a.n.Nodes()
		return len(nn) == 2
	})
	t.Logf("c left the list after %v", time.Since(start).Round(time.Millisecond))
	if _, f := a.n.FleetCount(sel(t, "all")); f.Partial {
		t.Fatalf("answer partial after c left: %+v", f)
	}

	// The bus goes down: local service goes on, fleet answers are partial.
	ns.Shutdown()
	eventually(t, "a sees the bus down", 5*time.Second, func() bool { return !a.n.Connected() })
	cs, _, f, err := a.n.FleetConnections(sel(t, "all"), "", 10)
	if err != nil || len(cs) != 1 || !f.Partial || !slices.Contains(f.MissingNodes, "b") {
		t.Fatalf("list with the bus down: %d %+v %v", len(cs), f, err)
	}
	if err := a.n.SendContext(context.Background(), cs[0].ID, session.Text, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	local.Expect(t, "still here")

	// The bus comes back on the same port: nodes reconnect by themselves.
	ns2 := natstest.Start(t, port)
	defer ns2.Shutdown()
	eventually(t, "a and b reconnect", 10*time.Second, func() bool {
		nn, f := a.n.Nodes()
		_, fc := a.n.FleetCount(sel(t, "all"))
		return a.n.Connected() && !f.Partial && len(nn) == 2 && !fc.Partial
	})
}

// slowBroadcast is a daemon whose broadcasts take longer than the fleet's
// request timeout, as a node's do with many connections on a busy host.
type slowBroadcast struct {
	*daemon.Daemon
	delay time.Duration
}

func (s slowBroadcast) BroadcastContext(ctx context.Context, sel session.Selector, typ session.MessageType, p []byte) session.BroadcastResult {
	time.Sleep(s.delay)
	return s.Daemon.BroadcastContext(ctx, sel, typ, p)
}

// TestFleetBroadcastOutlastsTimeout: a node that acknowledges a broadcast
// at once and answers after --cluster-timeout is slow, not missing; a node
// that does not even acknowledge is missing after --cluster-timeout.
func TestFleetBroadcastOutlastsTimeout(t *testing.T) {
	ns := natstest.Start(t, 0)
	defer ns.Shutdown()
	a := newTestNode(t, ns.ClientURL(), "a")
	delay := 2 * a.n.cfg.Timeout
	b := newTestNodeWith(t, ns.ClientURL(), "b", func(d *daemon.Daemon) Local { return slowBroadcast{d, delay} })
	c := newTestNode(t, ns.ClientURL(), "c")
	for _, tn := range []*testNode{a, b, c} {
		eventually(t, tn.name+" sees the fleet", 5*time.Second, func() bool {
			nodes, f := tn.n.Nodes()
			return len(nodes) == 3 && !f.Partial
		})
	}
	wa, wb := a.dial(t, "/"), b.dial(t, "/")
	eventually(t, "two connections", 5*time.Second, func() bool { return a.n.Count(session.Selector{}) == 2 })

	start := time.Now()
	res, per, f := a.n.FleetBroadcast(context.Background(), session.Selector{}, session.Text, []byte("slow"))
	took := time.Since(start)
	if f.Partial || res.Queued != 2 || per["b"].Queued != 1 {
		t.Fatalf("broadcast: %+v per node %+v fleet %+v", res, per, f)
	}
	if took < delay {
		t.Fatalf("answered in %v, before b's broadcast could end (%v)", took, delay)
	}
	wa.Expect(t, "slow")
	wb.Expect(t, "slow")

	// c goes away without a word: it never acknowledges, and is missing
	// after the request timeout while b is still working.
	c.crash()
	start = time.Now()
	res, _, f = a.n.FleetBroadcast(context.Background(), session.Selector{}, session.Text, []byte("again"))
	took = time.Since(start)
	if !f.Partial || len(f.MissingNodes) != 1 || f.MissingNodes[0] != "c" || res.Queued != 2 {
		t.Fatalf("with c gone: %+v fleet %+v", res, f)
	}
	if took < delay || took > WorkTimeout/2 {
		t.Fatalf("with c gone: answered in %v, want b's %v and no more than a little", took, delay)
	}
}
