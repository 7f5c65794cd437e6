package admin

import (
	"net/http"
	"unicode/utf8"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// sampleSize is how many matches a dry run shows.
const sampleSize = 10

// bulkSelector parses the selector of a bulk call: required, unless all is
// explicit (the flag, or the selector "all").
func bulkSelector(selector string, all bool) (session.Selector, bool, error) {
	sel, err := session.ParseSelector(selector)
	if err != nil {
		return sel, false, err
	}
	all = all || sel.All()
	if sel.Empty() && !all {
		return sel, false, errorf(http.StatusBadRequest, apitype.CodeInvalidSelector,
			`a selector is required (e.g. "room=lobby"); to act on every connection say "all": true`)
	}
	if all && !sel.Empty() && !sel.All() {
		return sel, false, errorf(http.StatusBadRequest, apitype.CodeInvalidSelector, `give a selector or "all", not both`)
	}
	return sel, all, nil
}

func (s *Server) sample(sel session.Selector) ([]apitype.Connection, error) {
	cs, _, err := s.hub.Connections(sel, "", sampleSize)
	if err != nil {
		return nil, err
	}
	return connections(cs), nil
}

// POST /v1/broadcast
func (s *Server) broadcast(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	var req apitype.BroadcastRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	sel, _, err := bulkSelector(req.Selector, req.All)
	if err != nil {
		return err
	}
	if req.DryRun {
		matched, fleet := s.count(sel)
		res := apitype.BulkResult{Matched: matched, DryRun: true, Fleet: fleet}
		if res.Sample, err = s.sample(sel); err != nil {
			return err
		}
		s.writeJSON(w, r, http.StatusOK, res)
		return nil
	}
	typ, p, err := message(req.Text, req.Binary)
	if err != nil {
		return err
	}
	var (
		res   session.BroadcastResult
		nodes map[string]apitype.NodeCount
		fleet apitype.Fleet
	)
	if s.fleet != nil {
		res, nodes, fleet = s.fleet.FleetBroadcast(r.Context(), sel, typ, p)
	} else {
		res = s.hub.BroadcastContext(r.Context(), sel, typ, p) // traced: links to the sends
	}
	params := map[string]any{"type": typ.String(), "bytes": len(p), "dropped": res.Dropped}
	if fleet.Partial {
		params["missing_nodes"] = fleet.MissingNodes
	}
	s.audit(r, session.AuditEntry{Action: apitype.ActionBroadcast, Target: sel.String(), Matched: int64(res.Matched), Affected: int64(res.Queued)},
		params, nil)
	s.writeJSON(w, r, http.StatusOK, apitype.BulkResult{Matched: res.Matched, Queued: res.Queued, Dropped: res.Dropped, Nodes: nodes, Fleet: fleet})
	return nil
}

// POST /v1/close
func (s *Server) closeSelected(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	var req apitype.CloseRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Code == 0 {
		req.Code = int(protocol.StatusNormalClosure)
	}
	if err := checkClose(req.Code, req.Reason); err != nil {
		return err
	}
	sel, all, err := bulkSelector(req.Selector, req.All)
	if err != nil {
		return err
	}
	matched, fleet := s.count(sel)
	if req.DryRun {
		res := apitype.BulkResult{Matched: matched, DryRun: true, Fleet: fleet}
		if res.Sample, err = s.sample(sel); err != nil {
			return err
		}
		s.writeJSON(w, r, http.StatusOK, res)
		return nil
	}
	params := map[string]any{"code": req.Code, "reason": req.Reason}
	if req.Confirm != nil {
		params["confirm"] = *req.Confirm
	}
	entry := session.AuditEntry{Action: apitype.ActionBulkClose, Target: sel.String(), Matched: int64(matched)}
	if all && sel.Empty() {
		entry.Target = "all"
	}
	if t := s.cfg.BulkConfirmThreshold; t >= 0 && matched > t && (req.Confirm == nil || *req.Confirm != matched) {
		e := errorf(http.StatusConflict, apitype.CodeConfirmationRequired,
			"%d connections match, more than the confirmation threshold %d: repeat the call with \"confirm\": %d", matched, t, matched)
		if req.Confirm != nil {
			e.Message = "the match count changed: " + e.Message
		}
		e.Matched = &matched
		s.audit(r, entry, params, e)
		return e
	}
	var (
		n     int
		per   map[string]int
		nodes map[string]apitype.NodeCount
	)
	if s.fleet != nil {
		n, per, fleet, err = s.fleet.FleetCloseSelected(sel, all, req.Code, req.Reason)
		if fleet.Partial {
			params["missing_nodes"] = fleet.MissingNodes
		}
		nodes = map[string]apitype.NodeCount{}
		for name, k := range per {
			nodes[name] = apitype.NodeCount{Matched: k, Queued: k}
		}
	} else {
		n, err = s.hub.CloseSelected(sel, all, req.Code, req.Reason)
	}
	entry.Affected = int64(n)
	s.audit(r, entry, params, err)
	if err != nil {
		return err
	}
	matched = max(matched, n)
	s.writeJSON(w, r, http.StatusOK, apitype.BulkResult{Matched: matched, Queued: n, Dropped: matched - n, Nodes: nodes, Fleet: fleet})
	return nil
}

// checkClose refuses a close code or reason that may not be sent.
func checkClose(code int, reason string) error {
	switch {
	case code >= 3000 && code <= 4999:
	case code == 1000, code == 1001, code == 1008, code >= 1011 && code <= 1014:
	default:
		// The others are the protocol's own (1002, 1003, 1007, 1009,
		// 1010) or never sent.
		return errorf(http.StatusBadRequest, apitype.CodeBadRequest, "close code %d may not be sent by the admin (use 1000, 1001, 1008, 1011-1014 or 3000-4999)", code)
	}
	if len(reason) > protocol.MaxCloseReason || !utf8.ValidString(reason) {
		return errorf(http.StatusBadRequest, apitype.CodeBadRequest, "close reason must be UTF-8 of at most %d bytes", protocol.MaxCloseReason)
	}
	return nil
}
