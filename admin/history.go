package admin

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/session"
)

// GET /v1/sessions?since=&until=&user=&route=&close_code=&closed_by=&selector=&remote=&limit=&before=
func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "since", "until", "user", "route", "close_code", "closed_by", "selector", "remote", "limit", "before")
	if err != nil {
		return err
	}
	now := s.now()
	f := session.Filter{User: q.Get("user"), Route: q.Get("route"), RemoteAddr: q.Get("remote"), Before: q.Get("before")}
	if f.Selector, err = session.ParseSelector(q.Get("selector")); err != nil {
		// The message states the grammar.
		return &Error{Status: http.StatusBadRequest, Code: apitype.CodeInvalidSelector, Message: err.Error()}
	}
	if f.Since, err = timeParam(q, "since", now); err != nil {
		return err
	}
	if f.Until, err = timeParam(q, "until", now); err != nil {
		return err
	}
	if f.CloseCode, err = intParam(q, "close_code", 0, 1000, 4999); err != nil {
		return err
	}
	if f.Limit, err = intParam(q, "limit", session.DefaultLimit, 1, session.MaxLimit); err != nil {
		return err
	}
	if cb := q.Get("closed_by"); cb != "" {
		f.ClosedBy = session.ClosedBy(cb)
		if !f.ClosedBy.Valid() {
			return errorf(http.StatusBadRequest, apitype.CodeBadRequest, "closed_by=%q: want one of %v", cb, session.AllClosedBy())
		}
	}
	var page session.Page
	var fleet apitype.Fleet
	if s.fleetHist != nil {
		page, fleet, err = s.fleetHist.FleetSessions(r.Context(), f)
	} else {
		page, err = s.hist.ListSessions(r.Context(), f)
	}
	if err != nil {
		return err
	}
	out := apitype.SessionList{Sessions: make([]apitype.Session, len(page.Sessions)), Next: page.Next, Fleet: fleet}
	for i, ss := range page.Sessions {
		out.Sessions[i] = s.session(ss)
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// GET /v1/sessions/{id}
func (s *Server) getSession(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	ss, err := s.hist.GetSession(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, s.session(ss))
	return nil
}

// session is ss on the wire, with the live counters of its connection
// when the session is open and the connection is on this node: history
// holds a session's counters only from its end.
func (s *Server) session(ss session.Record) apitype.Session {
	out := sessionRecord(ss)
	if ss.Closed() {
		return out
	}
	// A miss is normal: the connection is on another node, or it has just
	// ended and history does not have its close yet.
	if c, err := s.localConnection(ss.ID); err == nil {
		out = withLive(out, c)
	}
	return out
}

// GET /v1/audit?since=&until=&limit=&before=
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "since", "until", "limit", "before")
	if err != nil {
		return err
	}
	now := s.now()
	var f session.AuditFilter
	if f.Since, err = timeParam(q, "since", now); err != nil {
		return err
	}
	if f.Until, err = timeParam(q, "until", now); err != nil {
		return err
	}
	if f.Limit, err = intParam(q, "limit", session.DefaultLimit, 1, session.MaxLimit); err != nil {
		return err
	}
	if s.fleetHist != nil {
		entries, nodes, next, fleet, err := s.fleetHist.FleetAudit(r.Context(), f, q.Get("before"))
		if err != nil {
			return err
		}
		out := apitype.AuditList{Entries: make([]apitype.AuditEntry, len(entries)), Next: next, Fleet: fleet}
		for i, e := range entries {
			out.Entries[i] = auditEntry(e)
			out.Entries[i].Node = nodes[i]
		}
		s.writeJSON(w, r, http.StatusOK, out)
		return nil
	}
	if b := q.Get("before"); b != "" {
		if f.BeforeID, err = strconv.ParseInt(b, 10, 64); err != nil || f.BeforeID <= 0 {
			return errorf(http.StatusBadRequest, apitype.CodeBadRequest, "before=%q: want the next cursor of a previous page", b)
		}
	}
	entries, err := s.hist.ListAudit(r.Context(), f)
	if err != nil {
		return err
	}
	out := apitype.AuditList{Entries: make([]apitype.AuditEntry, len(entries))}
	for i, e := range entries {
		out.Entries[i] = auditEntry(e)
	}
	if len(entries) == f.Limit {
		out.Next = strconv.FormatInt(entries[len(entries)-1].ID, 10)
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}
