package admin

import (
	"context"
	"net/http"
	"sort"
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
	if s.fleet != nil {
		return s.fleetStats(w, r, now)
	}
	out := s.nodeStats(s.hub.Stats(), now)
	out.Rates = s.rates.rates(now, out.StartedAt, out.Accepted, out.Closed)
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// fleetStats answers GET /v1/stats for a fleet: the total at the top, each
// node's own in Nodes. Rates are this node's (its sampler's).
func (s *Server) fleetStats(w http.ResponseWriter, r *http.Request, now time.Time) error {
	per, fleet := s.fleet.FleetStats()
	names := make([]string, 0, len(per))
	for name := range per {
		names = append(names, name)
	}
	sort.Strings(names)
	var total session.Stats
	out := apitype.Stats{}
	for _, name := range names {
		st := per[name]
		ns := s.nodeStats(st, now)
		ns.Node = name
		ns.Version = ""
		ns.EventSubscribers = 0
		ns.History = apitype.History{}
		if name == s.fleet.ClusterState().Node {
			ns.Rates = s.rates.rates(now, st.StartedAt, ns.Accepted, ns.Closed)
			ns.EventSubscribers = s.hub.Watchers()
			ns.History = history(s.hist.Health())
			ns.Version = s.cfg.Version
		}
		out.Nodes = append(out.Nodes, ns)
		total.Add(st)
	}
	if total.StartedAt.IsZero() {
		total.StartedAt = now
	}
	nodes := out.Nodes
	out = s.nodeStats(total, now)
	out.Nodes = nodes
	out.Fleet = fleet
	cs := s.fleet.ClusterState()
	out.Cluster = &cs
	for _, ns := range nodes {
		out.Rates.WindowSeconds = max(out.Rates.WindowSeconds, ns.Rates.WindowSeconds)
		out.Rates.ConnectsPerSecond += ns.Rates.ConnectsPerSecond
		out.Rates.ClosesPerSecond += ns.Rates.ClosesPerSecond
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// nodeStats is st on the wire, without rates.
func (s *Server) nodeStats(st session.Stats, now time.Time) apitype.Stats {
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
		EventSubscribers:   int(s.attached.Load()),
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
	return out
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
func (rs *rateSampler) run(ctx context.Context, stats func() session.Stats, now func() time.Time) {
	tick := time.NewTicker(rateEvery)
	defer tick.Stop()
	for {
		accepted, closed := totals(stats())
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
