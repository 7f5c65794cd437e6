package loadgen

import "time"

// A run measures over one phase: after the connections are open and
// before they close (echo, broadcast), the whole hold (idle) or the whole
// run (churn). With Config.PID it reads the server's CPU time and RSS from
// /proc at both ends, so that the server's cost per operation excludes
// setup.

type phase struct {
	t0         time.Time
	cpu0, srv0 time.Duration
	rss0       int64
	elapsed    time.Duration
	cpu, srv   time.Duration
	rss1       int64
	done       bool
}

func (r *run) begin() {
	p := &r.phase
	if r.cfg.PID > 0 {
		// A failed first reading shows in the last one, which is checked.
		p.srv0, _ = procCPU(r.cfg.PID)
		p.rss0, _ = procRSS(r.cfg.PID)
	}
	p.t0, p.cpu0 = time.Now(), cpuTime()
}

// end closes the phase; the first call counts.
func (r *run) end() {
	p := &r.phase
	if p.done || p.t0.IsZero() {
		return
	}
	p.done = true
	p.elapsed, p.cpu = time.Since(p.t0), cpuTime()-p.cpu0
	if r.cfg.PID > 0 {
		srv, err := procCPU(r.cfg.PID)
		if err != nil {
			r.fail(err)
			return
		}
		p.srv = srv - p.srv0
		if p.rss1, err = procRSS(r.cfg.PID); err != nil {
			r.fail(err)
		}
	}
}
