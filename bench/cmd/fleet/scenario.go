package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// bench is one run of the benchmark.
type bench struct {
	cfg      *config
	self     string // this program, re-executed for the roles
	work     string // the work directory
	nextIP   int    // next free x of 127.0.0.x: each scenario dials from fresh addresses
	progress io.Writer
}

func (b *bench) logf(format string, a ...any) {
	fmt.Fprintf(b.progress, "fleet: "+format+"\n", a...)
}

// scenario is one configuration measured.
type scenario struct {
	name    string
	cluster bool  // --cluster through a NATS server
	conns   []int // connections per node
}

func (s scenario) total() int {
	n := 0
	for _, c := range s.conns {
		n += c
	}
	return n
}

// result is what a scenario measured.
type result struct {
	sc         scenario
	dial       time.Duration   // until every client had all its connections open
	rssPerConn []float64       // bytes, per node
	rssAfter   []int64         // bytes, per node, with the connections open
	bcast      []time.Duration // per round: POST until the last client had it
	bcastAPI   []time.Duration // per round: POST until its answer
	cpuPerDel  []float64       // per round: µs of wsd CPU per delivery
	natsCPU    []time.Duration // per round: NATS CPU time
	listTotal  []time.Duration // per round: every page
	pages      []time.Duration // every page of every round
	pagesPer   int             // pages in a list
	// Measured rounds with a partial answer: broadcasts, and lists with
	// at least one partial page.
	bcastPartial, listPartial int
}

// node is one running wsd.
type node struct {
	name  string
	proc  *child
	addr  string // WebSocket listener
	admin string // admin listener
	state string // state directory
	log   string // its stderr and stdout
}

// client is one running client process.
type client struct {
	proc  *child
	stdin io.WriteCloser
	n     int
}

// event is a line a client printed, stamped when read.
type event struct {
	client int
	fields []string // nil: the client's stdout ended
}

func (b *bench) run(ctx context.Context, sc scenario) (res *result, err error) {
	var cs children
	defer cs.killAll()
	dir := filepath.Join(b.work, sc.name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("scenario directory: %w", err)
	}
	label := fmt.Sprintf("%s: %d node(s) × %v connections", sc.name, len(sc.conns), sc.conns)
	b.logf("%s", label)
	res = &result{sc: sc}

	natsURL := ""
	var nats *client
	if sc.cluster {
		if nats, natsURL, err = b.startNATS(ctx, &cs); err != nil {
			return nil, err
		}
		b.logf("  NATS at %s (pid %d)", natsURL, nats.proc.pid())
	}
	nodes := make([]*node, len(sc.conns))
	for i, n := range sc.conns {
		name := string(rune('a' + i))
		if nodes[i], err = b.startWSD(ctx, &cs, dir, name, natsURL, n); err != nil {
			return nil, err
		}
	}
	tok, err := exec.CommandContext(ctx, b.cfg.wsd, "token", "create", "--subject", "fleetbench", "--scope", "admin",
		"--ttl", "2h", "--state-dir", nodes[0].state).Output()
	if err != nil {
		return nil, fmt.Errorf("wsd token create: %w", err)
	}
	api := newAdminAPI(nodes[0].admin, strings.TrimSpace(string(tok)))
	if sc.cluster {
		if err := poll(ctx, 30*time.Second, "every node in node a's /v1/nodes", func() (bool, error) {
			nl, err := api.nodes(ctx)
			return err == nil && len(nl.Nodes) == len(nodes) && !nl.Partial, nil
		}); err != nil {
			return nil, err
		}
	}
	pids := make([]int, len(nodes))
	for i, nd := range nodes {
		pids[i] = nd.proc.pid()
	}
	b.logf("  %d wsd up (pids %v)", len(nodes), pids)

	// Warm up pools, the store and the runtime, then take the baseline.
	for _, nd := range nodes {
		if err := warmUp(ctx, nd.addr, 20); err != nil {
			return nil, err
		}
	}
	if err := b.waitSettled(ctx, api, 0); err != nil {
		return nil, err
	}
	before, err := stableRSS(ctx, pids)
	if err != nil {
		return nil, err
	}

	// Connect.
	events := make(chan event, 1024)
	quit := make(chan struct{})
	defer close(quit)
	var clients []*client
	start := time.Now()
	for i, nd := range nodes {
		for _, n := range split(sc.conns[i], (sc.conns[i]+b.cfg.perClient-1)/b.cfg.perClient) {
			c, err := b.startClient(&cs, nd, n, len(clients), events, quit)
			if err != nil {
				return nil, err
			}
			clients = append(clients, c)
		}
	}
	ready := 0
	if err := await(ctx, events, 5*time.Minute, func(e event) (bool, error) {
		if e.fields[0] == "ready" {
			ready++
		}
		return ready == len(clients), nil
	}); err != nil {
		return nil, fmt.Errorf("connecting (%d of %d clients ready): %w", ready, len(clients), err)
	}
	res.dial = time.Since(start)
	total := sc.total()
	b.logf("  %d connections open in %v from %d client process(es)", total, res.dial.Round(time.Millisecond), len(clients))
	if err := b.waitSettled(ctx, api, total); err != nil {
		return nil, err
	}
	after, err := stableRSS(ctx, pids)
	if err != nil {
		return nil, err
	}
	res.rssAfter = after
	for i := range nodes {
		res.rssPerConn = append(res.rssPerConn, float64(after[i]-before[i])/float64(sc.conns[i]))
	}
	b.logf("  RSS per connection (bytes, per node): %.0f", res.rssPerConn)

	// Broadcasts: one warm-up, then the measured rounds.
	for round := range b.cfg.rounds + 1 {
		if err := b.broadcast(ctx, api, sc, nodes, pids, nats, clients, events, round, res); err != nil {
			return nil, err
		}
	}
	// Lists, the same.
	for round := range b.cfg.rounds + 1 {
		if err := b.list(ctx, api, total, round, res); err != nil {
			return nil, err
		}
	}

	// Stop: the nodes first (so that the closing side, which keeps the
	// TIME_WAIT, is theirs), then the clients, then NATS.
	for _, nd := range nodes {
		nd.proc.kill()
	}
	for _, c := range clients {
		if err := c.stdin.Close(); err != nil {
			return nil, fmt.Errorf("closing a client's stdin: %w", err)
		}
	}
	for _, c := range clients {
		if !c.proc.wait(time.Minute) {
			return nil, errors.New("a client did not exit within a minute of its stdin closing")
		}
	}
	if nats != nil {
		if err := nats.stdin.Close(); err != nil {
			return nil, fmt.Errorf("closing NATS's stdin: %w", err)
		}
		nats.proc.wait(10 * time.Second)
	}
	return res, nil
}

// broadcast sends one broadcast to every connection through node a and
// waits until every client has all of it. Round 0 is the warm-up.
func (b *bench) broadcast(ctx context.Context, api *adminAPI, sc scenario, nodes []*node, pids []int, nats *client,
	clients []*client, events <-chan event, round int, res *result) error {
	total := sc.total()
	seq := round + 1
	text := fmt.Sprintf("%d ", seq)
	text += strings.Repeat("x", max(0, 64-len(text))) // 64 bytes, as bench/run.sh's broadcast
	cpu0, err := cpuSum(pids)
	if err != nil {
		return err
	}
	var nats0 time.Duration
	if nats != nil {
		if nats0, err = cpuTime(nats.proc.pid()); err != nil {
			return err
		}
	}
	t0 := time.Now()
	br, err := api.broadcastAll(ctx, text)
	if err != nil {
		return err
	}
	answered := time.Since(t0)
	// A partial answer (nodes that did not answer node a within its
	// --cluster-timeout) is a finding, not a failure: it is counted, and
	// the round still waits for every client to have the message.
	if br.Partial {
		b.logf("  broadcast %s: partial answer after %v: missing %v (answered: matched %d, queued %d)",
			roundName(round), answered.Round(time.Millisecond), br.MissingNodes, br.Matched, br.Queued)
	} else if br.Matched != total || br.Queued != total {
		return fmt.Errorf("broadcast %d: matched %d, queued %d, dropped %d; want %d queued",
			seq, br.Matched, br.Queued, br.Dropped, total)
	}
	got := 0
	var last int64
	if err := await(ctx, events, 2*time.Minute, func(e event) (bool, error) {
		if e.fields[0] != "got" || len(e.fields) != 3 {
			return false, nil
		}
		k, err1 := strconv.Atoi(e.fields[1])
		ns, err2 := strconv.ParseInt(e.fields[2], 10, 64)
		if err1 != nil || err2 != nil {
			return false, fmt.Errorf("client %d: malformed %q", e.client, e.fields)
		}
		if k != seq {
			return false, fmt.Errorf("client %d: broadcast %d complete while waiting for %d", e.client, k, seq)
		}
		got++
		last = max(last, ns)
		return got == len(clients), nil
	}); err != nil {
		return fmt.Errorf("broadcast %d: %d of %d clients have it all: %w", seq, got, len(clients), err)
	}
	delivered := time.Duration(last - t0.UnixNano())
	cpu1, err := cpuSum(pids)
	if err != nil {
		return err
	}
	perDel := float64((cpu1 - cpu0).Microseconds()) / float64(total)
	var natsCPU time.Duration
	if nats != nil {
		n1, err := cpuTime(nats.proc.pid())
		if err != nil {
			return err
		}
		natsCPU = n1 - nats0
	}
	if round == 0 {
		b.logf("  broadcast warm-up: all %d delivered in %v", total, delivered.Round(time.Millisecond))
		return nil
	}
	if br.Partial {
		res.bcastPartial++
	}
	res.bcast = append(res.bcast, delivered)
	res.bcastAPI = append(res.bcastAPI, answered)
	res.cpuPerDel = append(res.cpuPerDel, perDel)
	res.natsCPU = append(res.natsCPU, natsCPU)
	b.logf("  broadcast %d: answered in %v, all %d delivered in %v, wsd CPU %v (%.2f µs per delivery), NATS CPU %v",
		round, answered.Round(time.Microsecond), total, delivered.Round(time.Millisecond),
		cpu1-cpu0, perDel, natsCPU)
	return nil
}

// list reads every connection through node a's API, page by page. Round 0
// is the warm-up.
func (b *bench) list(ctx context.Context, api *adminAPI, total, round int, res *result) error {
	after := ""
	count, pages := 0, 0
	partial := false
	var lat []time.Duration
	t0 := time.Now()
	for range total/b.cfg.page + 10 {
		p0 := time.Now()
		cl, err := api.connections(ctx, b.cfg.page, after)
		if err != nil {
			return fmt.Errorf("list page %d: %w", pages+1, err)
		}
		lat = append(lat, time.Since(p0))
		pages++
		if cl.Partial {
			// Counted like a partial broadcast; such a list is short.
			b.logf("  list %s page %d: partial after %v: missing %v", roundName(round), pages, lat[len(lat)-1].Round(time.Millisecond), cl.MissingNodes)
			partial = true
		}
		count += len(cl.Connections)
		if cl.Next == "" {
			after = ""
			break
		}
		after = cl.Next
	}
	elapsed := time.Since(t0)
	if after != "" || (count != total && !partial) {
		return fmt.Errorf("list: %d connections in %d pages (more: %v), want %d", count, pages, after != "", total)
	}
	if round == 0 {
		b.logf("  list warm-up: %d connections in %d pages in %v", count, pages, elapsed.Round(time.Millisecond))
		return nil
	}
	if partial {
		res.listPartial++
	}
	res.listTotal = append(res.listTotal, elapsed)
	res.pages = append(res.pages, lat...)
	res.pagesPer = pages
	b.logf("  list %d: %d connections in %d pages in %v", round, count, pages, elapsed.Round(time.Millisecond))
	return nil
}

// roundName names a round in progress lines: round 0 is the warm-up.
func roundName(round int) string {
	if round == 0 {
		return "warm-up"
	}
	return strconv.Itoa(round)
}

// startNATS starts the NATS role and returns its URL.
func (b *bench) startNATS(ctx context.Context, cs *children) (*client, string, error) {
	cmd := exec.Command(b.self)
	cmd.Env = append(os.Environ(), roleEnv+"=nats")
	cmd.Stderr = b.progress
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", fmt.Errorf("nats: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", fmt.Errorf("nats: %w", err)
	}
	p, err := cs.start("nats", cmd)
	if err != nil {
		return nil, "", err
	}
	line := make(chan string, 1)
	go func() { // ends with the process's stdout
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout) // nothing more is expected
	}()
	t := time.NewTimer(20 * time.Second)
	defer t.Stop()
	select {
	case u, ok := <-line:
		if !ok || !strings.HasPrefix(u, "nats://") {
			return nil, "", fmt.Errorf("nats: no URL on stdout (got %q)", u)
		}
		return &client{proc: p, stdin: stdin}, u, nil
	case <-t.C:
		return nil, "", errors.New("nats: no URL within 20s")
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
}

// startWSD starts one node and waits until it listens.
func (b *bench) startWSD(ctx context.Context, cs *children, dir, name, natsURL string, conns int) (*node, error) {
	nd := &node{name: name, state: filepath.Join(dir, name), log: filepath.Join(dir, name+".log")}
	lf, err := os.Create(nd.log)
	if err != nil {
		return nil, fmt.Errorf("wsd %s: %w", name, err)
	}
	defer lf.Close() // the child has its own copy
	args := []string{"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--state-dir", nd.state,
		"--log-format", "json", "--log-level", "info", "--handshake-rate", "0",
		"--max-connections", strconv.Itoa(conns + 100), "--max-connections-per-ip", "0"}
	if natsURL != "" {
		args = append(args, "--cluster", natsURL, "--node", name)
	}
	args = append(args, b.cfg.wsdArgs...)
	cmd := exec.Command(b.cfg.wsd, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = cleanEnv()
	if nd.proc, err = cs.start("wsd "+name, cmd); err != nil {
		return nil, err
	}
	err = poll(ctx, 30*time.Second, "wsd "+name+" listening", func() (bool, error) {
		if nd.proc.exited() {
			return false, fmt.Errorf("wsd %s exited: %v; its log: %s", name, nd.proc.err, tail(nd.log))
		}
		b, err := os.ReadFile(nd.log)
		if err != nil {
			return false, err
		}
		for l := range strings.Lines(string(b)) {
			var m struct{ Msg, Addr, Admin string }
			if json.Unmarshal([]byte(l), &m) == nil && m.Msg == "listening" {
				nd.addr, nd.admin = m.Addr, m.Admin
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return nd, nil
}

// cleanEnv is this environment without wsd's variables (WSD_*, OTEL_*), so
// that only the flags configure the nodes.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WSD_") && !strings.HasPrefix(kv, "OTEL_") {
			env = append(env, kv)
		}
	}
	return env
}

// tail is the end of a log file, for an error.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// startClient starts a client process for n connections to node nd, from
// fresh source addresses; its stdout lines go to events until quit closes.
func (b *bench) startClient(cs *children, nd *node, n, idx int, events chan<- event, quit <-chan struct{}) (*client, error) {
	nips := (n + b.cfg.perIP - 1) / b.cfg.perIP
	if b.nextIP+nips > 255 {
		return nil, fmt.Errorf("out of 127.0.0.x source addresses (from %d, %d per address): fewer connections, a larger -per-ip or a smaller -src-first", b.cfg.srcFirst, b.cfg.perIP)
	}
	ips := make([]string, nips)
	for i := range ips {
		ips[i] = fmt.Sprintf("127.0.0.%d", b.nextIP)
		b.nextIP++
	}
	cmd := exec.Command(b.self, "-url", "ws://"+nd.addr+"/", "-n", strconv.Itoa(n), "-src", strings.Join(ips, ","),
		"-per-ip", strconv.Itoa(b.cfg.perIP), "-dial-concurrency", strconv.Itoa(b.cfg.dialConc))
	cmd.Env = append(os.Environ(), roleEnv+"=client")
	cmd.Stderr = b.progress
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	p, err := cs.start(fmt.Sprintf("client %d", idx), cmd)
	if err != nil {
		return nil, err
	}
	go func() { // ends with the client's stdout, or when the scenario ends
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 0 {
				continue
			}
			select {
			case events <- event{client: idx, fields: f}:
			case <-quit:
				return
			}
		}
		select {
		case events <- event{client: idx}:
		case <-quit:
		}
	}()
	return &client{proc: p, stdin: stdin, n: n}, nil
}

// await hands client events to f until it says done, fails, a client
// ends or reports a lost connection, or within passes.
func await(ctx context.Context, events <-chan event, within time.Duration, f func(event) (bool, error)) error {
	t := time.NewTimer(within)
	defer t.Stop()
	for {
		select {
		case e := <-events:
			switch {
			case e.fields == nil:
				return fmt.Errorf("client %d ended", e.client)
			case e.fields[0] == "lost":
				return fmt.Errorf("client %d lost a connection: %s", e.client, strings.Join(e.fields[2:], " "))
			}
			done, err := f(e)
			if err != nil || done {
				return err
			}
		case <-t.C:
			return fmt.Errorf("timed out after %v", within)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// poll calls cond every 50 ms until it holds, fails or within passes.
func poll(ctx context.Context, within time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(within)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: not after %v", what, within)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		}
	}
}

// waitSettled waits until node a counts want live connections fleet-wide
// and no node has session records waiting to be written.
func (b *bench) waitSettled(ctx context.Context, api *adminAPI, want int) error {
	last := ""
	err := poll(ctx, 2*time.Minute, fmt.Sprintf("%d connections and every session recorded", want), func() (bool, error) {
		st, err := api.stats(ctx)
		if err != nil {
			return false, err
		}
		queued := st.History.Queued
		for _, n := range st.Nodes {
			queued += n.History.Queued
		}
		last = fmt.Sprintf("%d connections, %d handshaking, %d records queued, partial %v", st.Connections, st.Handshaking, queued, st.Partial)
		return st.Connections == want && st.Handshaking == 0 && queued == 0 && !st.Partial, nil
	})
	if err != nil {
		return fmt.Errorf("%w (last: %s)", err, last)
	}
	return nil
}

// stableRSS samples the processes' RSS every second until the last three
// samples of each are within 1% (at most 20 samples) and returns the last.
func stableRSS(ctx context.Context, pids []int) ([]int64, error) {
	hist := make([][]int64, len(pids))
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for range 20 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		stable := true
		for i, p := range pids {
			r, err := rssBytes(p)
			if err != nil {
				return nil, err
			}
			hist[i] = append(hist[i], r)
			h := hist[i]
			if len(h) < 3 {
				stable = false
				continue
			}
			w := h[len(h)-3:]
			if float64(slices.Max(w)-slices.Min(w)) > 0.01*float64(slices.Max(w)) {
				stable = false
			}
		}
		if stable {
			break
		}
	}
	out := make([]int64, len(pids))
	for i, h := range hist {
		out[i] = h[len(h)-1]
	}
	return out, nil
}

// warmUp opens and closes n connections to a node.
func warmUp(ctx context.Context, addr string, n int) error {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	for range n {
		c, resp, err := d.DialContext(ctx, "ws://"+addr+"/", nil)
		if err != nil {
			return fmt.Errorf("warm-up dial %s: %w", addr, err)
		}
		_ = resp.Body.Close() // empty
		if err := c.Close(); err != nil {
			return fmt.Errorf("warm-up close: %w", err)
		}
	}
	return nil
}
