package main

import (
	"github.com/wsd-dev/wsd/daemon"
	"github.com/wsd-dev/wsd/session"
	"github.com/wsd-dev/wsd/store"
)

// storeRecorder hands the daemon's records to the store as package
// session's. It goes once the daemon emits session.Open and session.Close
// itself: *store.Store is then the daemon's Recorder as it is.
type storeRecorder struct{ s *store.Store }

func (r storeRecorder) RecordOpen(o daemon.SessionOpen) {
	r.s.RecordOpen(session.Open{
		ID:          o.ID,
		Route:       o.Route,
		RemoteAddr:  o.RemoteAddr,
		User:        o.User,
		Labels:      o.Labels,
		Origin:      o.Origin,
		UserAgent:   o.UserAgent,
		Subprotocol: o.Subprotocol,
		Extensions:  o.Extensions,
		ConnectedAt: o.ConnectedAt,
	})
}

func (r storeRecorder) RecordClose(c daemon.SessionClose) {
	r.s.RecordClose(session.Close{
		ID:          c.ID,
		ClosedAt:    c.ClosedAt,
		CloseCode:   c.CloseCode,
		CloseReason: c.CloseReason,
		ClosedBy:    session.ClosedBy(c.ClosedBy),
		Error:       c.Error,
		MessagesIn:  c.MessagesIn,
		MessagesOut: c.MessagesOut,
		BytesIn:     c.BytesIn,
		BytesOut:    c.BytesOut,
	})
}
