package session

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestJSONRoundTrip holds the types to what a cluster needs to carry them
// between nodes: every field survives encoding/json unchanged.
func TestJSONRoundTrip(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	for _, v := range []any{
		&Open{ID: "01JABC", Route: "/chat", RemoteAddr: "127.0.0.1:5000", User: "ann",
			Labels: map[string]string{"room": "lobby"}, Origin: "https://example.test", UserAgent: "ua",
			Subprotocol: "chat.v1", Extensions: "permessage-deflate", ConnectedAt: at},
		&Close{ID: "01JABC", ClosedAt: at, CloseCode: CodePongTimeout, CloseReason: "pong timeout",
			ClosedBy: ClosedByIdleTimeout, Error: "no pong", MessagesIn: 1, MessagesOut: 2, BytesIn: 3, BytesOut: 4},
		&Record{ID: "01JABC", Route: "/", Labels: map[string]string{}, ConnectedAt: at, ClosedAt: at.Add(time.Second),
			CloseCode: 1001, ClosedBy: ClosedByDrain, MessagesIn: 5, Node: "n1"},
		&Filter{Since: at, Until: at.Add(time.Hour), User: "ann", Route: "/", CloseCode: 1000,
			ClosedBy: ClosedByClient, Limit: 10, Before: "cursor"},
		&Page{Sessions: []Record{{ID: "a", Labels: map[string]string{}, ConnectedAt: at}}, Next: "n"},
		&AuditEntry{ID: 7, At: at, Subject: "ops", Action: "connections.close", Target: "01JABC",
			Parameters: json.RawMessage(`{"code":4000}`), Matched: 1, Affected: 1, Result: "ok"},
		&AuditFilter{Since: at, Until: at, BeforeID: 9, Limit: 20},
		&Health{Degraded: true, LastError: "disk full", LastErrorAt: at, Queued: 1, Dropped: 2,
			Written: 3, Commits: 4, LastCommit: at, WALBytes: -1},
	} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		got := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		if err := json.Unmarshal(b, got); err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("%T: round trip\n got %+v\nwant %+v", v, got, v)
		}
	}
}
