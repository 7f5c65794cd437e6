package daemon

import "context"

// Watchers returns how many Watch calls are registered now: an event
// published from here on reaches each of them (unless its buffer is full).
// The admin API reports it in /v1/stats, and tests wait on it instead of
// sleeping before they trigger events.
func (d *Daemon) Watchers() int { return int(d.events.n.Load()) }

// WatchSubscribed is Watch, calling subscribed once the watcher is
// registered and before fn sees any event: every event published after
// subscribed is called reaches fn, or is counted in Event.Missed. The admin
// API tells its event-stream clients from there that they are subscribed.
func (d *Daemon) WatchSubscribed(ctx context.Context, buffer int, subscribed func(), fn func(Event) bool) error {
	if buffer <= 0 {
		buffer = DefaultWatchBuffer
	}
	w := &watcher{ch: make(chan Event, buffer)}
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
