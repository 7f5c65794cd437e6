package daemon

// Watchers returns how many Watch calls are registered now: an event
// published from here on reaches each of them (unless its buffer is full).
// The admin API reports it in /v1/stats, and tests wait on it instead of
// sleeping before they trigger events.
func (d *Daemon) Watchers() int { return int(d.events.n.Load()) }
