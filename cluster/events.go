package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsd-dev/wsd/session"
)

// eventBuffer bounds the local events waiting to be published.
const eventBuffer = 4096

// publishEvents publishes this node's connection events on
// P.events.NAME until Stop. While the bus is down NATS buffers them (up
// to its reconnect buffer); past that they are lost for remote watchers,
// who are partial anyway.
func (n *Node) publishEvents() {
	subject := n.subject("events", n.cfg.Name)
	for n.life.Err() == nil {
		err := n.local.WatchSubscribed(n.life, eventBuffer, nil, func(ev session.Event) bool {
			ev.Conn = n.own(ev.Conn)
			b, err := json.Marshal(ev)
			if err == nil {
				err = n.nc.Publish(subject, b)
			}
			if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
				n.log.Debug("cluster: publish event", "err", err)
			}
			return true
		})
		if err != nil && n.life.Err() == nil {
			n.log.Warn("cluster: watching local events", "err", err)
			select { // the daemon refused a watcher: try again later
			case <-n.life.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// WatchSubscribed calls fn with the events of every node (this node's
// from its daemon, the others' from the bus) until ctx ends or fn returns
// false. subscribed, if not nil, is called once both are subscribed. A
// watcher that falls behind buffer events loses events, counted in the
// next one's Missed.
func (n *Node) WatchSubscribed(ctx context.Context, buffer int, subscribed func(), fn func(session.Event) bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	buffer = max(buffer, 1)
	ch := make(chan session.Event, buffer)
	var missed uint64 // written by the NATS callback only; carried by the next event it delivers
	sub, err := n.nc.Subscribe(n.subject("events", "*"), func(m *nats.Msg) {
		if m.Subject == n.subject("events", n.cfg.Name) {
			return // ours come from the daemon directly
		}
		var ev session.Event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			return
		}
		ev.Missed += missed
		select {
		case ch <- ev:
			missed = 0
		default:
			missed++
		}
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			n.log.Debug("cluster: unsubscribe events", "err", err)
		}
	}()
	localErr := make(chan error, 1)
	go func() {
		var lost uint64
		localErr <- n.local.WatchSubscribed(ctx, buffer, subscribed, func(ev session.Event) bool {
			ev.Conn = n.own(ev.Conn)
			ev.Missed += lost
			select {
			case ch <- ev:
				lost = 0
			case <-ctx.Done():
				return false
			default:
				lost++
			}
			return true
		})
		cancel()
	}()
	for {
		select {
		case ev := <-ch:
			if !fn(ev) {
				cancel()
				<-localErr
				return nil
			}
		case <-ctx.Done():
			err := <-localErr
			if errors.Is(err, context.Canceled) {
				err = nil
			}
			return err
		}
	}
}
