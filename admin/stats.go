package admin

import (
	"net/http"
	"sync"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
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
	out.Rates = s.rates.observe(now, st.StartedAt, out.Accepted, out.Closed)
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// rateSampler turns the daemon's totals into rates without a goroutine:
// every stats call leaves a sample (at most one a second, for a minute),
// and rates are taken against the oldest sample kept, or since start.
type rateSampler struct {
	mu      sync.Mutex
	samples []rateSample // oldest first
}

type rateSample struct {
	at               time.Time
	accepted, closed uint64
}

const (
	rateWindow  = time.Minute
	rateSpacing = time.Second
)

func (rs *rateSampler) observe(now, started time.Time, accepted, closed uint64) apitype.Rates {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for len(rs.samples) > 0 && now.Sub(rs.samples[0].at) > rateWindow {
		rs.samples = rs.samples[1:]
	}
	base := rateSample{at: started}
	if len(rs.samples) > 0 {
		base = rs.samples[0]
	}
	if n := len(rs.samples); n == 0 || now.Sub(rs.samples[n-1].at) >= rateSpacing {
		rs.samples = append(rs.samples, rateSample{at: now, accepted: accepted, closed: closed})
	}
	secs := now.Sub(base.at).Seconds()
	if secs <= 0 {
		return apitype.Rates{}
	}
	return apitype.Rates{
		WindowSeconds:     secs,
		ConnectsPerSecond: float64(accepted-min(base.accepted, accepted)) / secs,
		ClosesPerSecond:   float64(closed-min(base.closed, closed)) / secs,
	}
}
