package main

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/tracing"
)

// TestTracingJaeger runs a session against the real wsd binary exporting to
// a real Jaeger, over OTLP gRPC and OTLP HTTP, and finds it there by its
// connection id: the upgrade (while the session is still open, under the
// client's traceparent), every frame, and the close with its code.
func TestTracingJaeger(t *testing.T) {
	j := startJaeger(t)
	for _, tc := range []struct {
		protocol, endpoint string
		traceparentInQuery bool
	}{
		{tracing.ProtocolGRPC, "http://" + j.otlpGRPC, false},
		{tracing.ProtocolHTTPProtobuf, "http://" + j.otlpHTTP, true},
	} {
		t.Run(tc.protocol, func(t *testing.T) {
			w := startWSD(t, wsdOpts{args: []string{"--trace-frames", "all"}, env: []string{
				"OTEL_EXPORTER_OTLP_ENDPOINT=" + tc.endpoint,
				"OTEL_EXPORTER_OTLP_PROTOCOL=" + tc.protocol,
				"OTEL_BSP_SCHEDULE_DELAY=100",
			}})
			traceID, parentID := randomHex(t, 16), randomHex(t, 8)
			traceparent := "00-" + traceID + "-" + parentID + "-01"
			url, opts := w.url("/"), &protocol.DialOptions{Header: http.Header{"User-Agent": {"jaeger-test"}}}
			if tc.traceparentInQuery {
				url += "?traceparent=" + traceparent
			} else {
				opts.Header.Set("Traceparent", traceparent)
			}
			c := dialWS(t, url, opts)
			id := waitSessions(t, w.stateDir, "the session", func(ss []session) bool { return len(ss) == 1 })[0].ID

			// The session is open, and already in Jaeger.
			tr := j.waitTrace(t, id, "the upgrade span", func(tr jTrace) bool { return len(tr.spans(tracing.SpanUpgrade)) == 1 })
			up := tr.spans(tracing.SpanUpgrade)[0]
			if tr.TraceID != traceID {
				t.Errorf("trace %s, want the client's %s", tr.TraceID, traceID)
			}
			if len(up.References) != 1 || up.References[0].SpanID != parentID {
				t.Errorf("upgrade references %+v, want the parent %s", up.References, parentID)
			}
			for k, want := range map[string]any{
				"http.response.status_code": 101.0, "url.path": "/", "user_agent.original": "jaeger-test",
				"network.peer.address": "127.0.0.1", "http.route": "/", "ws.handler": "echo",
			} {
				if got := up.tag(k); got != want {
					t.Errorf("upgrade tag %s = %v, want %v", k, got, want)
				}
			}

			ctx := testCtx(t, 10*time.Second)
			if err := c.Write(ctx, protocol.TextMessage, []byte("hello")); err != nil {
				t.Fatal(err)
			}
			readMessage(t, c)
			if err := c.Ping(ctx, []byte("p1")); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(4000, "bye"); err != nil {
				t.Fatal(err)
			}

			tr = j.waitTrace(t, id, "the close", func(tr jTrace) bool {
				return len(tr.spans(tracing.SpanClose)) == 1 && len(tr.spans(tracing.SpanSession)) == 1 && frameCount(tr) >= 6
			})
			for _, s := range tr.Spans {
				if s.tag("ws.connection.id") != id {
					t.Errorf("span %s lacks ws.connection.id", s.OperationName)
				}
			}
			cl := tr.spans(tracing.SpanClose)[0]
			for k, want := range map[string]any{"websocket.close.code": 4000.0, "websocket.close.reason": "bye", "ws.closed_by": "client"} {
				if got := cl.tag(k); got != want {
					t.Errorf("close tag %s = %v, want %v", k, got, want)
				}
			}
			type frame struct {
				dir    string
				opcode float64
				flags  string
				length float64
			}
			var got []frame
			for _, s := range tr.spans(tracing.SpanFrames) {
				for _, l := range s.Logs {
					f := tagMap(l.Fields)
					if f["event"] != tracing.EventFrame {
						continue
					}
					got = append(got, frame{f["network.io.direction"].(string), f["websocket.opcode"].(float64),
						f["websocket.flags"].(string), f["websocket.payload_length"].(float64)})
				}
			}
			want := []frame{
				{"receive", 1, "fin masked", 5}, // hello
				{"transmit", 1, "fin", 5},       // its echo
				{"receive", 9, "fin masked", 2}, // ping
				{"transmit", 10, "fin", 2},
				{"receive", 8, "fin masked", 5}, // close 4000 "bye"
				{"transmit", 8, "fin", 2},
			}
			if len(got) != len(want) {
				t.Fatalf("frames %+v, want %+v", got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("frame %d: %+v, want %+v", i, got[i], want[i])
				}
			}
		})
	}
}

// frameCount counts the frame events of a trace.
func frameCount(tr jTrace) int {
	n := 0
	for _, s := range tr.spans(tracing.SpanFrames) {
		n += len(s.Logs)
	}
	return n
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
