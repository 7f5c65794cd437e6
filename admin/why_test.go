package admin

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// TestWhy: a live connection, one killed through the API (why names who
// did it) and one closed for a message too big (why names the limit and
// shows the black box).
func TestWhy(t *testing.T) {
	e := newEnv(t, envOpts{cfg: Config{TraceURL: "http://jaeger/trace/{trace_id}"}})
	c := e.client(apitype.ScopeSessionsRead, apitype.ScopeConnectionsClose)

	w := e.dial("/chat?name=live")
	id := e.idOf("live")
	if err := w.Conn.Write(t.Context(), protocol.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	w.Expect(t, "text:hi")
	why, err := c.Why(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !why.Live || why.Connection == nil || why.Connection.LastActivityAt == nil || !strings.HasPrefix(why.Summary, "Live: connected") {
		t.Fatalf("live why: %+v", why)
	}

	if _, err := c.Close(t.Context(), id, 4000, "bye"); err != nil {
		t.Fatal(err)
	}
	w.expectClose(t, 4000, "bye")
	// The session's close is recorded before the call's audit entry, and
	// the two may be committed in consecutive batches: wait for both.
	eventually(t, "the killed session's close and its audit entry", func() bool {
		why, err = c.Why(t.Context(), id)
		return err == nil && why.ClosedBy != "" && len(why.Actions) > 0
	})
	if why.Live || why.ClosedBy != string(session.ClosedByAdmin) || why.CloseCode != 4000 || why.Meaning == "" ||
		len(why.Actions) != 1 || why.Actions[0].Subject != "tester" || why.Actions[0].Action != apitype.ActionClose ||
		!strings.Contains(why.Summary, "tester closed it through the admin API") || why.BlackBox != nil {
		t.Fatalf("killed why: %+v", why)
	}

	big := e.dial("/chat?name=big")
	bigID := e.idOf("big")
	ctx, cancel := context.WithTimeout(t.Context(), 5e9)
	defer cancel()
	if err := big.Conn.Write(ctx, protocol.BinaryMessage, bytes.Repeat([]byte("x"), 2<<20)); err != nil {
		t.Logf("writing the message too big: %v", err) // the server may close first
	}
	eventually(t, "the too-big session's close", func() bool {
		why, err = c.Why(t.Context(), bigID)
		return err == nil && why.ClosedBy != ""
	})
	if why.ClosedBy != string(session.ClosedByProtocolError) || why.CloseCode != 1009 || len(why.Limits) == 0 ||
		why.Limits[0].Name != "max-message-size" || len(why.BlackBox) == 0 || why.BlackBox[0].Direction != apitype.DirectionIn ||
		!strings.Contains(why.Summary, "--max-message-size 1048576 bytes") {
		t.Fatalf("too-big why: %+v", why)
	}

	if _, err := c.Why(t.Context(), "nope"); !client.IsNotFound(err) {
		t.Fatalf("why of nothing: %v", err)
	}
}
