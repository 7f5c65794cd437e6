package admin

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
	"github.com/wsd-dev/wsd/session"
)

func ptr[T any](v T) *T { return &v }

func TestListAndInspect(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.client(apitype.ScopeConnectionsRead)
	ctx := t.Context()
	e.dial("/?name=a&room=lobby")
	e.dial("/?name=b&room=lobby")
	e.dial("/chat?name=c&room=attic")
	a, b, cc := e.idOf("a"), e.idOf("b"), e.idOf("c")

	all, err := c.Connections(ctx, client.ConnectionsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Connections) != 3 || all.Next != "" {
		t.Fatalf("list: %d, next %q", len(all.Connections), all.Next)
	}
	if got := []string{all.Connections[0].ID, all.Connections[1].ID, all.Connections[2].ID}; got[0] != a || got[1] != b || got[2] != cc {
		t.Fatalf("order %v, want %s %s %s", got, a, b, cc)
	}
	lobby, err := c.Connections(ctx, client.ConnectionsQuery{Selector: "room=lobby", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(lobby.Connections) != 1 || lobby.Connections[0].ID != a || lobby.Next != a {
		t.Fatalf("first page %+v", lobby)
	}
	rest, err := c.Connections(ctx, client.ConnectionsQuery{Selector: "room=lobby", Limit: 1, After: lobby.Next})
	if err != nil {
		t.Fatal(err)
	}
	if len(rest.Connections) != 1 || rest.Connections[0].ID != b || rest.Next != "" {
		t.Fatalf("second page %+v", rest)
	}
	chat, err := c.Connections(ctx, client.ConnectionsQuery{Selector: "route=/chat,room!=lobby"})
	if err != nil || len(chat.Connections) != 1 || chat.Connections[0].ID != cc {
		t.Fatalf("route selector: %+v %v", chat, err)
	}

	one, err := c.Connection(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if one.ID != a || one.Route != "/" || one.Labels["room"] != "lobby" || one.Labels["name"] != "a" ||
		!strings.HasPrefix(one.RemoteAddr, "127.0.0.1:") || one.ConnectedAt.IsZero() {
		t.Fatalf("inspect %+v", one)
	}

	if _, err := c.Connection(ctx, "0190b7a0-0000-7000-8000-000000000000"); !client.IsNotFound(err) {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := c.Connection(ctx, "nope"); !client.IsNotFound(err) {
		t.Fatalf("malformed id: %v", err)
	}
	var apiErr *client.Error
	if _, err := c.Connections(ctx, client.ConnectionsQuery{Selector: "room in (a"}); !errors.As(err, &apiErr) || apiErr.Code != apitype.CodeInvalidSelector {
		t.Fatalf("bad selector: %v", err)
	}
	for _, q := range []string{"?limit=0", "?limit=1001", "?limit=x", "?after=nope", "?selektor=room%3Dlobby", "?limit=1&limit=2"} {
		if status, body := e.do(http.MethodGet, "/v1/connections"+q, "", "", nil); status != http.StatusBadRequest || !strings.Contains(body, `"bad_request"`) {
			t.Errorf("%s: %d %s", q, status, body)
		}
	}
}

func TestSend(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.client(apitype.ScopeConnectionsWrite)
	ctx := t.Context()
	w := e.dial("/?name=a")
	id := e.idOf("a")

	res, err := c.Send(ctx, id, apitype.Message{Text: ptr("hello")})
	if err != nil || !res.Queued || res.Bytes != 5 {
		t.Fatalf("send: %+v %v", res, err)
	}
	w.Expect(t, "text:hello")
	if _, err := c.Send(ctx, id, apitype.Message{Binary: []byte{0, 1, 2}}); err != nil {
		t.Fatal(err)
	}
	w.Expect(t, "binary:\x00\x01\x02")
	if _, err := c.Send(ctx, "0190b7a0-0000-7000-8000-000000000000", apitype.Message{Text: ptr("x")}); !client.IsNotFound(err) {
		t.Fatalf("unknown id: %v", err)
	}

	path := "/v1/connections/" + id + "/messages"
	for name, tc := range map[string]struct {
		ctype, body string
		status      int
		code        string
	}{
		"both":          {"application/json", `{"text":"a","binary":"AA=="}`, 400, "bad_request"},
		"neither":       {"application/json", `{}`, 400, "bad_request"},
		"unknown field": {"application/json", `{"txt":"a"}`, 400, "bad_request"},
		"not JSON":      {"application/json", `{"text":`, 400, "bad_request"},
		"two objects":   {"application/json", `{"text":"a"}{"text":"b"}`, 400, "bad_request"},
		"bad base64":    {"application/json", `{"binary":"@@"}`, 400, "bad_request"},
		"form":          {"application/x-www-form-urlencoded", `text=a`, 400, "bad_request"},
		"no type":       {"", `{"text":"a"}`, 400, "bad_request"},
		"too large":     {"application/json", `{"text":"` + strings.Repeat("a", DefaultMaxBodyBytes) + `"}`, 413, "payload_too_large"},
	} {
		status, body := e.do(http.MethodPost, path, tc.ctype, tc.body, nil)
		if status != tc.status || !strings.Contains(body, `"code":"`+tc.code+`"`) {
			t.Errorf("%s: %d %s", name, status, body)
		}
	}
	w.expectNothing(t)
}

func TestBroadcast(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.client(apitype.ScopeConnectionsWrite)
	ctx := t.Context()
	a := e.dial("/?name=a&room=lobby")
	b := e.dial("/?name=b&room=lobby")
	x := e.dial("/?name=x&room=attic")
	e.idOf("a")
	e.idOf("b")
	e.idOf("x")

	dry, err := c.Broadcast(ctx, apitype.BroadcastRequest{Selector: "room=lobby", DryRun: true})
	if err != nil || !dry.DryRun || dry.Matched != 2 || len(dry.Sample) != 2 || dry.Queued != 0 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	res, err := c.Broadcast(ctx, apitype.BroadcastRequest{Selector: "room=lobby", Text: ptr("hi lobby")})
	if err != nil || res.Matched != 2 || res.Queued != 2 || res.Dropped != 0 {
		t.Fatalf("broadcast: %+v %v", res, err)
	}
	a.Expect(t, "text:hi lobby")
	b.Expect(t, "text:hi lobby")
	x.expectNothing(t)

	res, err = c.Broadcast(ctx, apitype.BroadcastRequest{All: true, Binary: []byte("all")})
	if err != nil || res.Matched != 3 || res.Queued != 3 {
		t.Fatalf("broadcast all: %+v %v", res, err)
	}
	for _, w := range []*wsClient{a, b, x} {
		w.Expect(t, "binary:all")
	}
	res, err = c.Broadcast(ctx, apitype.BroadcastRequest{Selector: "room=nowhere", Text: ptr("?")})
	if err != nil || res.Matched != 0 {
		t.Fatalf("no match: %+v %v", res, err)
	}

	var apiErr *client.Error
	for name, req := range map[string]apitype.BroadcastRequest{
		"no selector":      {Text: ptr("x")},
		"selector and all": {Selector: "room=lobby", All: true, Text: ptr("x")},
		"bad selector":     {Selector: "room in (a", Text: ptr("x")},
	} {
		if _, err := c.Broadcast(ctx, req); !errors.As(err, &apiErr) || apiErr.Status != 400 || apiErr.Code != apitype.CodeInvalidSelector {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := c.Broadcast(ctx, apitype.BroadcastRequest{Selector: "room=lobby"}); !client.IsBadRequest(err) {
		t.Errorf("no message: %v", err)
	}
}

func TestCloseOne(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.client(apitype.ScopeConnectionsClose, apitype.ScopeSessionsRead, apitype.ScopeAuditRead)
	ctx := t.Context()
	w := e.dial("/?name=a")
	id := e.idOf("a")

	res, err := c.Close(ctx, id, 4000, "x")
	if err != nil || res.ID != id || res.Code != 4000 || res.Reason != "x" {
		t.Fatalf("close: %+v %v", res, err)
	}
	w.expectClose(t, 4000, "x")
	if _, err := c.Close(ctx, id, 0, ""); !client.IsNotFound(err) {
		t.Fatalf("second close: %v", err)
	}
	for _, q := range []string{"?code=1005", "?code=1002", "?code=999", "?code=5000", "?code=x", "?reason=" + strings.Repeat("r", 124)} {
		if status, body := e.do(http.MethodDelete, "/v1/connections/"+id+q, "", "", nil); status != 400 {
			t.Errorf("%s: %d %s", q, status, body)
		}
	}

	var s *apitype.Session
	eventually(t, "the session recorded as closed", func() bool {
		s, err = c.Session(ctx, id)
		return err == nil && s.ClosedAt != nil
	})
	if s.CloseCode != 4000 || s.CloseReason != "x" || s.ClosedBy != "admin" {
		t.Fatalf("session %+v", s)
	}
	var audit *apitype.AuditList
	eventually(t, "the audit entry", func() bool {
		audit, err = c.Audit(ctx, client.AuditQuery{})
		return err == nil && len(audit.Entries) >= 2
	})
	// Newest first: the refused second close, then the close.
	last, first := audit.Entries[0], audit.Entries[1]
	if first.Subject != "tester" || first.Action != apitype.ActionClose || first.Target != id || first.Result != "ok" ||
		first.Affected != 1 || first.Parameters["code"] != float64(4000) || first.Parameters["reason"] != "x" {
		t.Fatalf("audit entry %+v", first)
	}
	if last.Result != apitype.CodeNotFound || last.Affected != 0 {
		t.Fatalf("audit of the refused close %+v", last)
	}
}

func TestBulkClose(t *testing.T) {
	e := newEnv(t, envOpts{cfg: Config{BulkConfirmThreshold: 2}})
	c := e.client(apitype.ScopeConnectionsClose)
	ctx := t.Context()
	var lobby []*wsClient
	for _, n := range []string{"a", "b", "c"} {
		lobby = append(lobby, e.dial("/?room=lobby&name="+n))
		e.idOf(n)
	}
	solo := e.dial("/?room=attic&name=s")
	e.idOf("s")

	var apiErr *client.Error
	if _, err := c.CloseSelected(ctx, apitype.CloseRequest{Code: 4000}); !errors.As(err, &apiErr) || apiErr.Code != apitype.CodeInvalidSelector {
		t.Fatalf("empty selector: %v", err)
	}
	dry, err := c.CloseSelected(ctx, apitype.CloseRequest{Selector: "room=lobby", DryRun: true})
	if err != nil || dry.Matched != 3 || len(dry.Sample) != 3 || !dry.DryRun {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	_, err = c.CloseSelected(ctx, apitype.CloseRequest{Selector: "room=lobby", Code: 4000, Reason: "bye"})
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict || apiErr.Code != apitype.CodeConfirmationRequired ||
		apiErr.Matched == nil || *apiErr.Matched != 3 {
		t.Fatalf("above the threshold without confirm: %v", err)
	}
	if _, err := c.CloseSelected(ctx, apitype.CloseRequest{Selector: "room=lobby", Code: 4000, Confirm: ptr(2)}); !errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict {
		t.Fatalf("wrong confirm: %v", err)
	}
	res, err := c.CloseSelected(ctx, apitype.CloseRequest{Selector: "room=lobby", Code: 4000, Reason: "bye", Confirm: ptr(3)})
	if err != nil || res.Matched != 3 || res.Queued != 3 || res.Dropped != 0 {
		t.Fatalf("close: %+v %v", res, err)
	}
	for _, w := range lobby {
		w.expectClose(t, 4000, "bye")
	}
	// Below the threshold no confirmation is needed. The clients saw their
	// close before the daemon recorded it: wait until the lobby is gone, or
	// "all" may still match it.
	eventually(t, "only the attic left", func() bool { return e.d.Count(mustAll(t)) == 1 })
	res, err = c.CloseSelected(ctx, apitype.CloseRequest{Selector: "all"})
	if err != nil || res.Matched != 1 || res.Queued != 1 {
		t.Fatalf("close all: %+v %v", res, err)
	}
	solo.expectClose(t, 1000, "")
	eventually(t, "no connection left", func() bool { return e.d.Count(mustAll(t)) == 0 })
}

func mustAll(t *testing.T) session.Selector {
	t.Helper()
	sel, err := session.ParseSelector("all")
	if err != nil {
		t.Fatal(err)
	}
	return sel
}
