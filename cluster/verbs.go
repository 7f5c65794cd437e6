package cluster

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/wsd-dev/wsd/session"
)

// The operator verbs (PRODUCT.md §10) run on another node of the fleet:
// cordon and drain a node by its name, trace a connection and read its
// tracing by its id (routed to its owner), and a session's limits as its
// node configures them. The node that received the admin call verified
// the token and writes the audit entry; the bus carries no token.

// Operations of the verbs.
const (
	opCordon     = "cordon"
	opDrain      = "drain"
	opDrainState = "drain_status"
	opTrace      = "trace"
	opTraceState = "trace_status"
	opLimits     = "limits"
)

// UnknownNodeError says that no node of the fleet has the name a call
// gave. The admin API answers it with 404.
type UnknownNodeError struct{ Node string }

func (e *UnknownNodeError) Error() string { return "no node named " + e.Node }

// UnknownNode names the node (the admin API's test for this error).
func (e *UnknownNodeError) UnknownNode() string { return e.Node }

type (
	cordonArgs struct {
		On bool `json:"on"`
	}
	cordonAnswer struct {
		Cordoned bool `json:"cordoned"`
	}
	drainArgs struct {
		Selector string        `json:"selector"`
		Over     time.Duration `json:"over"`
		Code     int           `json:"code"`
		Reason   string        `json:"reason"`
	}
	drainAnswer struct {
		Status   session.DrainStatus `json:"status"`
		OK       bool                `json:"ok"` // DrainStatus: the node drained since it started
		Cordoned bool                `json:"cordoned"`
	}
	traceArgs struct {
		ID   string        `json:"id"`
		Span time.Duration `json:"span"`
	}
	traceAnswer struct {
		Arm session.TraceArm `json:"arm"`
		OK  bool             `json:"ok"`
	}
	limitsArgs struct {
		By    session.ClosedBy `json:"by"`
		Code  int              `json:"code"`
		Error string           `json:"error"`
	}
)

func (n *Node) serveCordon(_ context.Context, a cordonArgs) (any, error) {
	if a.On {
		n.local.Cordon()
	} else if err := n.local.Uncordon(); err != nil {
		return nil, err
	}
	return cordonAnswer{Cordoned: n.local.Cordoned()}, nil
}

func (n *Node) serveDrain(ctx context.Context, a drainArgs) (any, error) {
	sel, err := session.ParseSelector(a.Selector)
	if err != nil {
		return nil, err
	}
	// The drain runs on the daemon's own clock, not the request's.
	st, err := n.local.Drain(ctx, sel, a.Over, a.Code, a.Reason)
	if err != nil {
		return nil, err
	}
	return drainAnswer{Status: st, OK: true, Cordoned: n.local.Cordoned()}, nil
}

func (n *Node) serveDrainStatus(context.Context, json.RawMessage) (any, error) {
	st, ok := n.local.DrainStatus()
	return drainAnswer{Status: st, OK: ok, Cordoned: n.local.Cordoned()}, nil
}

func (n *Node) serveTrace(_ context.Context, a traceArgs) (any, error) {
	if _, err := n.local.Connection(a.ID); err != nil {
		return nil, err // not here: the caller asks the next node
	}
	arm, err := n.local.TraceConnection(a.ID, a.Span)
	if err != nil {
		return nil, err
	}
	return traceAnswer{Arm: arm, OK: true}, nil
}

func (n *Node) serveTraceState(_ context.Context, a idArgs) (any, error) {
	if _, err := n.local.Connection(a.ID); err != nil {
		return nil, err
	}
	arm, ok := n.local.ConnectionTrace(a.ID)
	return traceAnswer{Arm: arm, OK: ok}, nil
}

func (n *Node) serveLimits(_ context.Context, a limitsArgs) (any, error) {
	out := n.local.Limits(a.By, a.Code, a.Error)
	if out == nil {
		out = []session.Limit{}
	}
	return out, nil
}

// known reports whether name is this node or a live peer.
func (n *Node) known(name string) bool {
	return name == n.cfg.Name || slices.Contains(n.peers.names(), name)
}

// callNode runs op on the node named node (this one included) and
// returns its answer: an UnknownNodeError when the fleet has no such
// node, an UnavailableError when it did not answer in time.
func (n *Node) callNode(ctx context.Context, op, node string, args any) (reply, error) {
	if !n.known(node) {
		return reply{}, &UnknownNodeError{Node: node}
	}
	a := n.gather(ctx, op, args, []string{node})
	r, ok := a.replies[node]
	if !ok {
		return reply{}, &UnavailableError{Op: op, Nodes: []string{node}}
	}
	if r.Err != nil {
		return r, r.Err.toError(node)
	}
	return r, nil
}

// CordonNode cordons (on) or uncordons the node named node and says
// whether it is cordoned now.
func (n *Node) CordonNode(ctx context.Context, node string, on bool) (bool, error) {
	r, err := n.callNode(ctx, opCordon, node, cordonArgs{On: on})
	if err != nil {
		return false, err
	}
	ans, err := decode[cordonAnswer](r)
	return ans.Cordoned, err
}

// DrainNode starts a drain on the node named node, as the daemon's Drain
// does, and says whether the node is cordoned.
func (n *Node) DrainNode(ctx context.Context, node string, sel session.Selector, over time.Duration, code int, reason string) (session.DrainStatus, bool, error) {
	r, err := n.callNode(ctx, opDrain, node, drainArgs{Selector: sel.String(), Over: over, Code: code, Reason: reason})
	if err != nil {
		return session.DrainStatus{}, false, err
	}
	ans, err := decode[drainAnswer](r)
	return ans.Status, ans.Cordoned, err
}

// NodeDrainStatus returns the drain of the node named node (ok false
// when it has not drained since it started) and whether it is cordoned.
func (n *Node) NodeDrainStatus(ctx context.Context, node string) (st session.DrainStatus, ok, cordoned bool, err error) {
	r, err := n.callNode(ctx, opDrainState, node, struct{}{})
	if err != nil {
		return st, false, false, err
	}
	ans, err := decode[drainAnswer](r)
	return ans.Status, ans.OK, ans.Cordoned, err
}

// FleetTraceConnection arms tracing on demand for a connection of any
// node (routed to its owner by its id).
func (n *Node) FleetTraceConnection(ctx context.Context, id string, span time.Duration) (session.TraceArm, error) {
	if _, ok := session.IDNodeTag(id); !ok {
		return session.TraceArm{}, session.ErrConnNotFound
	}
	r, err := n.call(ctx, opTrace, id, traceArgs{ID: id, Span: span}, session.ErrConnNotFound)
	if err != nil {
		return session.TraceArm{}, err
	}
	ans, err := decode[traceAnswer](r)
	return ans.Arm, err
}

// FleetConnectionTrace reports the tracing on demand of a connection of
// any node while it is armed.
func (n *Node) FleetConnectionTrace(ctx context.Context, id string) (session.TraceArm, bool, error) {
	if _, ok := session.IDNodeTag(id); !ok {
		return session.TraceArm{}, false, session.ErrConnNotFound
	}
	r, err := n.call(ctx, opTraceState, id, idArgs{ID: id}, session.ErrConnNotFound)
	if err != nil {
		return session.TraceArm{}, false, err
	}
	ans, err := decode[traceAnswer](r)
	return ans.Arm, ans.OK, err
}

// NodeLimits names the limits that end sessions closed so as the node
// named node configures them.
func (n *Node) NodeLimits(ctx context.Context, node string, by session.ClosedBy, code int, errText string) ([]session.Limit, error) {
	r, err := n.callNode(ctx, opLimits, node, limitsArgs{By: by, Code: code, Error: errText})
	if err != nil {
		return nil, err
	}
	return decode[[]session.Limit](r)
}
