package admin

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// TestDrainEndToEnd drains 200 real connections over a second through the
// API: every client sees the code, history says drain, the call is
// audited, the node stays cordoned (refusing upgrades, not ready) until
// uncordoned.
func TestDrainEndToEnd(t *testing.T) {
	e := newEnv(t, envOpts{})
	const n = 200
	clients := make([]*wsClient, n)
	for i := range clients {
		clients[i] = e.dial("/chat")
	}
	eventually(t, "registrations", func() bool { return e.d.Count(session.Selector{}) == n })
	c := e.client(apitype.ScopeConnectionsClose, apitype.ScopeConnectionsRead, apitype.ScopeSessionsRead, apitype.ScopeAuditRead)

	// The caller goes away as soon as the drain started: it goes on.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	start := time.Now()
	st, err := c.Drain(ctx, "", apitype.DrainRequest{Over: "1s", Reason: "maintenance"})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if !st.Running || st.Total != n || st.Code != 1012 || !st.Cordoned || st.OverSeconds != 1 {
		t.Fatalf("drain started: %+v", st)
	}
	if _, err := c.Drain(t.Context(), "", apitype.DrainRequest{}); !client.IsConflict(err) {
		t.Fatalf("second drain: %v", err)
	}
	if _, err := c.Uncordon(t.Context(), ""); !client.IsConflict(err) {
		t.Fatalf("uncordon during the drain: %v", err)
	}
	if e.d.Ready() {
		t.Fatal("ready while draining")
	}
	ctx, cancel = context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, resp, err := protocol.Dial(ctx, e.wsURL+"/chat", nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("upgrade during the drain: %v %v", resp, err)
	}
	for _, w := range clients {
		w.expectClose(t, 1012, "maintenance")
	}
	took := time.Since(start)
	if took < 500*time.Millisecond {
		t.Fatalf("200 closes over 1s took %v: not paced", took)
	}
	eventually(t, "drain end", func() bool {
		st, err := c.DrainStatus(t.Context(), "")
		return err == nil && !st.Running && st.Closed == n && st.Remaining == 0 && st.FinishedAt != nil
	})
	eventually(t, "history", func() bool {
		page, err := c.Sessions(t.Context(), client.SessionsQuery{ClosedBy: string(session.ClosedByDrain), Limit: 500})
		return err == nil && len(page.Sessions) == n
	})
	audit, err := c.Audit(t.Context(), client.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range audit.Entries {
		actions = append(actions, a.Action+"/"+a.Result)
	}
	want := map[string]bool{apitype.ActionDrain + "/ok": false, apitype.ActionDrain + "/conflict": false, apitype.ActionUncordon + "/conflict": false}
	for _, a := range actions {
		if _, ok := want[a]; ok {
			want[a] = true
		}
	}
	for a, seen := range want {
		if !seen {
			t.Errorf("audit lacks %s: %v", a, actions)
		}
	}
	if e.d.Ready() {
		t.Fatal("ready after the drain: the node stays cordoned")
	}
	if cs, err := c.Uncordon(t.Context(), ""); err != nil || cs.Cordoned {
		t.Fatalf("uncordon: %+v %v", cs, err)
	}
	if !e.d.Ready() {
		t.Fatal("not ready after uncordon")
	}
	e.dial("/chat")
	t.Logf("drained %d connections over 1s in %v", n, took)
}

func TestCordonAPI(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.client(apitype.ScopeConnectionsClose, apitype.ScopeConnectionsRead)
	if _, err := c.DrainStatus(t.Context(), ""); err == nil || !client.IsNotFound(err) {
		t.Fatalf("drain status before any: %v", err)
	}
	if cs, err := c.Cordon(t.Context(), ""); err != nil || !cs.Cordoned || e.d.Ready() {
		t.Fatalf("cordon: %+v %v", cs, err)
	}
	if nl, err := c.Nodes(t.Context()); err != nil || len(nl.Nodes) != 1 || nl.Nodes[0].Health != apitype.HealthCordoned {
		t.Fatalf("nodes of a cordoned node: %+v %v", nl, err)
	}
	if cs, err := c.Uncordon(t.Context(), ""); err != nil || cs.Cordoned || !e.d.Ready() {
		t.Fatalf("uncordon: %+v %v", cs, err)
	}
	if nl, err := c.Nodes(t.Context()); err != nil || len(nl.Nodes) != 1 || nl.Nodes[0].Health != apitype.HealthOK {
		t.Fatalf("nodes of an uncordoned node: %+v %v", nl, err)
	}
	for _, body := range []string{`{"over":"-1s"}`, `{"over":"soon"}`, `{"code":1006}`, `{"selector":"=="}`} {
		if status, ans := e.do(http.MethodPost, "/v1/drain", "application/json", body, http.Header{"Authorization": {"Bearer " + e.token(apitype.ScopeConnectionsClose)}}); status != http.StatusBadRequest {
			t.Errorf("drain %s: %d %s", body, status, ans)
		}
	}
	if _, err := e.client(apitype.ScopeConnectionsRead).Cordon(t.Context(), ""); !client.IsAuth(err) {
		t.Fatalf("cordon with connections:read: %v", err)
	}
}

// TestNodeParamOnASingleNode: ?node= naming the node itself acts as
// without it; another name is 404 "no node named": a server outside a
// fleet reaches no other node (issues 18, 20).
func TestNodeParamOnASingleNode(t *testing.T) {
	e := newEnv(t, envOpts{cfg: Config{Node: "solo"}})
	c := e.client(apitype.ScopeConnectionsClose, apitype.ScopeConnectionsRead, apitype.ScopeAuditRead)
	if cs, err := c.Cordon(t.Context(), "solo"); err != nil || !cs.Cordoned || e.d.Ready() {
		t.Fatalf("cordon --node solo: %+v %v", cs, err)
	}
	if cs, err := c.Uncordon(t.Context(), "solo"); err != nil || cs.Cordoned || !e.d.Ready() {
		t.Fatalf("uncordon --node solo: %+v %v", cs, err)
	}
	if _, err := c.DrainStatus(t.Context(), "solo"); !client.IsNotFound(err) || !strings.Contains(err.Error(), "this node has not drained") {
		t.Fatalf("drain status --node solo: %v", err)
	}
	for name, call := range map[string]func() error{
		"cordon":   func() error { _, err := c.Cordon(t.Context(), "other"); return err },
		"uncordon": func() error { _, err := c.Uncordon(t.Context(), "other"); return err },
		"drain":    func() error { _, err := c.Drain(t.Context(), "other", apitype.DrainRequest{}); return err },
		"status":   func() error { _, err := c.DrainStatus(t.Context(), "other"); return err },
	} {
		if err := call(); !client.IsNotFound(err) || !strings.Contains(err.Error(), "no node named other") {
			t.Errorf("%s on node other: %v", name, err)
		}
	}
	if e.d.Cordoned() {
		t.Error("a verb for another node cordoned this one")
	}
	if status, ans := e.do(http.MethodPost, "/v1/cordon?nod=x", "", "", http.Header{"Authorization": {"Bearer " + e.token(apitype.ScopeConnectionsClose)}}); status != http.StatusBadRequest {
		t.Errorf("unknown parameter: %d %s", status, ans)
	}
}

func TestTraceOnDemandAPI(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	defer tp.Shutdown(t.Context())
	e := newEnv(t, envOpts{tp: tp, cfg: Config{TraceURL: "http://j/{trace_id}"}})
	c := e.client(apitype.ScopeConnectionsWrite, apitype.ScopeConnectionsRead)
	e.dial("/chat?name=t")
	id := e.idOf("t")
	conn, err := c.Connection(t.Context(), id)
	if err != nil || conn.Trace != nil {
		t.Fatalf("before arming: %+v %v", conn, err)
	}
	arm, err := c.Trace(t.Context(), id, "2m")
	if err != nil || arm.TraceID == "" || arm.TraceURL != "http://j/"+arm.TraceID || time.Until(arm.Until) > 2*time.Minute {
		t.Fatalf("arm: %+v %v", arm, err)
	}
	conn, err = c.Connection(t.Context(), id)
	if err != nil || conn.Trace == nil || conn.Trace.TraceID != arm.TraceID {
		t.Fatalf("inspect while armed: %+v %v", conn, err)
	}
	if _, err := c.Trace(t.Context(), id, "2h"); !client.IsBadRequest(err) {
		t.Fatalf("2h: %v", err)
	}
	if _, err := c.Trace(t.Context(), "01a2503b-9878-7000-ab66-fa8c5d46ac7b", ""); !client.IsNotFound(err) {
		t.Fatalf("unknown id: %v", err)
	}

	off := newEnv(t, envOpts{})
	off.dial("/chat?name=u")
	if _, err := off.client(apitype.ScopeConnectionsWrite).Trace(t.Context(), off.idOf("u"), ""); err == nil || !strings.Contains(err.Error(), "tracing is off") {
		t.Fatalf("tracing off: %v", err)
	}
}

// TestTail: metadata of messages both ways; payload previews only with
// the tap scope; a tap that is not read never slows the connection.
func TestTail(t *testing.T) {
	e := newEnv(t, envOpts{})
	w := e.dial("/chat?name=a")
	id := e.idOf("a")

	type result struct {
		evs []apitype.TapEvent
		err error
	}
	tail := func(c *client.Client, q client.TailQuery, n int) (<-chan result, context.CancelFunc) {
		ctx, cancel := context.WithCancel(t.Context())
		sub := make(chan struct{})
		out := make(chan result, 1)
		go func() {
			var r result
			r.err = c.Tail(ctx, q, func(apitype.Fleet) { close(sub) }, func(ev apitype.TapEvent) error {
				r.evs = append(r.evs, ev)
				if len(r.evs) == n {
					cancel()
				}
				return nil
			})
			out <- r
		}()
		select {
		case <-sub:
		case r := <-out:
			t.Fatalf("tail did not subscribe: %v", r.err)
		}
		return out, cancel
	}

	meta, cancel := tail(e.client(apitype.ScopeConnectionsRead), client.TailQuery{ID: id}, 2)
	defer cancel()
	full, cancel2 := tail(e.client(apitype.ScopeConnectionsRead, apitype.ScopeConnectionsTap), client.TailQuery{Selector: "name=a", Payload: true}, 2)
	defer cancel2()
	if err := w.Conn.Write(t.Context(), protocol.TextMessage, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	w.Expect(t, "text:hello")
	r := <-meta
	if len(r.evs) != 2 || r.evs[0].Direction != "in" || r.evs[1].Direction != "out" || r.evs[0].Size != 5 ||
		r.evs[0].Message != "text" || r.evs[0].Payload != nil || r.evs[0].ID != id {
		t.Fatalf("metadata tail: %+v %v", r.evs, r.err)
	}
	r = <-full
	if len(r.evs) != 2 || string(r.evs[0].Payload) != "hello" || string(r.evs[1].Payload) != "hello" {
		t.Fatalf("payload tail: %+v %v", r.evs, r.err)
	}

	if err := e.client(apitype.ScopeConnectionsRead).Tail(t.Context(), client.TailQuery{ID: id, Payload: true}, nil, nil); !client.IsAuth(err) {
		t.Fatalf("payload without the tap scope: %v", err)
	}
	if err := e.client(apitype.ScopeConnectionsRead).Tail(t.Context(), client.TailQuery{}, nil, nil); !client.IsBadRequest(err) {
		t.Fatalf("neither id nor selector: %v", err)
	}

	// A tap registered in the daemon that nobody reads: the connection
	// goes on at full speed, and the tap counts what it dropped.
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	subscribed := make(chan struct{})
	block := make(chan struct{})
	var dropped uint64
	calls := 0
	tapped := make(chan error, 1)
	go func() {
		tapped <- e.d.Tap(ctx, session.Selector{}, id, 0, 4, func() { close(subscribed) }, func(_ session.TapEvent, d uint64) bool {
			<-block // the reader is stuck until the messages went through
			dropped += d
			calls++
			return calls < 2 // the second call tells what was dropped meanwhile
		})
	}()
	<-subscribed
	for i := range 50 {
		msg := fmt.Sprintf("m%d", i)
		if err := w.Conn.Write(t.Context(), protocol.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		w.Expect(t, "text:"+msg)
	}
	close(block)
	<-tapped
	if dropped == 0 {
		t.Fatal("a stuck tap dropped nothing")
	}
}
