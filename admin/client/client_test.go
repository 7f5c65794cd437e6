package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestSessionsQuery: every filter goes out as its query parameter.
func TestSessionsQuery(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.RawQuery
		w.Header().Set("Content-Type", "application/json")
		if _, err := w.Write([]byte(`{"sessions":[]}`)); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	c, err := New(srv.URL, "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Sessions(context.Background(), SessionsQuery{Since: "1h", User: "u", Route: "/r", CloseCode: 4000,
		ClosedBy: "admin", Remote: "10.0.0.1", Selector: "room in (a,b)", Limit: 5, Before: "c"})
	if err != nil {
		t.Fatal(err)
	}
	const want = "before=c&close_code=4000&closed_by=admin&limit=5&remote=10.0.0.1&route=%2Fr&selector=room+in+%28a%2Cb%29&since=1h&user=u"
	if q := <-got; q != want {
		t.Errorf("query %s, want %s", q, want)
	}
}

// TestWebSocketListener: an answer of a WebSocket listener (426, not the
// API's JSON) is flagged; an API error is not.
func TestWebSocketListener(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header map[string]string
		body   string
		want   bool
	}{
		{"426", http.StatusUpgradeRequired, map[string]string{"Upgrade": "websocket"}, "not a WebSocket upgrade request (Connection: Upgrade and Upgrade: websocket required)\n", true},
		{"no route", http.StatusNotFound, nil, "no route for /v1/connections\n", true},
		{"api 404", http.StatusNotFound, map[string]string{"Content-Type": "application/json"}, `{"error":{"code":"not_found","message":"no live connection has this id"}}`, false},
		{"other 502", http.StatusBadGateway, nil, "bad gateway", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				if _, err := w.Write([]byte(tc.body)); err != nil {
					t.Error(err)
				}
			}))
			defer srv.Close()
			c, err := New(srv.URL, "t", nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Connection(context.Background(), "x")
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v, want an *Error", err)
			}
			if e.Status != tc.status || e.WebSocketListener != tc.want {
				t.Errorf("status %d, WebSocketListener %v; want %d, %v", e.Status, e.WebSocketListener, tc.status, tc.want)
			}
		})
	}
}
