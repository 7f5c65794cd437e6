package admin

import (
	"bufio"
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
		if err := w.Conn.CloseNow(); err != nil {
			t.Fatal(err)
		}
	}
	close(block)
	if err := <-done; err == nil || err.Error() != "stop" {
		t.Fatalf("watch: %v", err)
	}
}

// sseStream reads raw SSE frames: id, event and data of each.
type sseFrame struct{ id, event, data string }

func openSSE(t *testing.T, e *testEnv, lastID string) (<-chan sseFrame, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.ts.URL+"/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token(apitype.ScopeConnectionsRead))
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	frames := make(chan sseFrame, 64)
	subscribed := make(chan struct{})
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var f sseFrame
		seen := false
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if f.event != "" {
					frames <- f
				}
				f = sseFrame{}
			case strings.HasPrefix(line, ":"):
				if !seen {
					seen = true
					close(subscribed)
				}
			default:
				k, v, _ := strings.Cut(line, ": ")
				switch k {
				case "id":
					f.id = v
				case "event":
					f.event = v
				case "data":
					f.data = v
				}
			}
		}
	}()
	select {
	case <-subscribed:
	case <-time.After(5 * time.Second):
		t.Fatal("not subscribed")
	}
	return frames, cancel
}

func nextFrame(t *testing.T, frames <-chan sseFrame) sseFrame {
	t.Helper()
	select {
	case f := <-frames:
		return f
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	panic("unreachable")
}

// TestEventsResume: events carry ids; a client reconnecting with
// Last-Event-ID gets the events it missed, in order, then live ones; an id
// it cannot know (another process's) starts from now (issue 21).
func TestEventsResume(t *testing.T) {
	e := newEnv(t, envOpts{})
	frames, stop := openSSE(t, e, "")
	e.dial("/?name=a")
	first := nextFrame(t, frames)
	if first.event != "connect" || first.id == "" || !strings.Contains(first.data, e.idOf("a")) {
		t.Fatalf("first event %+v", first)
	}
	stop()
	// While the client is away: two more connects.
	e.dial("/?name=b")
	e.dial("/?name=c")
	e.idOf("b") // listed: its connect event is out
	e.idOf("c")
	frames, stop = openSSE(t, e, first.id)
	defer stop()
	for _, name := range []string{"b", "c"} {
		f := nextFrame(t, frames)
		if f.event != "connect" || !strings.Contains(f.data, e.idOf(name)) || f.id <= first.id {
			t.Fatalf("replayed %s: %+v (after %s)", name, f, first.id)
		}
	}
	e.dial("/?name=d")
	if f := nextFrame(t, frames); !strings.Contains(f.data, e.idOf("d")) {
		t.Fatalf("live after replay: %+v", f)
	}

	// An id from elsewhere: from now on, nothing replayed.
	other, stopOther := openSSE(t, e, "someoneelse-1")
	defer stopOther()
	e.dial("/?name=f")
	if f := nextFrame(t, other); !strings.Contains(f.data, e.idOf("f")) {
		t.Fatalf("unknown Last-Event-ID replayed %+v", f)
	}
}

// TestEventStreamRenewed: a stream is renewed at EventStreamMaxAge, which
// frees the slot of a client that never reads (issue 19 #8); client.Watch
// reconnects with Last-Event-ID and misses nothing across renewals.
func TestEventStreamRenewed(t *testing.T) {
	e := newEnv(t, envOpts{cfg: Config{EventStreamMaxAge: 150 * time.Millisecond, MaxEventSubscribers: 2}})
	// A stream's slot comes back at its maximum age, whether its client
	// reads or not.
	_, stop := openSSE(t, e, "")
	deadline := time.Now().Add(5 * time.Second)
	for e.srv.subscribers.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams still held after the max age", e.srv.subscribers.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()

	// client.Watch goes on across renewals and sees every connect.
	events, _ := watch(t, e.client())
	for i := range 4 {
		name := "r" + string(rune('a'+i))
		e.dial("/?name=" + name)
		id := e.idOf(name)
		if ev := nextEvent(t, events); ev.Type != apitype.EventConnect || ev.Connection.ID != id {
			t.Fatalf("event %d: %+v, want the connect of %s", i, ev, name)
		}
		time.Sleep(100 * time.Millisecond) // spans renewals on purpose
	}
}
