package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/session"
)

// GET /v1/events: Server-Sent Events, one per connect and close, as they
// happen (Tailscale's WatchIPNBus model: a synchronous, context-bounded
// watch that writes and flushes each item).
//
// Each subscriber has a bounded buffer in the daemon; a subscriber that
// falls behind loses events and the next one it gets says how many
// ("missed"). A comment line goes out every HeartbeatInterval. A client that
// does not read for EventWriteTimeout is dropped. On Shutdown the stream
// ends with an "end" event.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	if n := s.subscribers.Add(1); int(n) > s.cfg.MaxEventSubscribers {
		s.subscribers.Add(-1)
		return errorf(http.StatusTooManyRequests, apitype.CodeRateLimited, "too many event streams (at most %d)", s.cfg.MaxEventSubscribers)
	}
	defer s.subscribers.Add(-1)

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stopLife := context.AfterFunc(s.life, cancel)
	defer stopLife()

	var mu sync.Mutex // one writer at a time: the watcher or the heartbeat
	write := func(chunk []byte) error {
		mu.Lock()
		defer mu.Unlock()
		if err := rc.SetWriteDeadline(s.now().Add(s.cfg.EventWriteTimeout)); err != nil {
			return err
		}
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := rc.Flush(); err != nil {
		return nil // the client is gone; nothing can be answered
	}

	var writeErr error // set by the watcher before it returns
	done := make(chan struct{})
	go func() {
		defer close(done)
		subscribed := func() {
			// The first comment tells the client that every event from
			// now on reaches it.
			if werr := write([]byte(": subscribed\n\n")); werr != nil {
				writeErr = werr
				cancel()
			}
		}
		err := s.hub.WatchSubscribed(ctx, s.cfg.EventBuffer, subscribed, func(ev session.Event) bool {
			if werr := write(sseEvent(event(ev))); werr != nil {
				writeErr = werr
				return false
			}
			return true
		})
		if err != nil && ctx.Err() == nil {
			writeErr = err
		}
		cancel()
	}()

	t := time.NewTicker(s.cfg.HeartbeatInterval)
	defer t.Stop()
loop:
	for {
		select {
		case <-t.C:
			if err := write([]byte(": keepalive\n\n")); err != nil {
				cancel()
				break loop
			}
		case <-ctx.Done():
			break loop
		}
	}
	<-done
	if s.life.Err() != nil && r.Context().Err() == nil && writeErr == nil {
		if err := write(sseEvent(apitype.Event{Type: apitype.EventEnd, At: s.now().UTC(), Reason: "shutdown"})); err != nil {
			s.log.Debug("admin: event stream end", "err", err)
		}
	}
	if writeErr != nil {
		s.log.Debug("admin: event stream ended", "subject", subject(r.Context()), "err", writeErr)
	}
	return nil
}

// sseEvent frames one event. JSON has no raw newlines, so it fits one data
// line.
func sseEvent(ev apitype.Event) []byte {
	b, err := json.Marshal(ev)
	if err != nil { // cannot happen: the type marshals
		b = []byte(`{}`)
	}
	return fmt.Appendf(nil, "event: %s\ndata: %s\n\n", ev.Type, b)
}
