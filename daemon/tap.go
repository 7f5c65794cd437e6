package daemon

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// Taps (`wsctl tail`): a stream of the messages that selected connections
// receive and are sent, as they happen. A tap never slows a connection:
// events go into the tap's buffer without waiting, and those that do not
// fit are dropped and counted. With no tap registered, a message costs one
// atomic load.

// tapper is the daemon's set of taps. mu is a leaf: it is taken on the
// reading goroutine and on every send path, some of which hold a relay
// room's lock.
type tapper struct {
	n    atomic.Int32
	mu   sync.Mutex
	taps map[*tap]struct{}
}

type tap struct {
	id      string // one connection, or "" for sel
	sel     session.Selector
	preview int // payload bytes copied into each event; 0: none
	ch      chan session.TapEvent
	dropped atomic.Uint64
}

func (tp *tapper) on() bool { return tp.n.Load() > 0 }

// publish offers one message of c to every tap that selects c.
func (tp *tapper) publish(c *conn, in bool, typ protocol.MessageType, p []byte) {
	now := time.Now()
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for t := range tp.taps {
		if t.id != "" {
			if t.id != c.sid {
				continue
			}
		} else if !t.sel.Match(c) {
			continue
		}
		ev := session.TapEvent{At: now, ConnID: c.sid, In: in, Type: sessionType(typ), Size: len(p)}
		if t.preview > 0 && len(p) > 0 {
			n := min(len(p), t.preview)
			ev.Payload = append([]byte(nil), p[:n]...)
			ev.Truncated = n < len(p)
		}
		select {
		case t.ch <- ev:
		default:
			t.dropped.Add(1)
		}
	}
}

// tapIn and tapOut offer a message received or sent by c to the taps.
func (c *conn) tapIn(typ protocol.MessageType, p []byte) {
	if c.d.taps.on() {
		c.d.taps.publish(c, true, typ, p)
	}
}

func (c *conn) tapOut(typ protocol.MessageType, p []byte) {
	if c.d.taps.on() {
		c.d.taps.publish(c, false, typ, p)
	}
}

// Tap streams the messages of connection id (when not "") or of the
// connections sel matches, received and sent, to fn on the caller's
// goroutine until ctx is done or fn returns false; dropped counts the
// events lost since the previous call because fn did not keep up with
// buffer of them. preview is how many payload bytes each event copies (0:
// none). subscribed, if not nil, is called once the tap is registered.
func (d *Daemon) Tap(ctx context.Context, sel session.Selector, id string, preview, buffer int, subscribed func(), fn func(ev session.TapEvent, dropped uint64) bool) error {
	t := &tap{id: id, sel: sel, preview: max(preview, 0), ch: make(chan session.TapEvent, max(buffer, 1))}
	d.taps.mu.Lock()
	if d.taps.taps == nil {
		d.taps.taps = map[*tap]struct{}{}
	}
	d.taps.taps[t] = struct{}{}
	d.taps.n.Add(1)
	d.taps.mu.Unlock()
	defer func() {
		d.taps.mu.Lock()
		delete(d.taps.taps, t)
		d.taps.n.Add(-1)
		d.taps.mu.Unlock()
	}()
	if subscribed != nil {
		subscribed()
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev := <-t.ch:
			if !fn(ev, t.dropped.Swap(0)) {
				return nil
			}
		}
	}
}
