package session

import (
	"context"
	"sync"
	"time"
)

// Rates are a node's connects and closes per second over Window, as a
// RateSampler measures them.
type Rates struct {
	Window            time.Duration `json:"window"`
	ConnectsPerSecond float64       `json:"connects_per_second"`
	ClosesPerSecond   float64       `json:"closes_per_second"`
}

// Add sums the rates of two nodes: the per-second figures add up, the
// window is the longer one.
func (r *Rates) Add(o Rates) {
	r.Window = max(r.Window, o.Window)
	r.ConnectsPerSecond += o.ConnectsPerSecond
	r.ClosesPerSecond += o.ClosesPerSecond
}

// Sampling of a RateSampler.
const (
	RateEvery  = time.Second
	RateWindow = 10 * time.Second
	// rateSamples spans RateWindow: its oldest and newest samples are
	// RateWindow apart.
	rateSamples = int(RateWindow/RateEvery) + 1
)

// RateSampler turns a node's totals (Stats.Accepted and the sum of
// Stats.ClosedBy) into rates over a fixed window. It samples on its own
// clock (Run), so a rate never depends on when another caller last asked.
// The zero value is ready to use.
type RateSampler struct {
	mu      sync.Mutex
	samples [rateSamples]rateSample // a ring: next is the slot to write
	next, n int
}

type rateSample struct {
	at               time.Time
	accepted, closed uint64
}

// rateTotals reads what the rates are taken of: upgrades accepted and
// sessions closed since start.
func rateTotals(st Stats) (accepted, closed uint64) {
	for _, n := range st.ClosedBy {
		closed += n
	}
	return st.Accepted, closed
}

// Run samples stats every RateEvery, at once first, until ctx ends. Its
// caller owns the goroutine it runs on.
func (rs *RateSampler) Run(ctx context.Context, stats func() Stats, now func() time.Time) {
	tick := time.NewTicker(RateEvery)
	defer tick.Stop()
	for {
		accepted, closed := rateTotals(stats())
		rs.add(rateSample{at: now(), accepted: accepted, closed: closed})
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (rs *RateSampler) add(s rateSample) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.samples[rs.next] = s
	rs.next = (rs.next + 1) % rateSamples
	rs.n = min(rs.n+1, rateSamples)
}

// Rates are taken between the oldest and the newest sample. With fewer
// than two, they are averages since st.StartedAt of st's totals at now.
func (rs *RateSampler) Rates(now time.Time, st Stats) Rates {
	accepted, closed := rateTotals(st)
	rs.mu.Lock()
	from, to := rateSample{at: st.StartedAt}, rateSample{at: now, accepted: accepted, closed: closed}
	if rs.n >= 2 {
		from = rs.samples[(rs.next-rs.n+rateSamples)%rateSamples]
		to = rs.samples[(rs.next-1+rateSamples)%rateSamples]
	}
	rs.mu.Unlock()
	d := to.at.Sub(from.at)
	if d <= 0 {
		return Rates{}
	}
	secs := d.Seconds()
	return Rates{
		Window:            d,
		ConnectsPerSecond: float64(to.accepted-min(from.accepted, to.accepted)) / secs,
		ClosesPerSecond:   float64(to.closed-min(from.closed, to.closed)) / secs,
	}
}
