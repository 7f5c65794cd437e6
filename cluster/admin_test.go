package cluster

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/admin"
	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
	"github.com/wsd-dev/wsd/admin/token"
	"github.com/wsd-dev/wsd/internal/natstest"
	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// adminOn serves the admin API on tn as cmd/wsd wires it in a fleet: the
// cluster Node as Hub and History, the daemon as Node. It returns a client
// with an admin token of subject "ops".
func adminOn(t *testing.T, tn *testNode) *client.Client {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer := token.Signer{Private: priv}
	ver, err := token.NewVerifier(token.VerifierConfig{Keys: []token.Key{signer.Key()}, Audience: token.DefaultAdminAudience})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := admin.New(admin.Config{Node: tn.name}, admin.Deps{Hub: tn.n, History: tn.n, Node: tn.d, Tokens: ver})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Shutdown(); ts.Close() })
	tok, err := signer.Mint(token.MintOptions{Subject: "ops", Audience: token.DefaultAdminAudience, Scopes: []string{apitype.ScopeAdmin}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(ts.URL, tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func hasStatus(err error, status int) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Status == status
}

// TestAdminAcrossTheFleet: the admin API of node a runs the verbs on the
// other nodes (issues 18, 20): by ?node= and by id, audited on a with the
// subject and the target node, with the statuses of the other node's
// answer, 404 for an unknown node and 503 for one that does not answer;
// stats carry each node's own rates.
func TestAdminAcrossTheFleet(t *testing.T) {
	ns := natstest.Start(t, 0)
	defer ns.Shutdown()
	nodes := fleet(t, ns.ClientURL())
	a, b, c := nodes[0], nodes[1], nodes[2]
	api := adminOn(t, a)
	ctx := context.Background()

	if cs, err := api.Cordon(ctx, "c"); err != nil || !cs.Cordoned || !c.d.Cordoned() || a.d.Cordoned() {
		t.Fatalf("cordon c: %+v %v", cs, err)
	}
	eventually(t, "the audit entry on a", 5*time.Second, func() bool {
		es, err := a.st.ListAudit(ctx, session.AuditFilter{Limit: 1})
		return err == nil && len(es) == 1 && es[0].Action == apitype.ActionCordon && es[0].Target == "c" && es[0].Subject == "ops"
	})
	if es, err := c.st.ListAudit(ctx, session.AuditFilter{}); err != nil || len(es) != 0 {
		t.Fatalf("c audited %d entries (%v); the node that received the call audits", len(es), err)
	}
	if cs, err := api.Uncordon(ctx, "c"); err != nil || cs.Cordoned || c.d.Cordoned() {
		t.Fatalf("uncordon c: %+v %v", cs, err)
	}
	if _, err := api.DrainStatus(ctx, "b"); !client.IsNotFound(err) || !strings.Contains(err.Error(), "node b has not drained") {
		t.Fatalf("drain status of b: %v", err)
	}
	if _, err := api.Cordon(ctx, "zz"); !client.IsNotFound(err) || err.Error() != "no node named zz" {
		t.Fatalf("cordon zz: %v", err)
	}

	// Drain c; a second drain is a conflict across the hop.
	wc := c.dial(t, "/?name=c1")
	cid := idOf(t, a, "c1")
	st, err := api.Drain(ctx, "c", apitype.DrainRequest{Over: "1h", Reason: "maint"})
	if err != nil || !st.Running || st.Total != 1 || !st.Cordoned {
		t.Fatalf("drain c: %+v %v", st, err)
	}
	if _, err := api.Drain(ctx, "c", apitype.DrainRequest{}); !client.IsConflict(err) {
		t.Fatalf("second drain of c: %v", err)
	}
	if st, err := api.DrainStatus(ctx, "c"); err != nil || !st.Running || st.Reason != "maint" {
		t.Fatalf("drain status of c: %+v %v", st, err)
	}

	// Id verbs on c's connection through a.
	if _, err := api.Trace(ctx, cid, "1m"); !hasStatus(err, 503) || !strings.Contains(err.Error(), "tracing is off") {
		t.Fatalf("trace on c without tracing: %v", err)
	}
	if cn, err := api.Connection(ctx, cid); err != nil || cn.Node != "c" || cn.Trace != nil {
		t.Fatalf("inspect: %+v %v", cn, err)
	}
	if w, err := api.Why(ctx, cid); err != nil || !w.Live || w.Connection == nil || w.Connection.Node != "c" {
		t.Fatalf("why a live connection of c: %+v %v", w, err)
	}
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan apitype.TapEvent, 16)
	subscribed := make(chan apitype.Fleet, 1)
	tailDone := make(chan error, 1)
	go func() {
		tailDone <- api.Tail(tctx, client.TailQuery{ID: cid}, func(f apitype.Fleet) { subscribed <- f }, func(ev apitype.TapEvent) error {
			got <- ev
			return nil
		})
	}()
	select {
	case f := <-subscribed:
		if f.Partial {
			t.Fatalf("tail partial: %+v", f)
		}
	case err := <-tailDone:
		t.Fatalf("tail: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("tail not subscribed")
	}
	if err := wc.Conn.Write(ctx, protocol.TextMessage, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-got:
		if ev.ID != cid || ev.Direction != apitype.DirectionIn || ev.Size != 5 {
			t.Fatalf("tail event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no tail event")
	}
	cancel()
	<-tailDone

	// Stats: every node's own rates, the total their sum.
	stats, err := api.Stats(ctx)
	if err != nil || len(stats.Nodes) != 3 {
		t.Fatalf("stats: %+v %v", stats, err)
	}
	var sum float64
	for _, n := range stats.Nodes {
		if n.Rates.WindowSeconds <= 0 {
			t.Errorf("node %s without rates: %+v", n.Node, n.Rates)
		}
		sum += n.Rates.ConnectsPerSecond
	}
	if stats.Rates.ConnectsPerSecond != sum || sum <= 0 {
		t.Errorf("total rate %v, sum of nodes' %v", stats.Rates.ConnectsPerSecond, sum)
	}

	// A node that does not answer: 503 with one line, in bounded time.
	b.mute(t)
	start := time.Now()
	if _, err := api.Cordon(ctx, "b"); !hasStatus(err, 503) || !strings.Contains(err.Error(), "node(s) b did not answer in time") {
		t.Fatalf("cordon a mute node: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("answered after %v", took)
	}
}
