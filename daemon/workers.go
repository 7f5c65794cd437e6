package daemon

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// workers runs the daemon's per-connection work — an accepted connection's
// handshake, a parked connection's wake-up — on goroutines that are kept
// for a while after their task instead of a new goroutine each time. A new
// goroutine starts with a 2 KiB stack, and both the handshake and the read
// path outgrow it: under connection churn, growing stacks (morestack,
// copystack) was 8% of the daemon's CPU. A kept worker reuses the stack it
// grew. Workers are not a limit: when none is idle a new one starts, and
// one idle for workerIdle ends.
type workers struct {
	d       *Daemon
	tasks   chan task    // unbuffered: a send succeeds only when a worker waits
	idle    atomic.Int64 // nanoseconds a worker waits for its next task
	started atomic.Int64 // workers started so far
	live    atomic.Int64 // workers running now
	wg      sync.WaitGroup
	stop    chan struct{}
}

// task is a unit of work: exactly one field is set.
type task struct {
	nc net.Conn // an accepted connection: handshake, then serve it
	c  *conn    // a parked connection to resume
}

// workerIdle is how long a worker waits for its next task before it ends.
const workerIdle = 5 * time.Second

func newWorkers(d *Daemon) *workers {
	w := &workers{d: d, tasks: make(chan task), stop: make(chan struct{})}
	w.idle.Store(int64(workerIdle))
	return w
}

// run hands t to an idle worker, or starts one. It never blocks.
func (w *workers) run(t task) {
	select {
	case w.tasks <- t:
	default:
		w.wg.Add(1)
		w.started.Add(1)
		go w.work(t)
	}
}

func (w *workers) work(t task) {
	w.live.Add(1)
	defer w.wg.Done()
	defer w.live.Add(-1)
	idle := time.NewTimer(time.Duration(w.idle.Load()))
	defer idle.Stop()
	for {
		if t.nc != nil {
			w.d.serveConn(t.nc)
		} else {
			t.c.serve(true)
		}
		t = task{} // hold nothing while idle
		idle.Reset(time.Duration(w.idle.Load()))
		select {
		case t = <-w.tasks:
		case <-idle.C:
			return
		case <-w.stop:
			return
		}
	}
}

// close ends the idle workers and waits for them. Nothing may be run
// afterwards; the daemon closes them once every connection has finished.
func (w *workers) close() {
	close(w.stop)
	w.wg.Wait()
}
