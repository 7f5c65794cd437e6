package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
	"github.com/wsd-dev/wsd/internal/natstest"
	"github.com/wsd-dev/wsd/internal/wsdtest"
)

// fleet is wsd nodes joined through one embedded NATS server, sharing one
// admin key, each with an admin client of subject "ops".
type fleet struct {
	nodes  map[string]*wsd
	admins map[string]*client.Client
}

// startFleet starts a NATS server and a wsd node of each name (with args
// added), and waits until every node sees all of them.
func startFleet(t *testing.T, names []string, args ...string) *fleet {
	t.Helper()
	ns := natstest.Start(t, 0)
	t.Cleanup(ns.Shutdown)
	key, tok := fleetKey(t)
	f := &fleet{nodes: map[string]*wsd{}, admins: map[string]*client.Client{}}
	for _, name := range names {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, adminKeyName), key, 0o600); err != nil {
			t.Fatal(err)
		}
		f.nodes[name] = startWSD(t, wsdOpts{stateDir: dir, args: append([]string{
			"--cluster", ns.ClientURL(), "--node", name, "--cluster-timeout", "2s",
		}, args...)})
		admin, err := client.New(f.nodes[name].Admin, tok, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.admins[name] = admin
	}
	ctx := testCtx(t, time.Minute)
	pollUntil(t, fmt.Sprintf("%d nodes seen by each", len(names)), 15*time.Second, func() bool {
		for _, name := range names {
			nl, err := f.admins[name].Nodes(ctx)
			if err != nil || len(nl.Nodes) != len(names) || nl.Partial {
				return false
			}
		}
		return true
	})
	return f
}

// TestClusterHistoryPaging: three nodes; session history and audit listed
// through one node page across all three with a small limit, following
// the next cursors: every row once, newest first, none missing; and node
// a's /v1/events shows the connects and closes of clients on b and c
// (issue 18).
func TestClusterHistoryPaging(t *testing.T) {
	names := []string{"a", "b", "c"}
	f := startFleet(t, names, "--label-from-query", "name")
	ctx := testCtx(t, 2*time.Minute)

	// Node a's event stream, from before the first client.
	events := make(chan apitype.Event, 256)
	wctx, stopWatch := context.WithCancel(ctx)
	subscribed, watchDone := make(chan struct{}), make(chan error, 1)
	go func() {
		watchDone <- f.admins["a"].Watch(wctx, func() { close(subscribed) }, func(ev apitype.Event) error {
			select {
			case events <- ev:
				return nil
			default:
				return errors.New("test's event buffer is full")
			}
		})
	}()
	defer func() {
		stopWatch()
		if err := <-watchDone; !errors.Is(err, context.Canceled) {
			t.Errorf("watch: %v", err)
		}
	}()
	select {
	case <-subscribed:
	case err := <-watchDone:
		t.Fatalf("watch ended: %v", err)
	}

	// Four clients per node, dialed in turns so that the nodes' sessions
	// interleave in time; each is then closed through the API of the node
	// after its own (routed to its owner; audited by the receiving node).
	const perNode = 4
	nodeOf := map[string]string{} // client name → node
	clients := map[string]*wsdtest.Client{}
	for i := range perNode {
		for _, node := range names {
			name := fmt.Sprintf("%s%d", node, i)
			nodeOf[name] = node
			clients[name] = wsdtest.Dial(t, f.nodes[node].url("/?name="+name), false)
		}
	}
	var list []apitype.Connection
	pollUntil(t, "12 connections fleet-wide", 10*time.Second, func() bool {
		var fl apitype.Fleet
		var err error
		list, fl, err = f.admins["a"].AllConnections(ctx, "")
		return err == nil && !fl.Partial && len(list) == perNode*len(names)
	})
	idOf, nameOf := map[string]string{}, map[string]string{}
	for _, c := range list {
		idOf[c.Labels["name"]], nameOf[c.ID] = c.ID, c.Labels["name"]
	}
	closer := map[string]string{} // connection id → the node whose API closed it
	for i := range perNode {
		for k, node := range names {
			name := fmt.Sprintf("%s%d", node, i)
			via := names[(k+1)%len(names)]
			if _, err := f.admins[via].Close(ctx, idOf[name], 4000+i, "bye"); err != nil {
				t.Fatalf("close %s through %s: %v", name, via, err)
			}
			closer[idOf[name]] = via
			select {
			case ce := <-clients[name].Closed:
				if ce == nil || int(ce.Code) != 4000+i {
					t.Fatalf("%s saw %v", name, ce)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s never saw its close", name)
			}
		}
	}
	total := perNode * len(names)

	// History: wait until every node has written its ends, then page.
	pollUntil(t, "every end in fleet history", 15*time.Second, func() bool {
		sl, err := f.admins["b"].Sessions(ctx, client.SessionsQuery{ClosedBy: "admin", Limit: 100})
		return err == nil && !sl.Partial && len(sl.Sessions) == total
	})
	for _, limit := range []int{1, 5} {
		seen := map[string]int{}
		var prev *apitype.Session
		var before string
		pages := 0
		for range total + 2 {
			sl, err := f.admins["b"].Sessions(ctx, client.SessionsQuery{Limit: limit, Before: before})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if sl.Partial || len(sl.Sessions) > limit {
				t.Fatalf("limit %d page %d: partial %v, %d rows", limit, pages, sl.Partial, len(sl.Sessions))
			}
			for i := range sl.Sessions {
				s := &sl.Sessions[i]
				seen[s.ID]++
				if name, ok := nameOf[s.ID]; !ok || s.Node != nodeOf[name] || s.ClosedBy != "admin" {
					t.Errorf("row %s (%s) on node %q, closed by %q", s.ID, name, s.Node, s.ClosedBy)
				}
				if prev != nil && (s.ConnectedAt.After(prev.ConnectedAt) || s.ConnectedAt.Equal(prev.ConnectedAt) && s.ID > prev.ID) {
					t.Errorf("limit %d: %s (%v) after %s (%v): not newest first", limit, s.ID, s.ConnectedAt, prev.ID, prev.ConnectedAt)
				}
				prev = s
			}
			if before = sl.Next; before == "" {
				break
			}
		}
		if before != "" {
			t.Fatalf("limit %d: still a next cursor after %d pages", limit, pages)
		}
		for id, name := range nameOf {
			if seen[id] != 1 {
				t.Errorf("limit %d: %s (%s) listed %d times", limit, id, name, seen[id])
			}
		}
		if len(seen) != total {
			t.Errorf("limit %d: %d sessions listed, want %d", limit, len(seen), total)
		}
		t.Logf("sessions: limit %d, %d pages, %d rows", limit, pages, len(seen))
	}

	// Audit through node c, three entries a page, once every node has
	// written its rows (they are written after the answer).
	pollUntil(t, "every close in the fleet's audit", 15*time.Second, func() bool {
		al, err := f.admins["c"].Audit(ctx, client.AuditQuery{Limit: 100})
		return err == nil && !al.Partial && len(al.Entries) == total
	})
	seen := map[string]int{}
	var prev *apitype.AuditEntry
	var before string
	pages := 0
	for range total + 2 {
		al, err := f.admins["c"].Audit(ctx, client.AuditQuery{Limit: 3, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if al.Partial || len(al.Entries) > 3 {
			t.Fatalf("audit page %d: partial %v, %d entries", pages, al.Partial, len(al.Entries))
		}
		for i := range al.Entries {
			e := &al.Entries[i]
			seen[e.Target]++
			if e.Action != apitype.ActionClose || e.Subject != "ops" || e.Result != apitype.ResultOK || e.Node != closer[e.Target] {
				t.Errorf("audit entry %+v; want a close by ops on node %q", *e, closer[e.Target])
			}
			if prev != nil && e.At.After(prev.At) {
				t.Errorf("audit entry %d (%v) after %d (%v): not newest first", e.ID, e.At, prev.ID, prev.At)
			}
			prev = e
		}
		if before = al.Next; before == "" {
			break
		}
	}
	if before != "" {
		t.Fatalf("audit: still a next cursor after %d pages", pages)
	}
	for id, name := range nameOf {
		if seen[id] != 1 {
			t.Errorf("audit: the close of %s (%s) listed %d times", id, name, seen[id])
		}
	}
	if len(seen) != total {
		t.Errorf("audit: %d entries, want %d", len(seen), total)
	}
	t.Logf("audit: limit 3, %d pages, %d entries", pages, len(seen))

	// Node a's stream showed the connects and closes on every node.
	want := map[string]bool{} // type + " " + id
	for id, name := range nameOf {
		if nodeOf[name] != "a" {
			want[apitype.EventConnect+" "+id], want[apitype.EventClose+" "+id] = true, true
		}
	}
	deadline := time.After(15 * time.Second)
	for len(want) > 0 {
		select {
		case ev := <-events:
			if ev.Connection == nil {
				continue
			}
			key := ev.Type + " " + ev.Connection.ID
			if want[key] {
				if name := nameOf[ev.Connection.ID]; ev.Connection.Node != nodeOf[name] {
					t.Errorf("%s event of %s says node %q", ev.Type, name, ev.Connection.Node)
				}
				if ev.Type == apitype.EventClose && (ev.Close == nil || ev.Close.ClosedBy != "admin") {
					t.Errorf("close event of %s: %+v", nameOf[ev.Connection.ID], ev.Close)
				}
			}
			delete(want, key)
		case err := <-watchDone:
			t.Fatalf("watch ended: %v", err)
		case <-deadline:
			t.Fatalf("node a's events lack %v", want)
		}
	}
}
