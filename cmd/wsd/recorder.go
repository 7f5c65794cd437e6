package main

import (
	"github.com/wsd-dev/wsd/daemon"
	"github.com/wsd-dev/wsd/store"
)

// storeRecorder adapts the store to daemon.Recorder: the daemon owns its
// record types and does not import the store.
type storeRecorder struct{ s *store.Store }

func (r storeRecorder) RecordOpen(o daemon.SessionOpen) {
	r.s.RecordOpen(store.SessionOpen{
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
	r.s.RecordClose(store.SessionClose{
		ID:          c.ID,
		ClosedAt:    c.ClosedAt,
		CloseCode:   c.CloseCode,
		CloseReason: c.CloseReason,
		ClosedBy:    store.ClosedBy(c.ClosedBy),
		Error:       c.Error,
		MessagesIn:  c.MessagesIn,
		MessagesOut: c.MessagesOut,
		BytesIn:     c.BytesIn,
		BytesOut:    c.BytesOut,
	})
}
