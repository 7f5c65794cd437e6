package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
)

// GET /v1/events: Server-Sent Events, one per connect and close, as they
// happen (Tailscale's WatchIPNBus model: a synchronous, context-bounded
// watch that writes and flushes each item).
//
// Every stream reads the server's journal of recent events, each with an
// SSE id; a client that reconnects with Last-Event-ID (as EventSource does
// by itself) gets the events it missed while the journal still holds them.
// A stream that falls behind the journal, or resumes too late, is told how
// many events it lost ("missed" on the next event). A comment line goes out
// every HeartbeatInterval. A client that does not read for
// EventWriteTimeout is dropped; every stream is renewed after
// EventStreamMaxAge (an "end" event of reason "reconnect": the client
// comes back with Last-Event-ID), so that one that never reads cannot hold
// a slot for ever on a quiet server. On Shutdown the stream ends with an
// "end" event.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	if n := s.subscribers.Add(1); int(n) > s.cfg.MaxEventSubscribers {
		s.subscribers.Add(-1)
		return errorf(http.StatusTooManyRequests, apitype.CodeRateLimited, "too many event streams (at most %d)", s.cfg.MaxEventSubscribers)
	}
	defer s.subscribers.Add(-1)
	if err := s.journal.start(s.life, s.hub, s.cfg.EventBuffer); err != nil {
		return errorf(http.StatusServiceUnavailable, apitype.CodeUnavailable, "event stream unavailable: %v", err)
	}
	cursor := s.journal.head()
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		cursor, _ = s.journal.resume(last)
	}

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)

	write := func(chunk []byte) error {
		if err := rc.SetWriteDeadline(s.now().Add(s.cfg.EventWriteTimeout)); err != nil {
			return err
		}
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		return rc.Flush()
	}
	// The first comment tells the client that every event from now on
	// reaches it, and that /v1/stats counts its stream: attached is
	// counted before the comment goes out, so that a client that asks
	// right after never finds itself missing.
	s.attached.Add(1)
	defer s.attached.Add(-1)
	if err := write([]byte(": subscribed\n\n")); err != nil {
		return nil // the client is gone; nothing can be answered
	}

	t := time.NewTicker(s.cfg.HeartbeatInterval)
	defer t.Stop()
	age := time.NewTimer(s.cfg.EventStreamMaxAge)
	defer age.Stop()
	var (
		writeErr error
		lost     uint64 // events this stream lost, told with the next one
	)
	for writeErr == nil {
		evs, last, gap, changed, ended := s.journal.since(cursor, 256)
		lost += gap
		for i, ev := range evs {
			ev.Missed += lost
			lost = 0
			if writeErr = write(sseEvent(event(ev), s.journal.id(last-uint64(len(evs)-1-i)))); writeErr != nil {
				break
			}
		}
		cursor = last
		if writeErr != nil || len(evs) > 0 {
			continue // more may be waiting
		}
		if ended {
			break
		}
		select {
		case <-changed:
		case <-t.C:
			writeErr = write([]byte(": keepalive\n\n"))
		case <-r.Context().Done():
			writeErr = r.Context().Err()
		case <-s.life.Done():
			writeErr = errShutdown
		case <-age.C:
			writeErr = errRenew
		}
	}
	if errors.Is(writeErr, errRenew) {
		if err := write(sseEvent(apitype.Event{Type: apitype.EventEnd, At: s.now().UTC(), Reason: apitype.EndReconnect}, "")); err != nil {
			s.log.Debug("admin: event stream renewal", "err", err)
		}
		return nil
	}
	if errors.Is(writeErr, errShutdown) || writeErr == nil && s.life.Err() != nil {
		if err := write(sseEvent(apitype.Event{Type: apitype.EventEnd, At: s.now().UTC(), Reason: "shutdown"}, "")); err != nil {
			s.log.Debug("admin: event stream end", "err", err)
		}
		return nil
	}
	if writeErr != nil && r.Context().Err() == nil {
		s.log.Debug("admin: event stream ended", "subject", subject(r.Context()), "err", writeErr)
	}
	return nil
}

// errShutdown ends the event streams on Shutdown; errRenew ends one at
// EventStreamMaxAge.
var (
	errShutdown = errors.New("admin API shutting down")
	errRenew    = errors.New("event stream renewed")
)

// sseEvent frames one event with its id ("" for none). JSON has no raw
// newlines, so it fits one data line.
func sseEvent(ev apitype.Event, id string) []byte {
	b, err := json.Marshal(ev)
	if err != nil { // cannot happen: the type marshals
		b = []byte(`{}`)
	}
	if id == "" {
		return fmt.Appendf(nil, "event: %s\ndata: %s\n\n", ev.Type, b)
	}
	return fmt.Appendf(nil, "id: %s\nevent: %s\ndata: %s\n\n", id, ev.Type, b)
}
