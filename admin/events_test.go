package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
)

// watch runs client.Watch until the test ends and returns its events and
// its final error.
func watch(t *testing.T, c *client.Client) (<-chan apitype.Event, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan apitype.Event, 64)
	done := make(chan error, 1)
	finished := make(chan struct{})
	subscribed := make(chan struct{})
	go func() {
		defer close(finished)
		done <- c.Watch(ctx, func() { close(subscribed) }, func(ev apitype.Event) error {
			events <- ev
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-finished
	})
	select {
	case <-subscribed:
	case err := <-done:
		t.Fatalf("watch: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("not subscribed")
	}
	return events, done
}

func nextEvent(t *testing.T, events <-chan apitype.Event) apitype.Event {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	panic("unreachable")
}

func TestEvents(t *testing.T) {
	e := newEnv(t, envOpts{cfg: Config{HeartbeatInterval: 5 * time.Millisecond}})
	c := e.client(apitype.ScopeConnectionsRead, apitype.ScopeConnectionsClose)
	events, done := watch(t, c)
	if st, err := c.Stats(t.Context()); err != nil || st.EventSubscribers != 1 {
		t.Fatalf("stats: %+v %v", st, err)
	}

	e.dial("/?name=a&room=lobby")
	id := e.idOf("a")
	ev := nextEvent(t, events)
	if ev.Type != apitype.EventConnect || ev.Connection == nil || ev.Connection.ID != id || ev.Connection.Labels["room"] != "lobby" || ev.Close != nil {
		t.Fatalf("connect event %+v", ev)
	}
	if _, err := c.Close(t.Context(), id, 4000, "x"); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, events)
	if ev.Type != apitype.EventClose || ev.Connection.ID != id || ev.Close == nil ||
		ev.Close.Code != 4000 || ev.Close.Reason != "x" || ev.Close.ClosedBy != "admin" {
		t.Fatalf("close event %+v %+v", ev, ev.Close)
	}

	// Shutdown ends the stream with an end event.
	e.srv.Shutdown()
	select {
	case err := <-done:
		if !errors.Is(err, client.ErrStreamEnded) {
			t.Fatalf("watch ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stream did not end on shutdown")
	}
}

func TestEventsLimit(t *testing.T) {
	e := newEnv(t, envOpts{cfg: Config{MaxEventSubscribers: 1}})
	watch(t, e.client())
	status, body := e.do(http.MethodGet, "/v1/events", "", "", nil)
	if status != http.StatusTooManyRequests || !strings.Contains(body, `"rate_limited"`) {
		t.Fatalf("second stream: %d %s", status, body)
	}
}

// TestEventsSlowSubscriber: a subscriber that does not read loses events,
// and the connections never wait for it.
func TestEventsSlowSubscriber(t *testing.T) {
	e := newEnv(t, envOpts{cfg: Config{EventBuffer: 1, EventWriteTimeout: 100 * time.Millisecond}})
	c := e.client()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	block := make(chan struct{})
	subscribed := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- c.Watch(ctx, func() { close(subscribed) }, func(apitype.Event) error {
			<-block
			return errors.New("stop")
		})
	}()
	<-subscribed
	// Many connects and closes while the subscriber is stuck: each
	// handshake completes regardless.
	for i := range 50 {
		w := e.dial("/?name=n" + string(rune('a'+i%26)) + string(rune('a'+i/26)))
		if err := w.conn.CloseNow(); err != nil {
			t.Fatal(err)
		}
	}
	close(block)
	if err := <-done; err == nil || err.Error() != "stop" {
		t.Fatalf("watch: %v", err)
	}
}
