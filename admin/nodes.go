package admin

import (
	"net/http"

	"github.com/wsd-dev/wsd/admin/apitype"
)

// GET /v1/nodes: the fleet's nodes (PRODUCT.md §13); on a single node,
// this one.
func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	if s.fleet != nil {
		nodes, fleet := s.fleet.Nodes()
		s.writeJSON(w, r, http.StatusOK, apitype.NodeList{Nodes: nodes, Fleet: fleet})
		return nil
	}
	now := s.now()
	st := s.hub.Stats()
	health := apitype.NodeHealth(st.Draining, s.hist.Health().Degraded, s.local != nil && s.local.Cordoned())
	s.writeJSON(w, r, http.StatusOK, apitype.NodeList{Nodes: []apitype.Node{{
		Name: s.cfg.Node, Address: s.cfg.Address, Version: s.cfg.Version, StartedAt: st.StartedAt.UTC(),
		UptimeSeconds: now.Sub(st.StartedAt).Seconds(), Connections: st.Connections, Health: health,
		LastHeartbeat: now.UTC(), Self: true,
	}}})
	return nil
}
