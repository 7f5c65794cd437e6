package admin

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/session"
)

// whyAuditPages bounds the audit pages GET /v1/sessions/{id}/why reads
// looking for the calls that targeted the session (each session.MaxLimit
// entries, from the session's start on).
const whyAuditPages = 5

// GET /v1/sessions/{id}/why
func (s *Server) why(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	id := chi.URLParam(r, "id")
	out := apitype.Why{ID: id, Actions: []apitype.AuditEntry{}}
	rec, err := s.hist.GetSession(r.Context(), id)
	hasRec := err == nil
	if err != nil && !errors.Is(err, session.ErrNotFound) {
		return err
	}
	var live *session.Conn
	if !hasRec || !rec.Closed() {
		c, err := s.hub.Connection(id) // in a fleet, asked of the node the id names
		if err == nil {
			live = &c
		} else if !hasRec && !errors.Is(err, session.ErrConnNotFound) && !errors.Is(err, session.ErrInvalidID) {
			return err // its node does not answer
		}
	}
	if !hasRec && live == nil {
		return errorf(http.StatusNotFound, apitype.CodeNotFound, "no session or live connection has this id")
	}
	since := time.Time{}
	if hasRec {
		ss := s.session(rec)
		out.Session = &ss
		out.TraceID = rec.TraceID
		since = rec.ConnectedAt
	}
	if live != nil {
		c := connection(*live)
		out.Live, out.Connection = true, &c
		since = live.ConnectedAt
	}
	if hasRec && rec.Closed() {
		out.ClosedAt = timePtr(rec.ClosedAt)
		out.CloseCode, out.CloseReason, out.ClosedBy, out.Error = rec.CloseCode, rec.CloseReason, string(rec.ClosedBy), rec.Error
		out.Meaning = rec.ClosedBy.Meaning()
		for _, l := range s.limits(r, rec) {
			out.Limits = append(out.Limits, apitype.Limit{Name: l.Name, Value: l.Value})
		}
		for _, f := range rec.BlackBox {
			out.BlackBox = append(out.BlackBox, frame(f))
		}
	}
	if out.TraceID != "" && s.cfg.TraceURL != "" {
		out.TraceURL = strings.ReplaceAll(s.cfg.TraceURL, "{trace_id}", out.TraceID)
	}
	if out.Actions, err = s.actionsOn(r, id, since); err != nil {
		return err
	}
	out.Summary = whySummary(out, s.now())
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// limits names the configured limits that ended rec's session, as the
// node that recorded it configures them (this node's when that node is
// not reachable).
func (s *Server) limits(r *http.Request, rec session.Record) []session.Limit {
	if s.verbs != nil && rec.Node != "" && rec.Node != s.self() {
		l, err := s.verbs.NodeLimits(r.Context(), rec.Node, rec.ClosedBy, rec.CloseCode, rec.Error)
		if err == nil {
			return l
		}
		s.log.Debug("admin: a session's limits on its node; this node's instead", "node", rec.Node, "err", err)
	}
	if s.local == nil {
		return nil
	}
	return s.local.Limits(rec.ClosedBy, rec.CloseCode, rec.Error)
}

// actionsOn returns the audit entries whose target is id, from since on,
// oldest first.
func (s *Server) actionsOn(r *http.Request, id string, since time.Time) ([]apitype.AuditEntry, error) {
	out := []apitype.AuditEntry{}
	f := session.AuditFilter{Since: since, Limit: session.MaxLimit}
	for range whyAuditPages {
		entries, err := s.hist.ListAudit(r.Context(), f)
		if err != nil {
			return nil, err
		}
		for _, a := range entries {
			if a.Target == id {
				out = append(out, auditEntry(a))
			}
		}
		if len(entries) < session.MaxLimit {
			break
		}
		f.BeforeID = entries[len(entries)-1].ID
	}
	slices.Reverse(out)
	return out, nil
}

// whySummary says in words what w holds.
func whySummary(w apitype.Why, now time.Time) string {
	var b strings.Builder
	if w.Live {
		c := w.Connection
		fmt.Fprintf(&b, "Live: connected %s ago", shortDur(now.Sub(c.ConnectedAt)))
		if c.LastActivityAt != nil {
			fmt.Fprintf(&b, ", last message %s ago", shortDur(now.Sub(*c.LastActivityAt)))
		} else {
			b.WriteString(", no message received yet")
		}
		fmt.Fprintf(&b, ", %d bytes queued", c.SendQueueBytes)
		if c.RTTMS != nil {
			fmt.Fprintf(&b, ", round trip %.1f ms", *c.RTTMS)
		}
		b.WriteString(".")
	} else if w.ClosedBy == "" {
		b.WriteString("Open in history, but not live on this node (on another node, or its end is not recorded yet).")
	} else {
		fmt.Fprintf(&b, "Closed with %d", w.CloseCode)
		if w.CloseReason != "" {
			fmt.Fprintf(&b, " %q", w.CloseReason)
		}
		fmt.Fprintf(&b, " (closed_by %s): %s.", w.ClosedBy, w.Meaning)
		if len(w.Limits) > 0 {
			parts := make([]string, len(w.Limits))
			for i, l := range w.Limits {
				parts[i] = "--" + l.Name + " " + l.Value
			}
			fmt.Fprintf(&b, " Configured: %s.", strings.Join(parts, ", "))
		}
		if w.Error != "" {
			fmt.Fprintf(&b, " Error: %s.", w.Error)
		}
	}
	for _, a := range w.Actions {
		if a.Action == apitype.ActionClose && a.Result == apitype.ResultOK {
			fmt.Fprintf(&b, " %s closed it through the admin API at %s.", orUnknown(a.Subject), a.At.UTC().Format(time.RFC3339))
		}
	}
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown subject"
	}
	return s
}

func shortDur(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}
