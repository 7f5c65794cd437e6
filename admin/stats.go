package admin

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/session"
)

// GET /v1/stats
func (s *Server) stats(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	now := s.now()
	st := s.hub.Stats()
	out := apitype.Stats{
		Version:            s.cfg.Version,
		StartedAt:          st.StartedAt.UTC(),
		UptimeSeconds:      now.Sub(st.StartedAt).Seconds(),
		Draining:           st.Draining,
		Connections:        st.Connections,
		Handshaking:        st.Handshaking,
		ConnectionsByRoute: st.ConnectionsByRoute,
		SendQueueBytes:     st.SendQueueBytes,
		Accepted:           st.Accepted,
		ClosedBy:           map[string]uint64{},
		HandshakeFailures:  st.HandshakeFailures,
		SlowConsumers:      st.SlowConsumers,
		Panics:             st.Panics,
		WebhookFailures:    st.WebhookFailures,
		WebhookDropped:     st.WebhookEventsDropped,
		EventSubscribers:   s.hub.Watchers(),
		History:            history(s.hist.Health()),
	}
	for k, v := range st.ClosedBy {
		out.ClosedBy[string(k)] = v
		out.Closed += v
	}
	if out.HandshakeFailures == nil {
		out.HandshakeFailures = map[string]uint64{}
	}
	if out.ConnectionsByRoute == nil {
		out.ConnectionsByRoute = map[string]int{}
	}
	out.Rates = s.rates.rates(now, st.StartedAt, out.Accepted, out.Closed)
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// rateSampler turns the daemon's totals into rates over a fixed window. It
// samples on its own clock (run, a goroutine of the Server that ends with
// its Shutdown), so a rate never depends on when another caller last
// asked.
type rateSampler struct {
	mu      sync.Mutex
	samples [rateSamples]rateSample // a ring: next is the slot to write
	next, n int
}

type rateSample struct {
	at               time.Time
	accepted, closed uint64
}

const (
	rateEvery  = time.Second
	rateWindow = 10 * time.Second
	// rateSamples spans rateWindow: its oldest and newest samples are
	// rateWindow apart.
	rateSamples = int(rateWindow/rateEvery) + 1
)

// totals reads what the rates are taken of: upgrades accepted and
// sessions closed since start.
func totals(st session.Stats) (accepted, closed uint64) {
	for _, n := range st.ClosedBy {
		closed += n
	}
	return st.Accepted, closed
}

// run samples hub every rateEvery, at once first, until ctx ends.
func (rs *rateSampler) run(ctx context.Context, hub Hub, now func() time.Time) {
	tick := time.NewTicker(rateEvery)
	defer tick.Stop()
	for {
		accepted, closed := totals(hub.Stats())
		rs.add(rateSample{at: now(), accepted: accepted, closed: closed})
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (rs *rateSampler) add(s rateSample) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.samples[rs.next] = s
	rs.next = (rs.next + 1) % rateSamples
	rs.n = min(rs.n+1, rateSamples)
}

// rates are taken between the oldest and the newest sample. With fewer
// than two, they are averages since start, of the totals now.
func (rs *rateSampler) rates(now, started time.Time, accepted, closed uint64) apitype.Rates {
	rs.mu.Lock()
	from, to := rateSample{at: started}, rateSample{at: now, accepted: accepted, closed: closed}
	if rs.n >= 2 {
		from = rs.samples[(rs.next-rs.n+rateSamples)%rateSamples]
		to = rs.samples[(rs.next-1+rateSamples)%rateSamples]
	}
	rs.mu.Unlock()
	secs := to.at.Sub(from.at).Seconds()
	if secs <= 0 {
		return apitype.Rates{}
	}
	return apitype.Rates{
		WindowSeconds:     secs,
		ConnectsPerSecond: float64(to.accepted-min(from.accepted, to.accepted)) / secs,
		ClosesPerSecond:   float64(to.closed-min(from.closed, to.closed)) / secs,
	}
}
