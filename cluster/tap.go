package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/session"
)

// Taps across the fleet (wsctl tail): the node that serves the admin call
// (the requester) asks each node holding the connections to tap (the
// owners) to start a tap that publishes its events to a fresh inbox, and
// renews a lease on each every third of DefaultTapLease. An owner stops
// when its lease lapses (the requester is gone), when the requester
// cancels, or when it stops itself (it then says so with an "end"
// message). Neither side waits for the other: an owner publishes without
// blocking, the requester takes what its buffer holds, and every event
// lost on the way (on the owner, on the bus — a gap in the stream's
// sequence numbers — or on the requester) is dropped and counted.

// Operations of the taps.
const (
	opTap      = "tap"
	opTapLease = "tap_lease"
)

// DefaultTapLease is how long an owner keeps a tap going without hearing
// from its requester.
const DefaultTapLease = 9 * time.Second

// maxServedTaps bounds the taps a node serves for other nodes at once.
const maxServedTaps = 256

// maxTapBuffer bounds the events a served tap holds for its publisher.
const maxTapBuffer = 4096

type (
	tapArgs struct {
		Stream   string `json:"stream"` // the inbox the events go to
		ID       string `json:"id,omitempty"`
		Selector string `json:"selector,omitempty"`
		Preview  int    `json:"preview,omitempty"`
		Buffer   int    `json:"buffer"`
		LeaseMS  int64  `json:"lease_ms"`
	}
	leaseArgs struct {
		Stream string `json:"stream"`
		Cancel bool   `json:"cancel,omitempty"`
	}
	// tapMsg is one message of a tap stream.
	tapMsg struct {
		Node string `json:"node"`
		// Seq numbers a stream's messages from 1: a gap is messages lost.
		Seq   uint64            `json:"seq"`
		Event *session.TapEvent `json:"event,omitempty"`
		// Dropped counts the events lost on the owner before this one.
		Dropped uint64 `json:"dropped,omitempty"`
		End     bool   `json:"end,omitempty"`
	}
)

// servedTap is a tap this node runs for another node.
type servedTap struct {
	cancel context.CancelFunc
	lease  *time.Timer // cancels the tap when it fires
	span   time.Duration
}

func (n *Node) serveTap(rctx context.Context, a tapArgs) (any, error) {
	if a.Stream == "" {
		return nil, errors.New("cluster: a tap needs a stream subject")
	}
	sel, err := session.ParseSelector(a.Selector)
	if err != nil {
		return nil, err
	}
	if a.ID != "" {
		if _, err := n.local.Connection(a.ID); err != nil {
			return nil, err
		}
	}
	span := min(max(time.Duration(a.LeaseMS)*time.Millisecond, 100*time.Millisecond), time.Minute)
	ctx, cancel := context.WithCancel(n.life)
	// The requester renews only once every node it asked has answered
	// (or the request's deadline passed): the first lease covers that.
	first := span
	if d, ok := rctx.Deadline(); ok {
		first += time.Until(d)
	}
	t := &servedTap{cancel: cancel, span: span, lease: time.AfterFunc(first, cancel)}
	n.tapMu.Lock()
	if n.taps == nil {
		n.taps = map[string]*servedTap{}
	}
	_, dup := n.taps[a.Stream]
	full := len(n.taps) >= maxServedTaps
	if !dup && !full {
		n.taps[a.Stream] = t
	}
	n.tapMu.Unlock()
	if dup || full {
		t.lease.Stop()
		cancel()
		return nil, fmt.Errorf("cluster: node %s cannot serve this tap (a duplicate stream, or %d taps already)", n.cfg.Name, maxServedTaps)
	}
	subscribed, done := make(chan struct{}), make(chan struct{})
	n.wg.Add(1)
	go func() { // ends with ctx: the lease, a cancel, or Stop
		defer n.wg.Done()
		defer close(done)
		var seq uint64
		publish := func(m tapMsg) {
			seq++
			m.Node, m.Seq = n.cfg.Name, seq
			b, err := json.Marshal(m)
			if err == nil {
				err = n.nc.Publish(a.Stream, b) // never blocks; a failure is a gap the requester counts
			}
			if err != nil {
				n.log.Debug("cluster: publish tap event", "err", err)
			}
		}
		err := n.local.Tap(ctx, sel, a.ID, min(max(a.Preview, 0), apitype.MaxTapPreview), min(max(a.Buffer, 1), maxTapBuffer),
			func() { close(subscribed) },
			func(ev session.TapEvent, dropped uint64) bool {
				publish(tapMsg{Event: &ev, Dropped: dropped})
				return true
			})
		t.lease.Stop()
		n.tapMu.Lock()
		delete(n.taps, a.Stream)
		n.tapMu.Unlock()
		publish(tapMsg{End: true}) // best effort: a requester still there stops renewing
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) {
			n.log.Debug("cluster: served tap ended", "err", err)
		}
	}()
	select {
	case <-subscribed:
		return struct{}{}, nil
	case <-done:
		return nil, errors.New("cluster: the tap ended as it started (the node is stopping)")
	}
}

func (n *Node) serveTapLease(_ context.Context, a leaseArgs) (any, error) {
	n.tapMu.Lock()
	t := n.taps[a.Stream]
	n.tapMu.Unlock()
	if t == nil {
		return nil, fmt.Errorf("tap stream: %w", session.ErrNotFound)
	}
	if a.Cancel {
		t.cancel()
	} else {
		t.lease.Reset(t.span)
	}
	return struct{}{}, nil
}

// tapItem is an event on its way to FleetTap's caller.
type tapItem struct {
	ev      session.TapEvent
	dropped uint64
}

// FleetTap streams the messages of connection id (routed to its owner by
// the id) or of the connections sel matches on every node to fn, on the
// caller's goroutine, until ctx is done, fn returns false, or every tapped
// node's stream ended (it returns nil then). dropped counts the events
// lost since the previous call, wherever they were lost. subscribed, if
// not nil, is called once with the nodes that could not be tapped (a
// selector's tap goes on without them; an id's fails when its owner does
// not answer).
func (n *Node) FleetTap(ctx context.Context, sel session.Selector, id string, preview, buffer int, subscribed func(apitype.Fleet), fn func(ev session.TapEvent, dropped uint64) bool) error {
	all := append([]string{n.cfg.Name}, n.peers.names()...)
	targets := all
	if id != "" {
		tag, ok := session.IDNodeTag(id)
		if !ok {
			return session.ErrConnNotFound
		}
		var owners []string
		if tag == n.tag {
			owners = append(owners, n.cfg.Name)
		}
		owners = append(owners, n.peers.withTag(tag)...)
		if tag != 0 && len(owners) > 0 {
			targets = owners
		}
	}
	buffer = max(buffer, 1)
	ch := make(chan tapItem, buffer)
	var lost atomic.Uint64 // events this side could not take
	offer := func(it tapItem) {
		select {
		case ch <- it:
		default:
			lost.Add(1 + it.dropped)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel, below
	defer cancel()

	localOn := false
	localDone := make(chan error, 1)
	var localErr error
	if slices.Contains(targets, n.cfg.Name) {
		if id != "" {
			_, localErr = n.local.Connection(id)
		}
		if localErr == nil {
			sub := make(chan struct{})
			wg.Add(1)
			go func() { // ends with ctx
				defer wg.Done()
				localDone <- n.local.Tap(ctx, sel, id, preview, buffer, func() { close(sub) }, func(ev session.TapEvent, dropped uint64) bool {
					offer(tapItem{ev: ev, dropped: dropped})
					return true
				})
			}()
			select {
			case <-sub:
				localOn = true
			case err := <-localDone:
				return err
			}
		}
	}

	remote := slices.DeleteFunc(slices.Clone(targets), func(s string) bool { return s == n.cfg.Name })
	live := map[string]bool{}
	ends := make(chan string, len(remote)+1)
	var fleet apitype.Fleet
	var stream string
	var remoteErr error
	if len(remote) > 0 {
		stream = n.nc.NewInbox()
		seqs := map[string]uint64{} // the subscription's goroutine only
		sub, err := n.nc.Subscribe(stream, func(m *nats.Msg) {
			var tm tapMsg
			if json.Unmarshal(m.Data, &tm) != nil || tm.Node == "" {
				return
			}
			var gap uint64
			if last := seqs[tm.Node]; tm.Seq > last+1 {
				gap = tm.Seq - last - 1
			}
			seqs[tm.Node] = max(seqs[tm.Node], tm.Seq)
			switch {
			case tm.End:
				lost.Add(gap)
				select {
				case ends <- tm.Node:
				default:
				}
			case tm.Event != nil:
				offer(tapItem{ev: *tm.Event, dropped: tm.Dropped + gap})
			}
		})
		if err == nil {
			defer func() {
				if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
					n.log.Debug("cluster: unsubscribe tap stream", "err", err)
				}
			}()
			// A slow requester drops on the client (a gap), never in NATS's server.
			err = sub.SetPendingLimits(max(buffer, 1024), 16<<20)
		}
		if err != nil {
			fleet = apitype.Fleet{Partial: true, MissingNodes: remote}
			remoteErr = &UnavailableError{Op: opTap, Nodes: remote}
		} else {
			a := n.gather(ctx, opTap, tapArgs{Stream: stream, ID: id, Selector: sel.String(), Preview: preview, Buffer: buffer,
				LeaseMS: n.tapLease.Milliseconds()}, remote)
			var missing []string
			for _, name := range remote {
				r, ok := a.replies[name]
				switch {
				case !ok:
					missing = append(missing, name)
				case r.Err != nil:
					err := r.Err.toError(name)
					if id == "" || !errors.Is(err, session.ErrConnNotFound) {
						missing = append(missing, name)
						n.log.Warn("cluster: a node could not start a tap", "peer", name, "err", err)
					}
					remoteErr = cmp(remoteErr, err)
				default:
					live[name] = true
				}
			}
			if len(missing) > 0 {
				fleet = apitype.Fleet{Partial: true, MissingNodes: missing}
				remoteErr = cmp(remoteErr, &UnavailableError{Op: opTap, Nodes: missing})
			}
		}
	}
	defer n.cancelTaps(stream, live)
	if !localOn && len(live) == 0 {
		if id != "" && fleet.Partial {
			return &UnavailableError{Op: opTap, Nodes: fleet.MissingNodes}
		}
		if err := cmp(localErr, remoteErr); err != nil {
			return err
		}
		return session.ErrConnNotFound
	}
	if subscribed != nil {
		subscribed(fleet)
	}

	lapsed := make(chan string, len(live))
	if len(live) > 0 {
		renew := slices.Collect(maps.Keys(live))
		wg.Add(1)
		go func() { // ends with ctx
			defer wg.Done()
			n.renewTaps(ctx, stream, renew, lapsed)
		}()
	}
	for localOn || len(live) > 0 {
		select {
		case it := <-ch:
			if !fn(it.ev, it.dropped+lost.Swap(0)) {
				return nil
			}
		case name := <-ends:
			delete(live, name)
		case name := <-lapsed:
			if live[name] {
				n.log.Warn("cluster: lost a node's tap stream", "peer", name)
			}
			delete(live, name)
		case err := <-localDone:
			localOn = false
			if err != nil && ctx.Err() == nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// renewTaps renews the lease of stream on nodes every third of the lease
// until ctx ends, and reports each node whose lease it could not renew
// (its stream ended, or it does not answer) to lapsed, once.
func (n *Node) renewTaps(ctx context.Context, stream string, nodes []string, lapsed chan<- string) {
	t := time.NewTicker(max(n.tapLease/3, 10*time.Millisecond))
	defer t.Stop()
	for len(nodes) > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a := n.gather(ctx, opTapLease, leaseArgs{Stream: stream}, nodes)
		if ctx.Err() != nil {
			return
		}
		nodes = slices.DeleteFunc(nodes, func(name string) bool {
			if r, ok := a.replies[name]; ok && r.Err == nil {
				return false
			}
			lapsed <- name // buffered for every node
			return true
		})
	}
}

// cancelTaps tells the nodes serving stream to stop, without waiting.
func (n *Node) cancelTaps(stream string, live map[string]bool) {
	if len(live) == 0 {
		return
	}
	args, err := json.Marshal(leaseArgs{Stream: stream, Cancel: true})
	if err != nil {
		return
	}
	req, err := json.Marshal(request{WaitMS: n.cfg.Timeout.Milliseconds(), Args: args})
	if err != nil {
		return
	}
	for name := range live {
		if err := n.nc.PublishRequest(n.subject("rpc", "node", name, opTapLease), n.nc.NewInbox(), req); err != nil {
			n.log.Debug("cluster: cancel a tap", "peer", name, "err", err)
		}
	}
}
