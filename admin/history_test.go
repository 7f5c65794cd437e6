package admin

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
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
