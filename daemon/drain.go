package daemon

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/wsd-dev/wsd/session"
)

// Cordon and drain (PRODUCT.md §10): take a node out of rotation without a
// reconnect storm. A cordoned node refuses new upgrades with 503 and a
// Retry-After, and reports not ready, while its connections stay; a drain
// cordons the node and closes the connections it matches in paced,
// jittered batches over a window, so that their clients reconnect
// elsewhere spread over it.

// cordonRetryAfter is the Retry-After of an upgrade a cordoned node
// refuses.
const cordonRetryAfter = 5 * time.Second

// drainTick is the shortest pause between two batches of a drain.
const drainTick = 10 * time.Millisecond

// drainer is the daemon's drain state. mu is a leaf.
type drainer struct {
	mu     sync.Mutex
	status session.DrainStatus
	due    time.Time     // when the last close is due
	stop   chan struct{} // closed by Shutdown: a running drain ends
	wg     sync.WaitGroup
	closed bool // stop is closed; no drain may start
}

// Cordon makes the daemon refuse new upgrades (503 with Retry-After) and
// report not ready; live connections stay. It is idempotent.
func (d *Daemon) Cordon() { d.cordoned.Store(true) }

// Uncordon undoes Cordon. It fails with session.ErrDrainRunning while a
// drain runs.
func (d *Daemon) Uncordon() error {
	d.drain.mu.Lock()
	defer d.drain.mu.Unlock()
	if d.drain.status.Running {
		return session.ErrDrainRunning
	}
	d.cordoned.Store(false)
	return nil
}

// Cordoned reports whether the daemon is cordoned.
func (d *Daemon) Cordoned() bool { return d.cordoned.Load() }

// Drain cordons the daemon and closes the connections sel matches (every
// one when sel is empty) with code and reason, recorded as closed by
// drain, in paced and jittered batches spread over over. It returns at
// once with the drain's first status; the drain runs on a goroutine of the
// daemon's, which Shutdown ends, not on ctx (the caller may go away).
// A second drain while one runs fails with session.ErrDrainRunning; after
// Shutdown began, with session.ErrDraining.
func (d *Daemon) Drain(_ context.Context, sel session.Selector, over time.Duration, code int, reason string) (session.DrainStatus, error) {
	if !closeOK(code, reason) {
		return session.DrainStatus{}, session.ErrInvalidClose
	}
	over = max(over, 0)
	dr := &d.drain
	dr.mu.Lock()
	defer dr.mu.Unlock()
	if dr.closed || d.draining.Load() {
		return session.DrainStatus{}, session.ErrDraining
	}
	if dr.status.Running {
		return dr.statusLocked(d.now()), session.ErrDrainRunning
	}
	d.Cordon()
	var conns []*conn
	d.hub.each(&sel, func(c *conn) bool { conns = append(conns, c); return true })
	rand.Shuffle(len(conns), func(i, j int) { conns[i], conns[j] = conns[j], conns[i] })
	now := d.now()
	dr.status = session.DrainStatus{
		Running: true, Selector: sel.String(), Code: code, Reason: reason, Over: over,
		StartedAt: now, Total: len(conns), Remaining: len(conns),
	}
	dr.due = now.Add(over)
	dr.wg.Add(1)
	go d.runDrain(conns, over, closeCause{by: session.ClosedByDrain, code: code, reason: reason})
	d.log.Info("drain started", "selector", sel.String(), "connections", len(conns), "over", over, "code", code)
	return dr.statusLocked(now), nil
}

// DrainStatus returns the running drain's progress, or the last one's;
// ok is false when the daemon never drained.
func (d *Daemon) DrainStatus() (st session.DrainStatus, ok bool) {
	d.drain.mu.Lock()
	defer d.drain.mu.Unlock()
	if d.drain.status.StartedAt.IsZero() {
		return session.DrainStatus{}, false
	}
	return d.drain.statusLocked(d.now()), true
}

func (dr *drainer) statusLocked(now time.Time) session.DrainStatus {
	st := dr.status
	if st.Running {
		st.ETA = max(dr.due.Sub(now), 0)
	}
	return st
}

// drainPlan splits n closes over a window into batches: how many, and the
// pause between the starts of two batches. Batches are at least drainTick
// apart, so a short window or a few connections make fewer, larger ones.
func drainPlan(n int, over time.Duration) (batches int, every time.Duration) {
	if n == 0 {
		return 0, 0
	}
	batches = n
	if limit := int(over / drainTick); limit < batches {
		batches = max(limit, 1)
	}
	return batches, over / time.Duration(batches)
}

// runDrain closes conns in batches: batch i starts at a random point of
// the i-th slice of the window (jitter within its slot keeps the batches
// in order and the whole within the window).
func (d *Daemon) runDrain(conns []*conn, over time.Duration, cause closeCause) {
	dr := &d.drain
	defer dr.wg.Done()
	batches, every := drainPlan(len(conns), over)
	start := d.now()
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	done, errMsg := 0, ""
	for i := range batches {
		at := start.Add(time.Duration(i) * every)
		if every > 0 {
			at = at.Add(rand.N(every))
		}
		if wait := at.Sub(d.now()); wait > 0 {
			if t == nil {
				t = time.NewTimer(wait)
			} else {
				t.Reset(wait)
			}
			select {
			case <-t.C:
			case <-dr.stop:
				errMsg = "cut short: the daemon is shutting down"
			}
		}
		if errMsg != "" {
			break
		}
		end := len(conns) * (i + 1) / batches
		for _, c := range conns[done:end] {
			c.initClose(cause) // false: it was closing already, which is as good
		}
		done = end
		dr.mu.Lock()
		dr.status.Closed, dr.status.Remaining = done, len(conns)-done
		dr.mu.Unlock()
	}
	dr.mu.Lock()
	dr.status.Running = false
	dr.status.FinishedAt = d.now()
	dr.status.Error = errMsg
	dr.mu.Unlock()
	d.log.Info("drain finished", "closed", done, "of", len(conns), "error", errMsg)
}

// stopDrain ends a running drain and forbids new ones (Shutdown).
func (d *Daemon) stopDrain() {
	d.drain.mu.Lock()
	if !d.drain.closed {
		d.drain.closed = true
		close(d.drain.stop)
	}
	d.drain.mu.Unlock()
	d.drain.wg.Wait()
}

// cordonRejection is the answer to an upgrade on a cordoned node.
var cordonRejection = rejection{status: http.StatusServiceUnavailable, reason: "node is cordoned", metric: "cordoned", retryAfter: cordonRetryAfter}
