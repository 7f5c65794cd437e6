package admin

import (
	"net/http"
	"sort"
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
	st := s.hub.Stats()
	out := s.nodeStats(st, now)
	out.Rates = rates(s.rates.Rates(now, st))
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// fleetStats answers GET /v1/stats for a fleet: the total at the top, each
// node's own in Nodes, with the rates its own sampler measured (none for a
// node that gave none); the total's rates are their sum.
func (s *Server) fleetStats(w http.ResponseWriter, r *http.Request, now time.Time) error {
	per, perRates, fleet := s.fleet.FleetStats()
	self := s.fleet.ClusterState().Node
	names := make([]string, 0, len(per))
	for name := range per {
		names = append(names, name)
	}
	sort.Strings(names)
	var total session.Stats
	var totalRates session.Rates
	out := apitype.Stats{}
	for _, name := range names {
		st := per[name]
		ns := s.nodeStats(st, now)
		ns.Node = name
		ns.Version = ""
		ns.EventSubscribers = 0
		ns.History = apitype.History{}
		nr := perRates[name]
		if name == self {
			ns.EventSubscribers = s.hub.Watchers()
			ns.History = history(s.hist.Health())
			ns.Version = s.cfg.Version
		}
		ns.Rates = rates(nr)
		totalRates.Add(nr)
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
	out.Rates = rates(totalRates)
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

// rates are r on the wire.
func rates(r session.Rates) apitype.Rates {
	return apitype.Rates{WindowSeconds: r.Window.Seconds(), ConnectsPerSecond: r.ConnectsPerSecond, ClosesPerSecond: r.ClosesPerSecond}
}
