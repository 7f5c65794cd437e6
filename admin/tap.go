package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/token"
	"github.com/wsd-dev/wsd/session"
)

// tapBuffer is how many events a tap holds for a slow reader before it
// drops (and counts) the next ones.
const tapBuffer = 1024

// GET /v1/tap?id=ID | ?selector=SEL [&payload=1]: the messages of one
// connection, or of the matching ones on this node, as they are received
// and sent, one JSON object a line (apitype.TapEvent): metadata, and with
// payload=1 (scope connections:tap) a preview of the payload. The stream
// never slows a connection: what the reader does not keep up with is
// dropped and counted. Comment-free blank lines keep it alive; it ends like
// /v1/events (shutdown, EventStreamMaxAge, a reader that stops reading).
func (s *Server) tap(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "id", "selector", "payload")
	if err != nil {
		return err
	}
	n, err := s.node()
	if err != nil && s.verbs == nil {
		return err
	}
	id, selText := q.Get("id"), q.Get("selector")
	if (id == "") == (selText == "") {
		return errorf(http.StatusBadRequest, apitype.CodeBadRequest, "give id or selector (all: every connection), not both")
	}
	sel, err := session.ParseSelector(selText)
	if err != nil {
		return err
	}
	if id != "" && s.verbs == nil {
		if _, err := s.localConnection(id); err != nil {
			return err
		}
	}
	preview := 0
	switch q.Get("payload") {
	case "", "0", "false":
	case "1", "true":
		c, _ := r.Context().Value(claimsKey{}).(*token.Claims)
		if c == nil || !hasScope(c, apitype.ScopeConnectionsTap) {
			return errorf(http.StatusForbidden, apitype.CodeForbidden, "payload previews need scope %s", apitype.ScopeConnectionsTap)
		}
		preview = apitype.MaxTapPreview
	default:
		return errorf(http.StatusBadRequest, apitype.CodeBadRequest, "payload: want 1 or 0")
	}
	if k := s.subscribers.Add(1); int(k) > s.cfg.MaxEventSubscribers {
		s.subscribers.Add(-1)
		return errorf(http.StatusTooManyRequests, apitype.CodeRateLimited, "too many streams (at most %d)", s.cfg.MaxEventSubscribers)
	}
	defer s.subscribers.Add(-1)

	rc := http.NewResponseController(w)
	write := func(v any) error {
		b := []byte("\n")
		if v != nil {
			var err error
			if b, err = json.Marshal(v); err != nil {
				return err
			}
			b = append(b, '\n')
		}
		if err := rc.SetWriteDeadline(s.now().Add(s.cfg.EventWriteTimeout)); err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}

	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.EventStreamMaxAge)
	defer cancel()
	stop := context.AfterFunc(s.life, cancel)
	defer stop()
	evs := make(chan apitype.TapEvent, 1)
	subscribed := make(chan struct{})
	var fleet apitype.Fleet // set before subscribed is closed
	tapDone := make(chan error, 1)
	deliver := func(ev session.TapEvent, dropped uint64) bool {
		e := apitype.TapEvent{Type: apitype.TapMessage, At: ev.At, ID: ev.ConnID, Direction: apitype.DirectionOut,
			Message: ev.Type.String(), Size: ev.Size, Payload: ev.Payload, Truncated: ev.Truncated, Dropped: dropped}
		if ev.In {
			e.Direction = apitype.DirectionIn
		}
		select {
		case evs <- e:
			return true
		case <-ctx.Done():
			return false
		}
	}
	go func() { // ends with ctx (cancelled below on the way out)
		if s.verbs != nil { // the owner of id, or every node, over the bus
			tapDone <- s.verbs.FleetTap(ctx, sel, id, preview, tapBuffer, func(f apitype.Fleet) { fleet = f; close(subscribed) }, deliver)
			return
		}
		tapDone <- n.Tap(ctx, sel, id, preview, tapBuffer, func() { close(subscribed) }, deliver)
	}()
	tapEnded := false
	defer func() {
		cancel()
		if !tapEnded {
			<-tapDone
		}
	}()
	select {
	case <-subscribed:
	case err := <-tapDone: // it could not start (a fleet's tap: no such connection, or its node does not answer)
		tapEnded = true
		if err == nil || ctx.Err() != nil {
			return nil
		}
		return err
	case <-ctx.Done():
		return nil
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if write(apitype.TapEvent{Type: apitype.TapSubscribed, Fleet: fleet}) != nil {
		return nil // the reader is gone or stopped reading
	}
	t := time.NewTicker(s.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case e := <-evs:
			if write(e) != nil {
				return nil
			}
		case <-t.C:
			if write(nil) != nil {
				return nil
			}
		case <-tapDone: // every tapped node's stream ended (a fleet's tap)
			tapEnded = true
			if r.Context().Err() == nil {
				_ = write(apitype.TapEvent{Type: apitype.TapEnd}) // best effort: the stream ends anyway
			}
			return nil
		case <-ctx.Done():
			if r.Context().Err() == nil {
				_ = write(apitype.TapEvent{Type: apitype.TapEnd}) // best effort: the stream ends anyway
			}
			return nil
		}
	}
}
