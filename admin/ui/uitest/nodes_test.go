package uitest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/wsd-dev/wsd/admin/token"
	"github.com/wsd-dev/wsd/internal/natstest"
	"github.com/wsd-dev/wsd/internal/wsdtest"
)

// adminKeyFile is the name of wsd's admin token key in its state
// directory: the nodes of a fleet share one, so that any node verifies
// the same tokens.
const adminKeyFile = "admin.key"

// startFleet runs one wsd per name, joined through ns, sharing one admin
// key.
func startFleet(t *testing.T, ns *server.Server, names ...string) map[string]*wsdtest.Process {
	t.Helper()
	keyDir := t.TempDir()
	if _, _, err := token.LoadOrCreateKey(filepath.Join(keyDir, adminKeyFile)); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(keyDir, adminKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*wsdtest.Process{}
	for _, name := range names {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, adminKeyFile), key, 0o600); err != nil {
			t.Fatal(err)
		}
		out[name] = wsdtest.Start(t, wsdtest.Options{Bin: wsdBin, StateDir: dir, Args: []string{
			"--close-timeout", "2s", "--label-from-query", "tag",
			"--cluster", ns.ClientURL(), "--node", name, "--cluster-timeout", "1s",
		}})
	}
	return out
}

// jsNodes is the nodes table as {name: "health/connections/self"} once
// the page shows want nodes and partial (a string "true" or "false").
const jsNodes = `([n, partial]) => {
	const s = document.querySelector('#nodes-summary');
	if (!s || s.dataset.nodes !== String(n) || s.dataset.partial !== partial) return null;
	const out = {};
	for (const tr of document.querySelectorAll('#node-rows tr[data-node]')) out[tr.dataset.node] = tr.dataset.health + '/' + tr.cells[2].textContent + '/' + tr.dataset.self;
	return out;
}`

// TestNodesPage: the nodes page of a real two-node fleet (embedded NATS):
// both nodes with their connections, the answering one marked; then the
// bus goes down and the page warns that the answer is partial, naming the
// node it lost.
func TestNodesPage(t *testing.T) {
	requireBrowser(t)
	ns := natstest.Start(t, 0)
	fleet := startFleet(t, ns, "alpha", "beta")
	tok := mint(t, fleet["alpha"], "console-nodes", "connections:read")
	dial(t, fleet["alpha"], "a1")
	dial(t, fleet["alpha"], "a2")
	dial(t, fleet["beta"], "b1")

	b := startBrowser(t)
	b.do("open", map[string]any{"page": "n", "url": "http://" + fleet["alpha"].Admin + "/ui/#/nodes"})
	signIn(b, "n", tok)
	b.do("wait", map[string]any{"page": "n", "sel": `#nav a[data-page="nodes"][aria-current="page"]`})
	// Heartbeats carry each node's count: wait until both are current.
	var rows map[string]string
	b.waitfn("n", `(arg) => { const f = `+jsNodes+`; const r = f(arg); return r && r.alpha === 'ok/2/true' && r.beta === 'ok/1/false' ? r : null; }`, []any{2, "false"}, &rows)
	if got := b.text("n", "#nodes-mode"); !strings.Contains(got, "Cluster: connected to the bus") {
		t.Errorf("mode line: %q", got)
	}
	if got := b.text("n", "#nodes-partial"); got != "" {
		t.Errorf("a complete answer shows a warning: %q", got)
	}
	if got := b.text("n", "#node-count") + " " + b.text("n", "#node-conns"); got != "2 3" {
		t.Errorf("summary: %q, want 2 nodes, 3 connections", got)
	}
	b.shot("n", "nodes", false)
	if got := b.text("n", `#node-rows tr[data-node="beta"]`); !strings.Contains(got, "ago") {
		t.Errorf("beta's row has no heartbeat age: %q", got)
	}

	// The bus goes down: alpha answers alone, partial, naming beta.
	ns.Shutdown()
	ns.WaitForShutdown()
	b.waitfn("n", `(arg) => { const f = `+jsNodes+`; const r = f(arg); return r && r.alpha === 'disconnected/2/true' ? r : null; }`, []any{1, "true"}, &rows)
	warn := b.text("n", "#nodes-partial")
	if !strings.Contains(warn, "Partial answer") || !strings.Contains(warn, "beta") || !strings.Contains(warn, "lost the bus") {
		t.Errorf("partial warning: %q", warn)
	}
	b.shot("n", "nodes-partial", false)
	if got := b.text("n", "#nodes-mode"); !strings.Contains(got, "not connected to the bus") {
		t.Errorf("mode line with the bus down: %q", got)
	}
	b.noViolations("n")
}

// TestNodesPageSingle: without --cluster the page shows the one node as
// the whole fleet, with no warning.
func TestNodesPageSingle(t *testing.T) {
	requireBrowser(t)
	w := startWSD(t)
	tok := mint(t, w, "console-nodes", "connections:read")
	dial(t, w, "x")
	b := startBrowser(t)
	b.do("open", map[string]any{"page": "s", "url": "http://" + w.Admin + "/ui/"})
	signIn(b, "s", tok)
	b.do("click", map[string]any{"page": "s", "sel": `#nav a[data-page="nodes"]`})
	var rows map[string]string
	b.waitfn("s", jsNodes, []any{1, "false"}, &rows)
	if len(rows) != 1 {
		t.Fatalf("rows %v, want one", rows)
	}
	for name, r := range rows {
		if r != "ok/1/true" {
			t.Errorf("node %s: %s, want ok/1/true", name, r)
		}
	}
	if got := b.text("s", "#nodes-mode"); !strings.Contains(got, "Single node") {
		t.Errorf("mode line: %q", got)
	}
	if got := b.text("s", "#nodes-partial"); got != "" {
		t.Errorf("a single node shows a warning: %q", got)
	}
	// A phone-sized screen: the page is no wider than it.
	b.do("viewport", map[string]any{"page": "s", "width": 390, "height": 844})
	var overflow bool
	b.eval("s", `() => document.documentElement.scrollWidth > window.innerWidth + 1`, nil, &overflow)
	if overflow {
		t.Error("the nodes page is wider than a phone screen")
	}
	b.noViolations("s")
}
