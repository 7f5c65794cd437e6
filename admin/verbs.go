package admin

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// The operator verbs of PRODUCT.md §10: cordon and drain act on the node
// that answers, or in a fleet on the one ?node=NAME names; trace on the
// node the connection's id names.

// DefaultDrainReason is the close reason of a drain that gives none.
const DefaultDrainReason = "draining"

// maxDrainOver bounds a drain's window.
const maxDrainOver = 24 * time.Hour

func (s *Server) node() (Node, error) {
	if s.local == nil {
		return nil, errorf(http.StatusNotImplemented, apitype.CodeUnavailable, "this server cannot cordon or drain its node")
	}
	return s.local, nil
}

// self is the name of the node that answers.
func (s *Server) self() string {
	if s.fleet != nil {
		return s.fleet.ClusterState().Node
	}
	return s.cfg.Node
}

// remoteNode reads ?node=NAME: "" when the verb is for the node that
// answers (no node, or its own name), else the other node's name, which
// the fleet's verbs reach.
func (s *Server) remoteNode(q url.Values) (string, error) {
	name, self := q.Get("node"), s.self()
	if name == "" || name == self {
		return "", nil
	}
	if s.verbs == nil {
		return "", errorf(http.StatusNotFound, apitype.CodeNotFound, "no node named %s: this server is not in a fleet (it is node %q)", name, self)
	}
	return name, nil
}

// POST /v1/cordon[?node=NAME]
func (s *Server) cordon(w http.ResponseWriter, r *http.Request) error {
	return s.setCordon(w, r, true)
}

// DELETE /v1/cordon[?node=NAME]
func (s *Server) uncordon(w http.ResponseWriter, r *http.Request) error {
	return s.setCordon(w, r, false)
}

func (s *Server) setCordon(w http.ResponseWriter, r *http.Request, on bool) error {
	q, err := query(r, "node")
	if err != nil {
		return err
	}
	remote, err := s.remoteNode(q)
	if err != nil {
		return err
	}
	action := apitype.ActionCordon
	if !on {
		action = apitype.ActionUncordon
	}
	var cordoned bool
	if remote != "" {
		cordoned, err = s.verbs.CordonNode(r.Context(), remote, on)
		s.audit(r, session.AuditEntry{Action: action, Target: remote}, nil, err)
		if err != nil {
			return err
		}
		s.writeJSON(w, r, http.StatusOK, apitype.Cordon{Cordoned: cordoned})
		return nil
	}
	n, err := s.node()
	if err != nil {
		return err
	}
	if on {
		n.Cordon()
	} else {
		err = n.Uncordon()
	}
	s.audit(r, session.AuditEntry{Action: action, Target: s.self()}, nil, err)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, apitype.Cordon{Cordoned: n.Cordoned()})
	return nil
}

// POST /v1/drain[?node=NAME]
func (s *Server) startDrain(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "node")
	if err != nil {
		return err
	}
	remote, err := s.remoteNode(q)
	if err != nil {
		return err
	}
	var n Node
	if remote == "" {
		if n, err = s.node(); err != nil {
			return err
		}
	}
	var req apitype.DrainRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	var over time.Duration
	if req.Over != "" {
		over, err = time.ParseDuration(req.Over)
		if err != nil || over < 0 || over > maxDrainOver {
			return errorf(http.StatusBadRequest, apitype.CodeBadRequest, "over: want a duration between 0s and %v, like \"5m\"", maxDrainOver)
		}
	}
	if req.Code == 0 {
		req.Code = int(protocol.StatusServiceRestart)
	}
	if req.Reason == "" {
		req.Reason = DefaultDrainReason
	}
	if err := checkClose(req.Code, req.Reason); err != nil {
		return err
	}
	sel, err := session.ParseSelector(strings.TrimSpace(req.Selector))
	if err != nil {
		return err
	}
	if sel.All() {
		sel = session.Selector{}
	}
	params := map[string]any{"over": over.String(), "code": req.Code, "reason": req.Reason}
	var st session.DrainStatus
	var cordoned bool
	if remote != "" {
		params["node"] = remote
		st, cordoned, err = s.verbs.DrainNode(r.Context(), remote, sel, over, req.Code, req.Reason)
	} else {
		st, err = n.Drain(r.Context(), sel, over, req.Code, req.Reason)
	}
	s.audit(r, session.AuditEntry{Action: apitype.ActionDrain, Target: sel.String(), Matched: int64(st.Total), Affected: int64(st.Total)}, params, err)
	if err != nil {
		return err
	}
	if remote == "" {
		cordoned = n.Cordoned()
	}
	s.writeJSON(w, r, http.StatusAccepted, drainStatus(st, cordoned))
	return nil
}

// GET /v1/drain[?node=NAME]
func (s *Server) getDrain(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "node")
	if err != nil {
		return err
	}
	remote, err := s.remoteNode(q)
	if err != nil {
		return err
	}
	if remote != "" {
		st, ok, cordoned, err := s.verbs.NodeDrainStatus(r.Context(), remote)
		if err != nil {
			return err
		}
		if !ok {
			return errorf(http.StatusNotFound, apitype.CodeNotFound, "node %s has not drained since it started", remote)
		}
		s.writeJSON(w, r, http.StatusOK, drainStatus(st, cordoned))
		return nil
	}
	n, err := s.node()
	if err != nil {
		return err
	}
	st, ok := n.DrainStatus()
	if !ok {
		return errorf(http.StatusNotFound, apitype.CodeNotFound, "this node has not drained since it started")
	}
	s.writeJSON(w, r, http.StatusOK, drainStatus(st, n.Cordoned()))
	return nil
}

func drainStatus(st session.DrainStatus, cordoned bool) apitype.Drain {
	out := apitype.Drain{
		Running: st.Running, Cordoned: cordoned, Selector: st.Selector, Code: st.Code, Reason: st.Reason,
		OverSeconds: st.Over.Seconds(), StartedAt: st.StartedAt, Total: st.Total, Closed: st.Closed,
		Remaining: st.Remaining, ETASeconds: st.ETA.Seconds(), Error: st.Error,
	}
	if !st.FinishedAt.IsZero() {
		t := st.FinishedAt
		out.FinishedAt = &t
	}
	return out
}

// DefaultTraceFor is how long POST /v1/connections/{id}/trace traces a
// connection when the call does not say.
const DefaultTraceFor = 5 * time.Minute

// maxTraceFor bounds it.
const maxTraceFor = time.Hour

// POST /v1/connections/{id}/trace {"for":"5m"}
func (s *Server) traceConnection(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	n, err := s.node()
	if err != nil && s.verbs == nil {
		return err
	}
	var req apitype.TraceRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	span := DefaultTraceFor
	if req.For != "" {
		span, err = time.ParseDuration(req.For)
		if err != nil || span < time.Second || span > maxTraceFor {
			return errorf(http.StatusBadRequest, apitype.CodeBadRequest, "for: want a duration between 1s and %v, like \"5m\"", maxTraceFor)
		}
	}
	id := chi.URLParam(r, "id")
	var arm session.TraceArm
	if s.verbs != nil {
		arm, err = s.verbs.FleetTraceConnection(r.Context(), id, span) // on the node the id names
	} else {
		arm, err = n.TraceConnection(id, span)
	}
	s.audit(r, session.AuditEntry{Action: apitype.ActionTrace, Target: id, Matched: 1, Affected: boolInt(err == nil)},
		map[string]any{"for": span.String()}, err)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, s.traceArm(id, arm))
	return nil
}

func (s *Server) traceArm(id string, arm session.TraceArm) *apitype.TraceArm {
	out := &apitype.TraceArm{ID: id, TraceID: arm.TraceID, Until: arm.Until}
	if s.cfg.TraceURL != "" && arm.TraceID != "" {
		out.TraceURL = strings.ReplaceAll(s.cfg.TraceURL, "{trace_id}", arm.TraceID)
	}
	return out
}
