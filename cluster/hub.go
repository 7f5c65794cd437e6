package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/session"
)

// Arguments and answers of the live-connection operations.
type (
	listArgs struct {
		Selector string `json:"selector"`
		After    string `json:"after"`
		Limit    int    `json:"limit"`
	}
	listAnswer struct {
		Conns []session.Conn `json:"conns"`
		More  bool           `json:"more"`
	}
	idArgs struct {
		ID string `json:"id"`
	}
	sendArgs struct {
		ID   string              `json:"id"`
		Type session.MessageType `json:"type"`
		Data []byte              `json:"data"`
	}
	closeArgs struct {
		ID     string `json:"id"`
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}
	broadcastArgs struct {
		Selector string              `json:"selector"`
		Type     session.MessageType `json:"type"`
		Data     []byte              `json:"data"`
	}
	bulkCloseArgs struct {
		Selector string `json:"selector"`
		All      bool   `json:"all"`
		Code     int    `json:"code"`
		Reason   string `json:"reason"`
	}
	selArgs struct {
		Selector string `json:"selector"`
	}
)

// own marks c as this node's.
func (n *Node) own(c session.Conn) session.Conn {
	c.Node = n.cfg.Name
	return c
}

func (n *Node) serveList(_ context.Context, a listArgs) (any, error) {
	sel, err := session.ParseSelector(a.Selector)
	if err != nil {
		return nil, err
	}
	cs, next, err := n.local.Connections(sel, a.After, a.Limit)
	if err != nil {
		return nil, err
	}
	for i := range cs {
		cs[i] = n.own(cs[i])
	}
	return listAnswer{Conns: cs, More: next != ""}, nil
}

func (n *Node) serveGet(_ context.Context, a idArgs) (any, error) {
	c, err := n.local.Connection(a.ID)
	if err != nil {
		return nil, err
	}
	return n.own(c), nil
}

func (n *Node) serveSend(ctx context.Context, a sendArgs) (any, error) {
	return struct{}{}, n.local.SendContext(ctx, a.ID, a.Type, a.Data)
}

func (n *Node) serveClose(ctx context.Context, a closeArgs) (any, error) {
	return struct{}{}, n.local.Close(ctx, a.ID, a.Code, a.Reason)
}

func (n *Node) serveBroadcast(ctx context.Context, a broadcastArgs) (any, error) {
	sel, err := session.ParseSelector(a.Selector)
	if err != nil {
		return nil, err
	}
	return n.local.BroadcastContext(ctx, sel, a.Type, a.Data), nil
}

func (n *Node) serveBulkClose(_ context.Context, a bulkCloseArgs) (any, error) {
	sel, err := session.ParseSelector(a.Selector)
	if err != nil {
		return nil, err
	}
	return n.local.CloseSelected(sel, a.All, a.Code, a.Reason)
}

func (n *Node) serveCount(_ context.Context, a selArgs) (any, error) {
	sel, err := session.ParseSelector(a.Selector)
	if err != nil {
		return nil, err
	}
	return n.local.Count(sel), nil
}

// statsAnswer is a node's stats and the rates its sampler measured (inline,
// so that a node that knows no rates reads the stats alone).
type statsAnswer struct {
	session.Stats
	Rates *session.Rates `json:"rates,omitempty"`
}

func (n *Node) serveStats(context.Context, json.RawMessage) (any, error) {
	st := n.local.Stats()
	r := n.rates.Rates(time.Now(), st)
	return statsAnswer{Stats: st, Rates: &r}, nil
}

// FleetConnections lists the fleet's live connections matching sel in
// connection order (ids sort by time across nodes), after the cursor,
// at most limit, each with its Node.
func (n *Node) FleetConnections(sel session.Selector, after string, limit int) ([]session.Conn, string, apitype.Fleet, error) {
	if after != "" {
		if _, ok := session.IDNodeTag(after); !ok {
			return nil, "", apitype.Fleet{}, session.ErrInvalidID
		}
	}
	a := n.gather(context.Background(), opList, listArgs{Selector: sel.String(), After: after, Limit: limit}, nil)
	if err := a.firstErr(); err != nil {
		return nil, "", a.fleet(), err
	}
	var all []session.Conn
	more := false
	for _, r := range a.replies {
		ans, err := decode[listAnswer](r)
		if err != nil {
			return nil, "", a.fleet(), err
		}
		all = append(all, ans.Conns...)
		more = more || ans.More
	}
	slices.SortFunc(all, func(x, y session.Conn) int { return strings.Compare(x.ID, y.ID) })
	if limit > 0 && len(all) > limit {
		all, more = all[:limit], true
	}
	next := ""
	if more && len(all) > 0 {
		next = all[len(all)-1].ID
	}
	if all == nil {
		all = []session.Conn{}
	}
	return all, next, a.fleet(), nil
}

// Connections is FleetConnections without the partial flag (admin's Hub).
func (n *Node) Connections(sel session.Selector, after string, limit int) ([]session.Conn, string, error) {
	cs, next, _, err := n.FleetConnections(sel, after, limit)
	return cs, next, err
}

// Connection returns a live connection of any node, asked of the node its
// id names.
func (n *Node) Connection(id string) (session.Conn, error) {
	if _, ok := session.IDNodeTag(id); !ok {
		return session.Conn{}, session.ErrInvalidID
	}
	r, err := n.call(context.Background(), opGet, id, idArgs{ID: id}, session.ErrConnNotFound)
	if err != nil {
		return session.Conn{}, err
	}
	return decode[session.Conn](r)
}

// LocalConnection returns a live connection of this node only.
func (n *Node) LocalConnection(id string) (session.Conn, error) {
	c, err := n.local.Connection(id)
	if err != nil {
		return c, err
	}
	return n.own(c), nil
}

// SendContext queues a message for a connection on any node.
func (n *Node) SendContext(ctx context.Context, id string, typ session.MessageType, p []byte) error {
	if _, ok := session.IDNodeTag(id); !ok {
		return session.ErrInvalidID
	}
	_, err := n.call(ctx, opSend, id, sendArgs{ID: id, Type: typ, Data: p}, session.ErrConnNotFound)
	return err
}

// Close closes a connection on any node and waits, as the daemon's Close
// does, until its session is recorded or ctx is done.
func (n *Node) Close(ctx context.Context, id string, code int, reason string) error {
	if _, ok := session.IDNodeTag(id); !ok {
		return session.ErrInvalidID
	}
	_, err := n.call(ctx, opClose, id, closeArgs{ID: id, Code: code, Reason: reason}, session.ErrConnNotFound)
	return err
}

func counts(r session.BroadcastResult) apitype.NodeCount {
	return apitype.NodeCount{Matched: r.Matched, Queued: r.Queued, Dropped: r.Dropped}
}

// FleetBroadcast broadcasts on every node and gives the totals and each
// node's counts.
func (n *Node) FleetBroadcast(ctx context.Context, sel session.Selector, typ session.MessageType, p []byte) (session.BroadcastResult, map[string]apitype.NodeCount, apitype.Fleet) {
	a := n.gather(ctx, opBroadcast, broadcastArgs{Selector: sel.String(), Type: typ, Data: p}, nil)
	var total session.BroadcastResult
	per := map[string]apitype.NodeCount{}
	for name, r := range a.replies {
		res, err := decode[session.BroadcastResult](r)
		if r.Err != nil || err != nil {
			n.log.Warn("cluster: broadcast failed on a node", "peer", name, "err", errors.Join(r.Err.toError(name), err))
			continue
		}
		per[name] = counts(res)
		total.Matched += res.Matched
		total.Queued += res.Queued
		total.Dropped += res.Dropped
	}
	return total, per, a.fleet()
}

// BroadcastContext is FleetBroadcast's totals (admin's Hub).
func (n *Node) BroadcastContext(ctx context.Context, sel session.Selector, typ session.MessageType, p []byte) session.BroadcastResult {
	res, _, _ := n.FleetBroadcast(ctx, sel, typ, p)
	return res
}

// FleetCloseSelected closes the matching connections of every node and
// gives the total and each node's count.
func (n *Node) FleetCloseSelected(sel session.Selector, all bool, code int, reason string) (int, map[string]int, apitype.Fleet, error) {
	a := n.gather(context.Background(), opBulkClose, bulkCloseArgs{Selector: sel.String(), All: all, Code: code, Reason: reason}, nil)
	total := 0
	per := map[string]int{}
	var firstErr error
	for _, name := range a.nodes() {
		r := a.replies[name]
		if r.Err != nil {
			firstErr = cmp(firstErr, r.Err.toError(name))
			continue
		}
		k, err := decode[int](r)
		if err != nil {
			firstErr = cmp(firstErr, err)
			continue
		}
		per[name] = k
		total += k
	}
	return total, per, a.fleet(), firstErr
}

func cmp(old, err error) error {
	if old != nil {
		return old
	}
	return err
}

// CloseSelected is FleetCloseSelected's total (admin's Hub).
func (n *Node) CloseSelected(sel session.Selector, all bool, code int, reason string) (int, error) {
	k, _, _, err := n.FleetCloseSelected(sel, all, code, reason)
	return k, err
}

// FleetCount counts the matching connections of every node.
func (n *Node) FleetCount(sel session.Selector) (int, apitype.Fleet) {
	a := n.gather(context.Background(), opCount, selArgs{Selector: sel.String()}, nil)
	total := 0
	for _, r := range a.replies {
		if k, err := decode[int](r); err == nil && r.Err == nil {
			total += k
		}
	}
	return total, a.fleet()
}

// Count is FleetCount's total (admin's Hub).
func (n *Node) Count(sel session.Selector) int {
	k, _ := n.FleetCount(sel)
	return k
}

// FleetStats returns every node's stats, and the rates each node's own
// sampler measured, by name.
func (n *Node) FleetStats() (map[string]session.Stats, map[string]session.Rates, apitype.Fleet) {
	a := n.gather(context.Background(), opStats, struct{}{}, nil)
	out, rates := map[string]session.Stats{}, map[string]session.Rates{}
	for name, r := range a.replies {
		if ans, err := decode[statsAnswer](r); err == nil && r.Err == nil {
			out[name] = ans.Stats
			if ans.Rates != nil {
				rates[name] = *ans.Rates
			}
		}
	}
	return out, rates, a.fleet()
}

// Stats returns the fleet's totals (admin's Hub).
func (n *Node) Stats() session.Stats {
	per, _, _ := n.FleetStats()
	return Total(per)
}

// Total adds up nodes' stats: counts and totals summed, the earliest
// start, draining when any node is.
func Total(per map[string]session.Stats) session.Stats {
	var t session.Stats
	for _, name := range slices.Sorted(maps.Keys(per)) {
		t.Add(per[name])
	}
	if t.StartedAt.IsZero() {
		t.StartedAt = time.Now()
	}
	return t
}

// Watchers counts this node's event watchers (not the node's own, which
// publishes its events to the bus).
func (n *Node) Watchers() int { return max(0, n.local.Watchers()-1) }

// ClusterState says whether the node hears the bus and how many nodes are
// alive, this one included.
func (n *Node) ClusterState() apitype.Cluster {
	return apitype.Cluster{Node: n.cfg.Name, Connected: n.nc.IsConnected(), Nodes: n.peers.count() + 1}
}
