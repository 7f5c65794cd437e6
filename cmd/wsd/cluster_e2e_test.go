package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
	"github.com/wsd-dev/wsd/admin/token"
	"github.com/wsd-dev/wsd/internal/natstest"
	"github.com/wsd-dev/wsd/protocol"
)

// pollUntil polls cond until it holds or within passes.
func pollUntil(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterThreeNodes runs three wsd processes against one embedded NATS
// server on loopback (issue 18).
func TestClusterThreeNodes(t *testing.T) {
	ns := natstest.Start(t, 0)
	port := ns.Addr().(*net.TCPAddr).Port
	defer func() { ns.Shutdown() }()

	key, tok := fleetKey(t)

	names := []string{"a", "b", "c"}
	nodes := map[string]*wsd{}
	admins := map[string]*client.Client{}
	for _, name := range names {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, adminKeyName), key, 0o600); err != nil {
			t.Fatal(err)
		}
		nodes[name] = startWSD(t, wsdOpts{stateDir: dir, args: []string{
			"--cluster", ns.ClientURL(), "--node", name, "--cluster-timeout", "1s",
			"--route", "/=sink", "--route", "/room=relay:room", "--label-from-query", "room,name",
		}})
		c, err := client.New(nodes[name].Admin, tok, nil)
		if err != nil {
			t.Fatal(err)
		}
		admins[name] = c
	}
	ctx := testCtx(t, 2*time.Minute)
	pollUntil(t, "three nodes seen by each", 10*time.Second, func() bool {
		for _, name := range names {
			nl, err := admins[name].Nodes(ctx)
			if err != nil || len(nl.Nodes) != 3 || nl.Partial {
				return false
			}
		}
		return true
	})

	// Two members of room x on each node.
	conns := map[string]*protocol.Conn{}
	for _, name := range names {
		for i := range 2 {
			id := fmt.Sprintf("%s%d", name, i)
			conns[id] = dialWS(t, nodes[name].url("/room?room=x&name="+id), nil)
		}
	}
	var (
		list *apitype.ConnectionList
		err  error
	)
	pollUntil(t, "six connections listed fleet-wide", 10*time.Second, func() bool {
		list, err = admins["a"].Connections(ctx, client.ConnectionsQuery{Selector: "room=x"})
		return err == nil && len(list.Connections) == 6
	})
	if list.Partial {
		t.Fatalf("list partial: %+v", list.Fleet)
	}
	ids := map[string]string{}
	for _, c := range list.Connections {
		if c.Node != c.Labels["name"][:1] {
			t.Errorf("connection %s on node %q", c.Labels["name"], c.Node)
		}
		ids[c.Labels["name"]] = c.ID
	}

	// Relay across nodes: each message once to every other member, in order.
	for i := range 20 {
		if err := conns["b0"].Write(ctx, protocol.TextMessage, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"a0", "a1", "b1", "c0", "c1"} {
		for i := range 20 {
			if _, p := readMessage(t, conns[id]); string(p) != fmt.Sprintf("m%d", i) {
				t.Fatalf("%s got %q, want m%d", id, p, i)
			}
		}
	}

	// Broadcast by selector from node c: per-node counts.
	text := "hello fleet"
	res, err := admins["c"].Broadcast(ctx, apitype.BroadcastRequest{Selector: "room=x", Text: &text})
	if err != nil {
		t.Fatal(err)
	}
	if res.Matched != 6 || res.Queued != 6 || res.Partial || res.Nodes["a"].Queued != 2 || res.Nodes["b"].Queued != 2 || res.Nodes["c"].Queued != 2 {
		t.Fatalf("broadcast %+v", res)
	}
	for id, c := range conns {
		if _, p := readMessage(t, c); string(p) != text {
			t.Fatalf("%s got %q", id, p)
		}
	}

	// Kill a connection on node b through node a's API: the client sees the code.
	if _, err := admins["a"].Close(ctx, ids["b1"], 4002, "moved"); err != nil {
		t.Fatal(err)
	}
	if code, reason := readClose(t, conns["b1"]); code != 4002 || reason != "moved" {
		t.Fatalf("b1 closed with %d %q", code, reason)
	}

	// Audit fan-out: the kill was written by node a, and is listed by c.
	pollUntil(t, "the kill by node a in c's audit listing", 10*time.Second, func() bool {
		al, err := admins["c"].Audit(ctx, client.AuditQuery{})
		if err != nil || al.Partial {
			return false
		}
		for _, e := range al.Entries {
			if e.Action == apitype.ActionClose && e.Target == ids["b1"] && e.Node == "a" && e.Subject == "ops" {
				return true
			}
		}
		return false
	})

	// kill -9 node c: gone from nodes within 5 s, answers whole after.
	nodes["c"].signal(syscall.SIGKILL)
	nodes["c"].wait(10 * time.Second)
	killed := time.Now()
	pollUntil(t, "c gone from nodes", 5*time.Second, func() bool {
		nl, err := admins["a"].Nodes(ctx)
		return err == nil && len(nl.Nodes) == 2
	})
	t.Logf("node c left the list %v after kill -9", time.Since(killed).Round(time.Millisecond))
	list, err = admins["a"].Connections(ctx, client.ConnectionsQuery{Selector: "room=x"})
	if err != nil || list.Partial || len(list.Connections) != 3 {
		t.Fatalf("after c died: %v %+v", err, list)
	}

	// NATS stops: local admin works, fleet answers are partial.
	ns.Shutdown()
	pollUntil(t, "a answers partial", 10*time.Second, func() bool {
		list, err = admins["a"].Connections(ctx, client.ConnectionsQuery{Selector: "room=x"})
		return err == nil && list.Partial && slices.Contains(list.MissingNodes, "b")
	})
	if len(list.Connections) != 2 {
		t.Fatalf("a lists %d of its own connections with NATS down", len(list.Connections))
	}
	if _, err := admins["a"].Send(ctx, ids["a0"], apitype.Message{Text: &text}); err != nil {
		t.Fatalf("send on a with NATS down: %v", err)
	}
	if _, p := readMessage(t, conns["a0"]); string(p) != text {
		t.Fatalf("a0 got %q", p)
	}
	st, err := admins["a"].Stats(ctx)
	if err != nil || st.Cluster == nil || st.Cluster.Connected || !st.Partial {
		t.Fatalf("stats with NATS down: %v %+v", err, st)
	}

	// NATS restarts on its port: the nodes reconnect by themselves.
	ns = natstest.Start(t, port)
	pollUntil(t, "whole answers after NATS restarts", 20*time.Second, func() bool {
		list, err = admins["b"].Connections(ctx, client.ConnectionsQuery{Selector: "room=x"})
		return err == nil && !list.Partial && len(list.Connections) == 3
	})
	nodes["a"].waitLog("cluster: lost NATS; fleet-wide answers are partial until it is back", time.Second)
}

// fleetKey makes one admin key for a fleet (every node verifies the same
// tokens) and an admin token for it, subject ops.
func fleetKey(t *testing.T) (key []byte, tok string) {
	t.Helper()
	keyDir := t.TempDir()
	keyPath := filepath.Join(keyDir, adminKeyName)
	if _, _, err := token.LoadOrCreateKey(keyPath); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	return key, mintToken(t, "--subject", "ops", "--scope", "admin", "--state-dir", keyDir)
}
