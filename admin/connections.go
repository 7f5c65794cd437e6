package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/session"
)

// GET /v1/connections?selector=&limit=&after=
func (s *Server) listConnections(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "selector", "limit", "after")
	if err != nil {
		return err
	}
	sel, err := session.ParseSelector(q.Get("selector"))
	if err != nil {
		return err
	}
	limit, err := intParam(q, "limit", defaultLimit, 1, maxLimit)
	if err != nil {
		return err
	}
	var conns []session.Conn
	var next string
	var fleet apitype.Fleet
	if s.fleet != nil {
		conns, next, fleet, err = s.fleet.FleetConnections(sel, q.Get("after"), limit)
	} else {
		conns, next, err = s.hub.Connections(sel, q.Get("after"), limit)
	}
	if errors.Is(err, session.ErrInvalidID) {
		return errorf(http.StatusBadRequest, apitype.CodeBadRequest, "after=%q is not a connection id", q.Get("after"))
	}
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, apitype.ConnectionList{Connections: connections(conns), Next: next, Fleet: fleet})
	return nil
}

// GET /v1/connections/{id}
func (s *Server) getConnection(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	c, err := s.hub.Connection(chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	out := connection(c)
	if s.verbs != nil && c.Node != "" && c.Node != s.self() {
		arm, ok, err := s.verbs.FleetConnectionTrace(r.Context(), c.ID)
		if err != nil {
			s.log.Debug("admin: a connection's tracing on its node", "id", c.ID, "node", c.Node, "err", err)
		} else if ok {
			out.Trace = s.traceArm("", arm)
		}
	} else if s.local != nil {
		if arm, ok := s.local.ConnectionTrace(c.ID); ok {
			out.Trace = s.traceArm("", arm)
		}
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// POST /v1/connections/{id}/messages {"text":..} | {"binary":..}
func (s *Server) sendMessage(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	id := chi.URLParam(r, "id")
	var m apitype.Message
	if err := s.decodeJSON(w, r, &m); err != nil {
		return err
	}
	typ, p, err := message(m.Text, m.Binary)
	if err != nil {
		return err
	}
	err = s.hub.SendContext(r.Context(), id, typ, p) // traced: linked to this request
	s.audit(r, session.AuditEntry{Action: apitype.ActionSend, Target: id, Matched: 1, Affected: boolInt(err == nil)},
		map[string]any{"type": typ.String(), "bytes": len(p)}, err)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusAccepted, apitype.SendResult{ID: id, Queued: true, Bytes: len(p)})
	return nil
}

// DELETE /v1/connections/{id}?code=&reason=
//
// It answers 200 once the connection has closed and its session is
// recorded, or 202 if the closing handshake still runs after CloseWait.
func (s *Server) closeConnection(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "code", "reason")
	if err != nil {
		return err
	}
	code, err := intParam(q, "code", 1000, 1000, 4999)
	if err != nil {
		return err
	}
	reason := q.Get("reason")
	if err := checkClose(code, reason); err != nil {
		return err
	}
	id := chi.URLParam(r, "id")
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.CloseWait)
	defer cancel()
	err = s.hub.Close(ctx, id, code, reason)
	status := http.StatusOK
	if errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil {
		status, err = http.StatusAccepted, nil
	}
	s.audit(r, session.AuditEntry{Action: apitype.ActionClose, Target: id, Matched: 1, Affected: boolInt(err == nil)},
		map[string]any{"code": code, "reason": reason}, err)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, status, apitype.CloseResult{ID: id, Code: code, Reason: reason})
	return nil
}

// audit records a mutating call with the token's subject; result is "ok"
// or the error code of the answer.
func (s *Server) audit(r *http.Request, a session.AuditEntry, params map[string]any, err error) {
	a.Subject = subject(r.Context())
	a.At = s.now()
	a.Result = apitype.ResultOK
	if err != nil {
		a.Result = apiError(err).Code
	}
	if params != nil {
		b, jerr := json.Marshal(params)
		if jerr != nil {
			s.log.Error("admin: encode audit parameters", "action", a.Action, "err", jerr)
		} else {
			a.Parameters = b
		}
	}
	s.hist.RecordAudit(a)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
