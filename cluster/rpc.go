package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/session"
)

// Operations of the fleet's requests (the last element of their subject,
// and the op label of the metrics).
const (
	opList       = "list"
	opGet        = "get"
	opSend       = "send"
	opClose      = "close"
	opBroadcast  = "broadcast"
	opBulkClose  = "bulk_close"
	opCount      = "count"
	opStats      = "stats"
	opSessions   = "sessions"
	opGetSession = "get_session"
	opAudit      = "audit"
)

// request is every request's envelope: the operation's arguments, how
// long the answering node may take, and whether it acknowledges the
// request before its answer (Ack: operations whose work grows with the
// node's connections, see workOp).
type request struct {
	WaitMS int64           `json:"wait_ms"`
	Ack    bool            `json:"ack,omitempty"`
	Args   json.RawMessage `json:"args"`
}

// reply is every answer's envelope. An acknowledgement (Ack) carries
// nothing else: the answer follows.
type reply struct {
	Node string          `json:"node"`
	Ack  bool            `json:"ack,omitempty"`
	Err  *wireError      `json:"err,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
}

// WorkTimeout bounds a broadcast or a bulk close across the fleet. Their
// work grows with each node's connections (a broadcast writes to every
// one), so a node acknowledges them at once, within Config.Timeout like
// any answer, and then has up to WorkTimeout to give its counts: a busy
// node with many connections is slow, not missing. A node that does not
// even acknowledge within Config.Timeout is missing, as for every request.
// It is less than wsctl's minute, so that wsctl gets the partial answer.
const WorkTimeout = 45 * time.Second

// workOp reports whether op is acknowledged before its answer.
func workOp(op string) bool { return op == opBroadcast || op == opBulkClose }

// wireError carries one of session's sentinel errors across the bus.
type wireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

var sentinels = []struct {
	code string
	err  error
}{
	{"conn_not_found", session.ErrConnNotFound},
	{"invalid_id", session.ErrInvalidID},
	{"invalid_selector", session.ErrInvalidSelector},
	{"empty_selector", session.ErrEmptySelector},
	{"closing", session.ErrClosing},
	{"slow_consumer", session.ErrSlowConsumer},
	{"invalid_close", session.ErrInvalidClose},
	{"draining", session.ErrDraining},
	{"not_found", session.ErrNotFound},
	{"invalid_filter", session.ErrInvalidFilter},
	{"unavailable", session.ErrUnavailable},
	{"deadline", context.DeadlineExceeded},
	{"drain_running", session.ErrDrainRunning},
	{"tracing_off", session.ErrTracingOff},
}

func toWire(err error) *wireError {
	if err == nil {
		return nil
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return &wireError{Code: s.code, Message: err.Error()}
		}
	}
	return &wireError{Code: "internal", Message: err.Error()}
}

// remoteError is an error a node answered; it unwraps to the sentinel.
type remoteError struct {
	node, msg string
	err       error
}

func (e *remoteError) Error() string { return "node " + e.node + ": " + e.msg }
func (e *remoteError) Unwrap() error { return e.err }

func (w *wireError) toError(node string) error {
	if w == nil {
		return nil
	}
	for _, s := range sentinels {
		if s.code == w.Code {
			return &remoteError{node: node, msg: w.Message, err: s.err}
		}
	}
	return &remoteError{node: node, msg: w.Message}
}

// UnavailableError says that the nodes a call needed did not answer in
// time (or the bus is down). The admin API answers it with 503.
type UnavailableError struct {
	Op    string
	Nodes []string
}

func (e *UnavailableError) Error() string {
	if len(e.Nodes) == 0 {
		return "cluster: " + e.Op + ": the bus (NATS) is unavailable"
	}
	return fmt.Sprintf("cluster: %s: node(s) %s did not answer in time", e.Op, strings.Join(e.Nodes, ", "))
}

// FleetUnavailable marks the error for the admin API (503).
func (e *UnavailableError) FleetUnavailable() bool { return true }

// handler serves one operation on this node: it decodes args and returns
// the answer to encode.
type handler func(ctx context.Context, args json.RawMessage) (any, error)

// decoding makes a handler of f, which takes its arguments decoded: a
// failure to decode them is the handler's error.
func decoding[A any](f func(ctx context.Context, args A) (any, error)) handler {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var a A
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, err
		}
		return f(ctx, a)
	}
}

func (n *Node) handlers() map[string]handler {
	return map[string]handler{
		opList:       decoding(n.serveList),
		opGet:        decoding(n.serveGet),
		opSend:       decoding(n.serveSend),
		opClose:      decoding(n.serveClose),
		opBroadcast:  decoding(n.serveBroadcast),
		opBulkClose:  decoding(n.serveBulkClose),
		opCount:      decoding(n.serveCount),
		opStats:      n.serveStats,
		opSessions:   decoding(n.serveSessions),
		opGetSession: decoding(n.serveGetSession),
		opAudit:      decoding(n.serveAudit),
		opCordon:     decoding(n.serveCordon),
		opDrain:      decoding(n.serveDrain),
		opDrainState: n.serveDrainStatus,
		opTrace:      decoding(n.serveTrace),
		opTraceState: decoding(n.serveTraceState),
		opLimits:     decoding(n.serveLimits),
		opTap:        decoding(n.serveTap),
		opTapLease:   decoding(n.serveTapLease),
	}
}

// onRequest serves a request from another node, in its own goroutine
// (a close may wait for the closing handshake), owned by the Node.
func (n *Node) onRequest(m *nats.Msg) {
	op := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	if m.Reply == "" {
		return
	}
	if n.life.Err() != nil {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		var req request
		err := json.Unmarshal(m.Data, &req)
		if err == nil && req.Ack {
			ack, _ := json.Marshal(reply{Node: n.cfg.Name, Ack: true}) // cannot fail: our envelope
			if err := m.Respond(ack); err != nil {
				n.log.Debug("cluster: acknowledge", "op", op, "err", err)
			}
		}
		b := n.serveRequest(op, req, err)
		if err := m.Respond(b); err != nil {
			n.log.Debug("cluster: answer", "op", op, "err", err)
		}
	}()
}

// serve runs op on this node and encodes its reply.
func (n *Node) serve(op string, data []byte) []byte {
	var req request
	err := json.Unmarshal(data, &req)
	return n.serveRequest(op, req, err)
}

// serveRequest runs op on this node with req, which decoding failed to
// read when decodeErr is not nil, and encodes its reply.
func (n *Node) serveRequest(op string, req request, decodeErr error) []byte {
	out := reply{Node: n.cfg.Name}
	h, ok := n.handlers()[op]
	switch {
	case !ok:
		out.Err = &wireError{Code: "internal", Message: "unknown operation " + op}
	case decodeErr != nil:
		out.Err = &wireError{Code: "internal", Message: "malformed request"}
	default:
		wait := time.Duration(req.WaitMS) * time.Millisecond
		if wait <= 0 || wait > 5*time.Minute {
			wait = n.cfg.Timeout
		}
		ctx, cancel := context.WithTimeout(n.life, wait)
		v, err := h(ctx, req.Args)
		cancel()
		out.Err = toWire(err)
		if err == nil {
			if out.Data, err = json.Marshal(v); err != nil {
				out.Err = toWire(err)
			}
		}
	}
	b, err := json.Marshal(out)
	if err != nil { // cannot happen: the envelope marshals
		return []byte(`{"err":{"code":"internal","message":"encode"}}`)
	}
	return b
}

// answers are the replies of a scatter-gather, by node.
type answers struct {
	replies map[string]reply
	missing []string // expected nodes that did not answer
	busDown bool
}

func (a answers) fleet() apitype.Fleet {
	if len(a.missing) == 0 && !a.busDown {
		return apitype.Fleet{}
	}
	return apitype.Fleet{Partial: true, MissingNodes: a.missing}
}

// nodes returns the answering nodes, sorted.
func (a answers) nodes() []string {
	out := make([]string, 0, len(a.replies))
	for name := range a.replies {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// firstErr returns the first error answered, by node name.
func (a answers) firstErr() error {
	for _, name := range a.nodes() {
		if r := a.replies[name]; r.Err != nil {
			return r.Err.toError(name)
		}
	}
	return nil
}

// gather runs op on this node and on targets (nil: every node of the
// fleet, by its subject for all) and waits for their answers until ctx
// ends or n.cfg.Timeout passes, whichever is first; for a workOp, nodes
// that acknowledged it within n.cfg.Timeout get until WorkTimeout.
func (n *Node) gather(ctx context.Context, op string, args any, targets []string) answers {
	start := time.Now()
	a := answers{replies: map[string]reply{}}
	argb, err := json.Marshal(args)
	if err != nil { // cannot happen: the arguments are ours
		a.replies[n.cfg.Name] = reply{Node: n.cfg.Name, Err: toWire(err)}
		return a
	}
	var cancel context.CancelFunc
	work := workOp(op)
	switch {
	case op == opClose && hasDeadline(ctx):
		// A close waits for its closing handshake: the caller's deadline.
		ctx, cancel = context.WithCancel(ctx)
	case work:
		ctx, cancel = context.WithTimeout(ctx, WorkTimeout)
	default:
		ctx, cancel = context.WithTimeout(ctx, n.cfg.Timeout)
	}
	defer cancel()
	// ackCtx ends when a node that has not acknowledged a workOp (or
	// answered it) is missing: after n.cfg.Timeout. Other requests have
	// ctx alone.
	ackCtx := ctx
	if work {
		var cancelAck context.CancelFunc
		ackCtx, cancelAck = context.WithTimeout(ctx, n.cfg.Timeout)
		defer cancelAck()
	}
	wait := time.Until(deadline(ctx, start.Add(n.cfg.Timeout)))
	req, err := json.Marshal(request{WaitMS: max(1, (wait - wait/10).Milliseconds()), Ack: work, Args: argb})
	if err != nil {
		a.replies[n.cfg.Name] = reply{Node: n.cfg.Name, Err: toWire(err)}
		return a
	}

	includeSelf := targets == nil || slices.Contains(targets, n.cfg.Name)
	expected := targets
	if targets == nil {
		expected = n.peers.names()
	}
	expected = slices.DeleteFunc(slices.Clone(expected), func(s string) bool { return s == n.cfg.Name })

	var selfReply []byte
	var wg sync.WaitGroup
	if includeSelf {
		wg.Add(1)
		go func() {
			defer wg.Done()
			selfReply = n.serve(op, req)
		}()
	}
	switch {
	case len(expected) > 0:
		a = n.scatter(ctx, ackCtx, op, req, targets, expected, a)
	case targets == nil && !n.nc.IsConnected():
		a.busDown = true // no peer known, but none could be heard either
	}
	wg.Wait()
	if includeSelf {
		var r reply
		if err := json.Unmarshal(selfReply, &r); err != nil {
			r = reply{Node: n.cfg.Name, Err: toWire(err)}
		}
		a.replies[n.cfg.Name] = r
	}
	result := "ok"
	if len(a.missing) > 0 || a.busDown {
		result = "partial"
	}
	n.metrics.observe(op, result, time.Since(start))
	return a
}

func hasDeadline(ctx context.Context) bool {
	_, ok := ctx.Deadline()
	return ok
}

// gatherEach runs op on each of targets with its own arguments (args of
// the node's name), one request per node at once, and merges their
// answers: a target that did not answer is missing.
func (n *Node) gatherEach(ctx context.Context, op string, targets []string, args func(node string) any) answers {
	type one struct {
		a    answers
		node string
	}
	ch := make(chan one, len(targets))
	for _, t := range targets {
		go func() { ch <- one{n.gather(ctx, op, args(t), []string{t}), t} }()
	}
	merged := answers{replies: map[string]reply{}}
	for range targets {
		o := <-ch
		r, ok := o.a.replies[o.node]
		if !ok {
			merged.missing = append(merged.missing, o.node)
			continue
		}
		merged.replies[o.node] = r
	}
	slices.Sort(merged.missing)
	return merged
}

// deadline is ctx's deadline, or def.
func deadline(ctx context.Context, def time.Time) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return def
}

// scatter publishes req to the other nodes with one reply inbox and
// collects answers until every expected node answered or ctx ends; when
// ackCtx ends first, the nodes that neither answered nor acknowledged are
// missing and the others are waited for until ctx ends.
func (n *Node) scatter(ctx, ackCtx context.Context, op string, req []byte, targets, expected []string, a answers) answers {
	if !n.nc.IsConnected() {
		a.busDown = true
		a.missing = expected
		return a
	}
	inbox := n.nc.NewRespInbox()
	ch := make(chan *nats.Msg, max(64, 2*len(expected)))
	sub, err := n.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		a.busDown = true
		a.missing = expected
		return a
	}
	defer func() {
		if err := sub.Unsubscribe(); err != nil {
			n.log.Debug("cluster: unsubscribe inbox", "err", err)
		}
	}()
	if targets == nil {
		err = n.nc.PublishRequest(n.subject("rpc", "all", op), inbox, req)
	} else {
		for _, t := range expected {
			if err = n.nc.PublishRequest(n.subject("rpc", "node", t, op), inbox, req); err != nil {
				break
			}
		}
	}
	if err == nil {
		err = n.nc.FlushTimeout(time.Until(deadline(ctx, time.Now().Add(n.cfg.Timeout))))
	}
	if err != nil {
		n.log.Debug("cluster: publish request", "op", op, "err", err)
		a.busDown = true
		a.missing = expected
		return a
	}
	want := map[string]bool{} // expected nodes that have not answered: acknowledged?
	for _, e := range expected {
		want[e] = false
	}
	ackDone := ackCtx.Done()
	for len(want) > 0 {
		select {
		case m := <-ch:
			var r reply
			if err := json.Unmarshal(m.Data, &r); err != nil || r.Node == "" || r.Node == n.cfg.Name {
				continue
			}
			if r.Ack {
				if _, ok := want[r.Node]; ok {
					want[r.Node] = true
				}
				continue
			}
			if slices.Contains(a.missing, r.Node) {
				continue // too late: already said missing
			}
			a.replies[r.Node] = r
			delete(want, r.Node)
		case <-ackDone:
			ackDone = nil
			for name, acked := range want {
				if !acked {
					a.missing = append(a.missing, name)
					delete(want, name)
				}
			}
		case <-ctx.Done():
			for name := range want {
				a.missing = append(a.missing, name)
			}
			clear(want)
		}
	}
	slices.Sort(a.missing)
	// Nodes that joined since the presence was read may answer too; take
	// what already arrived.
	for {
		select {
		case m := <-ch:
			var r reply
			if err := json.Unmarshal(m.Data, &r); err == nil && r.Node != "" && r.Node != n.cfg.Name && !r.Ack && !slices.Contains(a.missing, r.Node) {
				a.replies[r.Node] = r
			}
		default:
			return a
		}
	}
}

// call runs op on the nodes holding id (by its node tag) and returns the
// first answer that is not "not found". Without a known owner it asks
// every node. notFound is the sentinel of a miss.
func (n *Node) call(ctx context.Context, op, id string, args any, notFound error) (reply, error) {
	var targets []string
	if tag, ok := session.IDNodeTag(id); ok && tag != 0 {
		if tag == n.tag {
			targets = append(targets, n.cfg.Name)
		}
		targets = append(targets, n.peers.withTag(tag)...)
	}
	if len(targets) == 0 {
		targets = nil // ask all
	}
	a := n.gather(ctx, op, args, targets)
	var miss error
	for _, name := range a.nodes() {
		r := a.replies[name]
		if r.Err == nil {
			return r, nil
		}
		err := r.Err.toError(name)
		if !errors.Is(err, notFound) {
			return r, err
		}
		miss = err
	}
	if len(a.missing) > 0 || (a.busDown && targets == nil) {
		return reply{}, &UnavailableError{Op: op, Nodes: a.missing}
	}
	if miss == nil {
		miss = notFound
	}
	return reply{}, miss
}

func decode[T any](r reply) (T, error) {
	var v T
	if err := json.Unmarshal(r.Data, &v); err != nil {
		return v, fmt.Errorf("cluster: answer of node %s: %w", r.Node, err)
	}
	return v, nil
}
