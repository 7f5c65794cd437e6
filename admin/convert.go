package admin

import (
	"encoding/json"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/session"
)

// The only place daemon and session values become wire types.

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func connection(c session.Conn) apitype.Connection {
	out := apitype.Connection{
		ID:              c.ID,
		Route:           c.Route,
		RemoteAddr:      c.RemoteAddr,
		User:            c.User,
		Labels:          c.Labels,
		Origin:          c.Origin,
		UserAgent:       c.UserAgent,
		Subprotocol:     c.Subprotocol,
		Extensions:      c.Extensions,
		ConnectedAt:     c.ConnectedAt.UTC(),
		Node:            c.Node,
		LastActivityAt:  timePtr(c.LastActivityAt),
		MessagesIn:      c.MessagesIn,
		MessagesOut:     c.MessagesOut,
		BytesIn:         c.BytesIn,
		BytesOut:        c.BytesOut,
		SendQueueBytes:  c.SendQueueBytes,
		OldestQueuedMS:  c.OldestQueuedMS,
		TokenExpiresAt:  timePtr(c.TokenExpiresAt),
		WebhookInFlight: c.WebhookInFlight,
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if c.RTT > 0 {
		ms := float64(c.RTT) / float64(time.Millisecond)
		out.RTTMS = &ms
	}
	return out
}

func connections(cs []session.Conn) []apitype.Connection {
	out := make([]apitype.Connection, len(cs))
	for i, c := range cs {
		out[i] = connection(c)
	}
	return out
}

func sessionRecord(s session.Record) apitype.Session {
	out := apitype.Session{
		ID:          s.ID,
		Route:       s.Route,
		RemoteAddr:  s.RemoteAddr,
		User:        s.User,
		Labels:      s.Labels,
		Origin:      s.Origin,
		UserAgent:   s.UserAgent,
		Subprotocol: s.Subprotocol,
		Extensions:  s.Extensions,
		ConnectedAt: s.ConnectedAt.UTC(),
		ClosedAt:    timePtr(s.ClosedAt),
		CloseCode:   s.CloseCode,
		CloseReason: s.CloseReason,
		ClosedBy:    string(s.ClosedBy),
		Error:       s.Error,
		MessagesIn:  s.MessagesIn,
		MessagesOut: s.MessagesOut,
		BytesIn:     s.BytesIn,
		BytesOut:    s.BytesOut,
		Node:        s.Node,
		TraceID:     s.TraceID,
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if len(s.BlackBox) > 0 {
		out.BlackBox = make([]apitype.Frame, len(s.BlackBox))
		for i, f := range s.BlackBox {
			out.BlackBox[i] = frame(f)
		}
	}
	return out
}

func frame(f session.Frame) apitype.Frame {
	out := apitype.Frame{At: f.At.UTC(), Direction: apitype.DirectionOut, Opcode: f.OpcodeName(),
		Fin: f.Fin, RSV: f.RSV, Length: f.Len}
	if f.In {
		out.Direction = apitype.DirectionIn
	}
	return out
}

// withLive gives an open session the counters of its live connection c.
func withLive(s apitype.Session, c session.Conn) apitype.Session {
	s.MessagesIn, s.MessagesOut, s.BytesIn, s.BytesOut = c.MessagesIn, c.MessagesOut, c.BytesIn, c.BytesOut
	s.Live = true
	return s
}

func event(e session.Event) apitype.Event {
	c := connection(e.Conn)
	out := apitype.Event{Type: string(e.Type), At: e.At.UTC(), Connection: &c, Missed: e.Missed}
	if e.Close != nil {
		out.Close = &apitype.CloseInfo{
			Code:        e.Close.CloseCode,
			Reason:      e.Close.CloseReason,
			ClosedBy:    string(e.Close.ClosedBy),
			Error:       e.Close.Error,
			MessagesIn:  e.Close.MessagesIn,
			MessagesOut: e.Close.MessagesOut,
			BytesIn:     e.Close.BytesIn,
			BytesOut:    e.Close.BytesOut,
		}
	}
	return out
}

func auditEntry(a session.AuditEntry) apitype.AuditEntry {
	out := apitype.AuditEntry{
		ID:       a.ID,
		At:       a.At.UTC(),
		Subject:  a.Subject,
		Action:   a.Action,
		Target:   a.Target,
		Matched:  a.Matched,
		Affected: a.Affected,
		Result:   a.Result,
	}
	if len(a.Parameters) > 0 {
		if err := json.Unmarshal(a.Parameters, &out.Parameters); err != nil {
			out.Parameters = map[string]any{"value": string(a.Parameters)}
		}
	}
	if out.Parameters == nil {
		out.Parameters = map[string]any{}
	}
	return out
}

func history(h session.Health) apitype.History {
	out := apitype.History{
		Status:      "ok",
		Degraded:    h.Degraded,
		LastError:   h.LastError,
		LastErrorAt: timePtr(h.LastErrorAt),
		Queued:      h.Queued,
		Dropped:     h.Dropped,
		Written:     h.Written,
		LastCommit:  timePtr(h.LastCommit),
		WALBytes:    h.WALBytes,
	}
	if h.Degraded {
		out.Status = "degraded"
	}
	return out
}
