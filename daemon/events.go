package daemon

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsd-dev/wsd/session"
)

// events fans connection events out to watchers. Each watcher has its own
// bounded buffer; a watcher that falls behind loses events (counted in the
// next event it gets), it never slows a connection down.
type events struct {
	n  atomic.Int32 // watchers; publishing is free when there are none
	mu sync.RWMutex
	ws map[*watcher]struct{}
}

type watcher struct {
	ch     chan session.Event
	missed atomic.Uint64
}

func newEvents() *events { return &events{ws: make(map[*watcher]struct{})} }

func (e *events) publish(ev session.Event) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for w := range e.ws {
		m := w.missed.Swap(0)
		ev.Missed = m
		select {
		case w.ch <- ev:
		default:
			w.missed.Add(m + 1)
		}
	}
}

func (e *events) publishConnect(c *conn) {
	if e.n.Load() == 0 {
		return
	}
	e.publish(session.Event{Type: session.EventConnect, At: time.Now(), Conn: c.info()})
}

func (e *events) publishClose(c *conn, rec session.Close) {
	if e.n.Load() == 0 {
		return
	}
	e.publishCloseTo(c, rec)
}

// publishCloseTo is publishClose with watchers; apart, so that rec is
// copied to the heap only when someone watches.
func (e *events) publishCloseTo(c *conn, rec session.Close) {
	e.publish(session.Event{Type: session.EventClose, At: rec.ClosedAt, Conn: c.info(), Close: &rec})
}

// DefaultWatchBuffer is the per-watcher buffer when Watch is given 0.
const DefaultWatchBuffer = 256

// Watch calls fn with every connect and close event from now on, in order,
// until ctx is done or fn returns false. buffer bounds the events waiting
// for fn (0: DefaultWatchBuffer); past it events are dropped and counted in
// session.Event.Missed. It returns ctx.Err() or nil.
func (d *Daemon) Watch(ctx context.Context, buffer int, fn func(session.Event) bool) error {
	return d.WatchSubscribed(ctx, buffer, nil, fn)
}

// WatchSubscribed is Watch, calling subscribed once the watcher is
// registered and before fn sees any event: every event published after
// subscribed is called reaches fn, or is counted in session.Event.Missed. The admin
// API tells its event-stream clients from there that they are subscribed.
func (d *Daemon) WatchSubscribed(ctx context.Context, buffer int, subscribed func(), fn func(session.Event) bool) error {
	if buffer <= 0 {
		buffer = DefaultWatchBuffer
	}
	w := &watcher{ch: make(chan session.Event, buffer)}
	e := d.events
	e.mu.Lock()
	e.ws[w] = struct{}{}
	e.n.Add(1)
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.ws, w)
		e.n.Add(-1)
		e.mu.Unlock()
	}()
	if subscribed != nil {
		subscribed()
	}
	for {
		select {
		case ev := <-w.ch:
			if !fn(ev) {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
