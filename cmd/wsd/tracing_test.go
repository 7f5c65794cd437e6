package main

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/tracing"
	"github.com/wsd-dev/wsd/tracing/setup"
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
		{setup.ProtocolGRPC, "http://" + j.otlpGRPC, false},
		{setup.ProtocolHTTPProtobuf, "http://" + j.otlpHTTP, true},
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
			id := waitSessions(t, w.StateDir, "the session", func(ss []sessionRow) bool { return len(ss) == 1 })[0].ID

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

// traceparentTransport puts a fixed traceparent on every request: the
// admin calls of the test then belong to a trace whose id it knows.
type traceparentTransport struct{ traceparent string }

func (tt traceparentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Traceparent", tt.traceparent)
	return http.DefaultTransport.RoundTrip(r)
}

// TestTracingJaegerAdmin: admin API calls are traced; a broadcast links to
// the sends it caused in the recipients' session traces, which link back;
// an admin close is linked from the session's close span, and a search
// for the connection id finds the admin call too.
func TestTracingJaegerAdmin(t *testing.T) {
	j := startJaeger(t)
	dir := t.TempDir()
	w := startWSD(t, wsdOpts{stateDir: dir, env: []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + j.otlpHTTP, "OTEL_BSP_SCHEDULE_DELAY=100",
	}})
	a, b := dialWS(t, w.url("/"), nil), dialWS(t, w.url("/"), nil)
	ss := waitSessions(t, dir, "two sessions", func(ss []sessionRow) bool { return len(ss) == 2 })
	tok := mintToken(t, "--subject", "ops", "--scope", "admin", "--state-dir", dir)
	traceID := randomHex(t, 16)
	c, err := client.New(w.Admin, tok, &client.Options{HTTPClient: &http.Client{
		Transport: traceparentTransport{"00-" + traceID + "-" + randomHex(t, 8) + "-01"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 10*time.Second)
	text := "news"
	if res, err := c.Broadcast(ctx, apitype.BroadcastRequest{All: true, Text: &text}); err != nil || res.Queued != 2 {
		t.Fatalf("broadcast %+v %v", res, err)
	}
	readMessage(t, a)
	readMessage(t, b)

	// The request span ends after the broadcast span, maybe in a later
	// export batch: wait for both.
	tr := j.waitTraceID(t, traceID, "the request and the broadcast", func(tr jTrace) bool {
		return len(tr.spans(tracing.SpanBroadcast)) == 1 && len(tr.spans("POST /v1/broadcast")) == 1
	})
	req := tr.spans("POST /v1/broadcast")
	if len(req) != 1 || req[0].tag("http.response.status_code") != 200.0 || req[0].tag("http.route") != "/v1/broadcast" {
		t.Fatalf("admin request span: %+v", tr.Spans)
	}
	bc := tr.spans(tracing.SpanBroadcast)[0]
	if p := bc.refs("CHILD_OF"); len(p) != 1 || p[0] != req[0].SpanID {
		t.Errorf("broadcast span's parent %v, want the request %s", p, req[0].SpanID)
	}
	links := bc.refs("FOLLOWS_FROM")
	if len(links) != 2 || bc.tag("ws.broadcast.matched") != 2.0 {
		t.Fatalf("broadcast links %v, tags %v", links, bc.Tags)
	}
	for _, s := range ss {
		st := j.waitTrace(t, s.ID, "the broadcast's send", func(tr jTrace) bool { return len(tr.spans(tracing.SpanSend)) == 1 })
		send := st.spans(tracing.SpanSend)[0]
		if !slices.Contains(links, send.SpanID) || !slices.Contains(send.refs("FOLLOWS_FROM"), bc.SpanID) {
			t.Errorf("send span %s of %s and the broadcast %s do not link both ways", send.SpanID, s.ID, bc.SpanID)
		}
	}

	// An admin close: the session's close span links to the DELETE call,
	// whose span carries the connection id.
	id := ss[1].ID
	if _, err := c.Close(ctx, id, 4001, "kicked"); err != nil {
		t.Fatal(err)
	}
	st := j.waitTrace(t, id, "the admin close", func(tr jTrace) bool { return len(tr.spans(tracing.SpanClose)) == 1 })
	cl := st.spans(tracing.SpanClose)[0]
	if cl.tag("ws.closed_by") != "admin" || cl.tag("websocket.close.code") != 4001.0 || cl.tag("websocket.close.reason") != "kicked" {
		t.Errorf("close tags %v", cl.Tags)
	}
	del := j.waitTraceID(t, traceID, "the DELETE call", func(tr jTrace) bool {
		return len(tr.spans("DELETE /v1/connections/{id}")) == 1
	}).spans("DELETE /v1/connections/{id}")[0]
	if del.tag("ws.connection.id") != id || !slices.Contains(cl.refs("FOLLOWS_FROM"), del.SpanID) {
		t.Errorf("DELETE span %s (tags %v) not linked from the close span (refs %v)", del.SpanID, del.Tags, cl.References)
	}
	// A search for the connection finds its session and the admin call.
	if n := len(j.traces(t, id)); n != 2 {
		t.Errorf("%d traces tagged with %s, want the session's and the admin call's", n, id)
	}
}

// TestTracingCollectorDown: with a collector that accepts connections and
// never answers, sessions are served and SIGTERM still ends wsd within the
// drain plus the tracer's own 5 s bound (reliability catalogue C6).
func TestTracingCollectorDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(held)
				return
			}
			held <- c // never read, never answered
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for c := range held {
			c.Close()
		}
	})
	w := startWSD(t, wsdOpts{args: []string{"--drain-timeout", "2s", "--trace-frames", "all"}, env: []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + ln.Addr().String(), "OTEL_BSP_SCHEDULE_DELAY=50",
	}})
	for range 3 {
		c := dialWS(t, w.url("/"), nil)
		if err := c.Write(testCtx(t, 5*time.Second), protocol.TextMessage, []byte("x")); err != nil {
			t.Fatal(err)
		}
		readMessage(t, c)
	}
	start := time.Now()
	w.signal(syscall.SIGTERM)
	if code := w.wait(20 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if d := time.Since(start); d > 2*time.Second+5*time.Second+5*time.Second {
		t.Errorf("stop took %v with the collector down", d)
	}
	w.waitLog("trace export incomplete", time.Second)
	t.Logf("stopped in %v", time.Since(start).Round(time.Millisecond))
}
