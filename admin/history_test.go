package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

func TestSessionsAndStats(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.client(apitype.ScopeAdmin)
	ctx := t.Context()
	for i, code := range []int{4000, 4000, 4001} {
		name := fmt.Sprintf("s%d", i)
		w := e.dial("/chat?name=" + name)
		if _, err := c.Close(ctx, e.idOf(name), code, "bye"); err != nil {
			t.Fatal(err)
		}
		w.expectClose(t, code, "bye")
	}
	e.dial("/?name=live")
	live := e.idOf("live")

	var list *apitype.SessionList
	var err error
	eventually(t, "4 sessions", func() bool {
		list, err = c.Sessions(ctx, client.SessionsQuery{})
		return err == nil && len(list.Sessions) == 4
	})
	if list.Sessions[0].ID != live || list.Sessions[0].ClosedAt != nil {
		t.Fatalf("newest first, open: %+v", list.Sessions[0])
	}
	eventually(t, "the closes recorded", func() bool {
		list, err = c.Sessions(ctx, client.SessionsQuery{CloseCode: 4000})
		return err == nil && len(list.Sessions) == 2
	})
	for _, s := range list.Sessions {
		if s.CloseCode != 4000 || s.ClosedBy != "admin" || s.Route != "/chat" {
			t.Fatalf("session %+v", s)
		}
	}
	page, err := c.Sessions(ctx, client.SessionsQuery{ClosedBy: "admin", Route: "/chat", Since: "1h", Limit: 2})
	if err != nil || len(page.Sessions) != 2 || page.Next == "" {
		t.Fatalf("page 1: %+v %v", page, err)
	}
	page, err = c.Sessions(ctx, client.SessionsQuery{ClosedBy: "admin", Route: "/chat", Since: "1h", Limit: 2, Before: page.Next})
	if err != nil || len(page.Sessions) != 1 || page.Next != "" {
		t.Fatalf("page 2: %+v %v", page, err)
	}
	if page, err = c.Sessions(ctx, client.SessionsQuery{Until: "1h"}); err != nil || len(page.Sessions) != 0 {
		t.Fatalf("until an hour ago: %+v %v", page, err)
	}
	if _, err := c.Session(ctx, "nope"); !client.IsNotFound(err) {
		t.Fatalf("unknown session: %v", err)
	}
	for _, q := range []string{"?closed_by=martians", "?close_code=12", "?since=yesterday", "?before=%%%", "?user=a&user=b"} {
		if status, body := e.do(http.MethodGet, "/v1/sessions"+q, "", "", nil); status != 400 {
			t.Errorf("%s: %d %s", q, status, body)
		}
	}

	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Connections != 1 || st.Accepted != 4 || st.Closed != 3 || st.ClosedBy["admin"] != 3 ||
		st.History.Status != "ok" || st.History.Degraded || st.ConnectionsByRoute["/"] != 1 {
		t.Fatalf("stats %+v", st)
	}
	if st.Rates.WindowSeconds <= 0 || st.Rates.ConnectsPerSecond <= 0 {
		t.Fatalf("rates %+v", st.Rates)
	}

	audit, err := c.Audit(ctx, client.AuditQuery{Limit: 2})
	if err != nil || len(audit.Entries) != 2 || audit.Next == "" {
		t.Fatalf("audit page 1: %+v %v", audit, err)
	}
	audit, err = c.Audit(ctx, client.AuditQuery{Limit: 2, Before: audit.Next, Since: "1h"})
	if err != nil || len(audit.Entries) != 1 || audit.Entries[0].Action != apitype.ActionClose {
		t.Fatalf("audit page 2: %+v %v", audit, err)
	}
}

// degraded is the store as it is while its writes fail: it says so and
// refuses history reads with ErrUnavailable (the store's own tests make a
// real one fail on a full disk).
type degraded struct{ History }

func (degraded) Health() session.Health {
	return session.Health{Degraded: true, LastError: "disk full"}
}
func (degraded) ListSessions(context.Context, session.Filter) (session.Page, error) {
	return session.Page{}, fmt.Errorf("list sessions: %w", session.ErrUnavailable)
}
func (degraded) GetSession(context.Context, string) (session.Record, error) {
	return session.Record{}, fmt.Errorf("get session: %w", session.ErrUnavailable)
}

func TestDegradedHistory(t *testing.T) {
	e := newEnv(t, envOpts{history: func(h History) History { return degraded{h} }})
	c := e.client()
	st, err := c.Stats(t.Context())
	if err != nil || !st.History.Degraded || st.History.Status != "degraded" || st.History.LastError != "disk full" {
		t.Fatalf("stats %+v %v", st, err)
	}
	status, body := e.do(http.MethodGet, "/v1/sessions", "", "", nil)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"unavailable"`) {
		t.Fatalf("sessions: %d %s", status, body)
	}
	// Live connections are unaffected.
	e.dial("/?name=a")
	if _, err := c.Connection(t.Context(), e.idOf("a")); err != nil {
		t.Fatal(err)
	}
}

// TestSessionsClosedBy accepts every closer history records, drain and
// crash included, and names them all when refusing another.
func TestSessionsClosedBy(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, by := range session.AllClosedBy() {
		if status, body := e.do(http.MethodGet, "/v1/sessions?closed_by="+string(by), "", "", nil); status != http.StatusOK {
			t.Errorf("closed_by=%s: %d %s", by, status, body)
		}
	}
	status, body := e.do(http.MethodGet, "/v1/sessions?closed_by=martians", "", "", nil)
	want := `want one of [client server admin idle_timeout slow_consumer protocol_error shutdown token_expired drain policy crash]`
	if status != http.StatusBadRequest || !strings.Contains(body, want) {
		t.Fatalf("closed_by=martians: %d %s, want 400 with %q", status, body, want)
	}
}

// TestClosedStoreUnavailable: a real store, closed, makes history answer
// 503 like a degraded one, though admin never sees the store's own error.
func TestClosedStoreUnavailable(t *testing.T) {
	e := newEnv(t, envOpts{})
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/sessions", "/v1/sessions/01JABCDEFGHJKMNPQRSTVWXYZ0", "/v1/audit"} {
		status, body := e.do(http.MethodGet, path, "", "", nil)
		if status != http.StatusServiceUnavailable || !strings.Contains(body, `"unavailable"`) {
			t.Errorf("%s: %d %s, want 503 unavailable", path, status, body)
		}
	}
}

// TestSessionsLiveCounters: an open session shows its connection's
// counters from the registry, marked live; once closed, history's.
func TestSessionsLiveCounters(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.client()
	ctx := t.Context()
	w := e.dial("/chat?name=talker")
	id := e.idOf("talker")
	for range 3 {
		if err := w.Conn.Write(ctx, protocol.TextMessage, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		w.Expect(t, "text:hello")
	}
	var got *apitype.Session
	eventually(t, "the open session with its live counters", func() bool {
		var err error
		got, err = c.Session(ctx, id)
		return err == nil && got.MessagesIn == 3
	})
	if !got.Live || got.ClosedAt != nil || got.MessagesOut != 3 || got.BytesIn != 15 || got.BytesOut != 15 {
		t.Fatalf("open session: %+v", got)
	}
	list, err := c.Sessions(ctx, client.SessionsQuery{})
	if err != nil || len(list.Sessions) != 1 || !list.Sessions[0].Live || list.Sessions[0].MessagesIn != 3 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if _, body := e.do(http.MethodGet, "/v1/sessions/"+id, "", "", nil); !strings.Contains(body, `"live":true`) {
		t.Fatalf("JSON does not say live: %s", body)
	}

	if _, err := c.Close(ctx, id, 4000, "bye"); err != nil {
		t.Fatal(err)
	}
	w.expectClose(t, 4000, "bye")
	eventually(t, "the closed session", func() bool {
		got, err = c.Session(ctx, id)
		return err == nil && got.ClosedAt != nil
	})
	if got.Live || got.MessagesIn != 3 || got.MessagesOut != 3 {
		t.Fatalf("closed session: %+v", got)
	}
	if _, body := e.do(http.MethodGet, "/v1/sessions/"+id, "", "", nil); strings.Contains(body, `"live"`) {
		t.Fatalf("a closed session says live: %s", body)
	}
}

// TestSessionsSelectorAndRemote filters history by selector (labels and
// built-in fields) and by the client's IP.
func TestSessionsSelectorAndRemote(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := t.Context()
	for _, q := range []string{"name=a&room=lobby", "name=b&room=hall", "name=c"} {
		e.dial("/?" + q)
	}
	for _, n := range []string{"a", "b", "c"} {
		e.idOf(n)
	}
	c := e.client()
	eventually(t, "3 sessions", func() bool {
		list, err := c.Sessions(ctx, client.SessionsQuery{})
		return err == nil && len(list.Sessions) == 3
	})
	names := func(q string) string {
		t.Helper()
		status, body := e.do(http.MethodGet, "/v1/sessions?"+q, "", "", nil)
		if status != http.StatusOK {
			t.Fatalf("%s: %d %s", q, status, body)
		}
		var list apitype.SessionList
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range list.Sessions {
			out = append(out, s.Labels["name"])
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	for _, tc := range []struct{ q, want string }{
		{"selector=" + url.QueryEscape("room in (lobby,hall)"), "a b"},
		{"selector=" + url.QueryEscape("!room"), "c"},
		{"selector=" + url.QueryEscape("room!=lobby,route=/"), "b c"},
		{"selector=all", "a b c"},
		{"remote=127.0.0.1", "a b c"},
		{"remote=127.0.0.2", ""},
		{"remote=127.0.0.1&selector=room%3Dhall", "b"},
	} {
		if got := names(tc.q); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.q, got, tc.want)
		}
	}
	status, body := e.do(http.MethodGet, "/v1/sessions?selector="+url.QueryEscape("room in lobby"), "", "", nil)
	if status != http.StatusBadRequest || !strings.Contains(body, `"invalid_selector"`) || !strings.Contains(body, "KEY notin (V1,V2)") {
		t.Fatalf("bad selector: %d %s, want 400 stating the grammar", status, body)
	}
}

// TestSessionTraceAndBlackBox: the trace id and the black box reach the
// API with readable opcodes; sessions without them omit both.
func TestSessionTraceAndBlackBox(t *testing.T) {
	e := newEnv(t, envOpts{})
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e.st.RecordOpen(session.Open{ID: "01JBLACKBOX000000000000000", Route: "/", ConnectedAt: base,
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"})
	e.st.RecordClose(session.Close{ID: "01JBLACKBOX000000000000000", ClosedAt: base.Add(time.Second), CloseCode: 1006,
		ClosedBy: session.ClosedByProtocolError, BlackBox: []session.Frame{
			{At: base, In: true, Opcode: 1, Fin: true, Len: 5},
			{At: base.Add(time.Millisecond), Opcode: 9, Fin: true},
			{At: base.Add(2 * time.Millisecond), In: true, Opcode: 3, RSV: 4, Len: 1 << 40},
		}})
	e.st.RecordOpen(session.Open{ID: "01JPLAIN000000000000000000", Route: "/", ConnectedAt: base})
	if err := e.st.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	got, err := e.client().Session(t.Context(), "01JBLACKBOX000000000000000")
	if err != nil {
		t.Fatal(err)
	}
	want := []apitype.Frame{
		{At: base, Direction: "in", Opcode: "text", Fin: true, Length: 5},
		{At: base.Add(time.Millisecond), Direction: "out", Opcode: "ping", Fin: true},
		{At: base.Add(2 * time.Millisecond), Direction: "in", Opcode: "opcode 3", RSV: 4, Length: 1 << 40},
	}
	if got.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || !reflect.DeepEqual(got.BlackBox, want) {
		t.Fatalf("session %+v", got)
	}
	_, body := e.do(http.MethodGet, "/v1/sessions/01JPLAIN000000000000000000", "", "", nil)
	if strings.Contains(body, "trace_id") || strings.Contains(body, "black_box") {
		t.Fatalf("a plain session carries them: %s", body)
	}
}
