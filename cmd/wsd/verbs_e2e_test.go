package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/admin/client"
	"github.com/wsd-dev/wsd/internal/wsdtest"
	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/tracing"
)

// The operator verbs of issue 20 (cordon and drain, the black box and why,
// trace and tap on demand) against the real binary.

// adminClient returns an admin API client of w with a token minted for
// subject with those scopes (comma-separated) from w's state directory.
func adminClient(t *testing.T, w *wsd, subject, scopes string) *client.Client {
	t.Helper()
	c, err := client.New(w.Admin, mintToken(t, "--subject", subject, "--scope", scopes, "--state-dir", w.StateDir), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wsctlBuild builds cmd/wsctl once, next to the wsd binary (TestMain
// removes both).
var wsctlBuild struct {
	sync.Once
	bin string
	out []byte
	err error
}

// runWsctl runs the real wsctl against w's admin API with that token and
// returns its standard output; it fails the test when wsctl fails.
func runWsctl(t *testing.T, w *wsd, token string, args ...string) string {
	t.Helper()
	wsctlBuild.Do(func() {
		wsctlBuild.bin = filepath.Join(filepath.Dir(wsdBin), "wsctl")
		wsctlBuild.out, wsctlBuild.err = exec.Command("go", "build", "-o", wsctlBuild.bin, "github.com/wsd-dev/wsd/cmd/wsctl").CombinedOutput()
	})
	if wsctlBuild.err != nil {
		t.Fatalf("build wsctl: %v\n%s", wsctlBuild.err, wsctlBuild.out)
	}
	cmd := exec.Command(wsctlBuild.bin, append([]string{"--server", w.Admin, "--token", token}, args...)...)
	var env []string
	for _, kv := range cleanEnv() {
		if !strings.HasPrefix(kv, "WSCTL_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("wsctl %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// drainClient is one client of the drain test: it reads until its
// connection ends and reports when, and with which close.
type drainClient struct {
	conn *protocol.Conn
	at   time.Time // when the read ended
	code protocol.StatusCode
	err  error // the read's error when it was not a close
}

// TestDrainPaced drains 1,000 connections over 3 s through POST
// /v1/drain: the closes are spread over the window, every client sees
// 1012, history says drain for each, and the node is not ready (and
// refuses upgrades) until DELETE /v1/cordon.
func TestDrainPaced(t *testing.T) {
	const n, over = 1000, 3 * time.Second
	w := startWSD(t, wsdOpts{args: []string{"--log-level", "info"}})
	admin := adminClient(t, w, "ops", "admin")
	ctx := testCtx(t, 2*time.Minute)

	clients := make([]*drainClient, n)
	var readers sync.WaitGroup
	t.Cleanup(func() {
		for _, c := range clients {
			if c != nil {
				c.conn.CloseNow()
			}
		}
		readers.Wait()
	})
	for i := range n {
		// 250 clients per source address, as real clients come from many.
		conn := dialWS(t, w.url("/"), fromIP(fmt.Sprintf("127.0.0.%d", 10+i/250)))
		c := &drainClient{conn: conn}
		clients[i] = c
		readers.Go(func() {
			for {
				_, _, err := conn.Read(context.Background())
				if err == nil {
					continue
				}
				c.at = time.Now()
				var ce *protocol.CloseError
				if errors.As(err, &ce) {
					c.code = ce.Code
				} else {
					c.err = err
				}
				return
			}
		})
	}
	pollUntil(t, "1,000 live connections", 30*time.Second, func() bool {
		st, err := admin.Stats(ctx)
		return err == nil && st.Connections == n
	})
	if st, _ := httpGet(t, "http://"+w.Admin+"/readyz"); st != http.StatusOK {
		t.Fatalf("readyz before the drain: %d", st)
	}

	start := time.Now()
	dr, err := admin.Drain(ctx, "", apitype.DrainRequest{Over: over.String()})
	if err != nil {
		t.Fatal(err)
	}
	if !dr.Running || !dr.Cordoned || dr.Total != n || dr.Code != 1012 || dr.OverSeconds != over.Seconds() {
		t.Fatalf("drain started as %+v", dr)
	}
	// While it runs: not ready, new upgrades refused with Retry-After,
	// a second drain refused.
	if st, body := httpGet(t, "http://"+w.Admin+"/readyz"); st != http.StatusServiceUnavailable {
		t.Errorf("readyz during the drain: %d %q", st, body)
	}
	if st, h := dialStatus(t, w.url("/"), nil); st != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Errorf("upgrade during the drain: %d, Retry-After %q", st, h.Get("Retry-After"))
	}
	if _, err := admin.Drain(ctx, "", apitype.DrainRequest{Over: "1s"}); !client.IsConflict(err) {
		t.Errorf("second drain: %v, want 409", err)
	}
	if _, err := admin.Uncordon(ctx, ""); !client.IsConflict(err) {
		t.Errorf("uncordon during the drain: %v, want 409", err)
	}

	readers.Wait()
	const bucket = 500 * time.Millisecond
	buckets := make([]int, int((2*over)/bucket)+1)
	var last time.Duration
	for i, c := range clients {
		if c.code != 1012 {
			t.Errorf("client %d: close %d (%v), want 1012", i, c.code, c.err)
		}
		at := c.at.Sub(start)
		last = max(last, at)
		buckets[min(int(at/bucket), len(buckets)-1)]++
	}
	share := n * int(bucket) / int(over)
	t.Logf("%d connections drained over %v: last close seen after %v; closes per %v: %v (even share %d)",
		n, over, last.Round(time.Millisecond), bucket, buckets, share)
	for i, k := range buckets {
		if k > 2*share {
			t.Errorf("%d closes in [%v, %v): more than twice the even share %d", k, time.Duration(i)*bucket, time.Duration(i+1)*bucket, share)
		}
	}
	if last < over*5/6 || last > 2*over {
		t.Errorf("the drain took %v, want about %v", last, over)
	}

	pollUntil(t, "the drain's end in GET /v1/drain", 10*time.Second, func() bool {
		dr, err = admin.DrainStatus(ctx, "")
		return err == nil && !dr.Running
	})
	if dr.Closed != n || dr.Remaining != 0 || dr.Error != "" || dr.FinishedAt == nil {
		t.Errorf("drain finished as %+v", dr)
	}
	ss := waitSessions(t, w.StateDir, "1,000 sessions closed by drain", func(ss []sessionRow) bool { return countBy(ss, "drain") == n })
	for _, s := range ss {
		if s.CloseCode != 1012 {
			t.Fatalf("session %s: close code %d", s.ID, s.CloseCode)
		}
	}
	if st, _ := httpGet(t, "http://"+w.Admin+"/readyz"); st != http.StatusServiceUnavailable {
		t.Errorf("readyz after the drain, still cordoned: %d", st)
	}
	if cs, err := admin.Uncordon(ctx, ""); err != nil || cs.Cordoned {
		t.Fatalf("uncordon: %+v %v", cs, err)
	}
	if st, body := httpGet(t, "http://"+w.Admin+"/readyz"); st != http.StatusOK {
		t.Errorf("readyz after uncordon: %d %q", st, body)
	}
	if st, _ := dialStatus(t, w.url("/"), nil); st != http.StatusSwitchingProtocols {
		t.Errorf("upgrade after uncordon: %d", st)
	}
	// The drain is audited with who asked.
	pollUntil(t, "the drain by ops in the audit log", 10*time.Second, func() bool {
		al, err := admin.Audit(ctx, client.AuditQuery{})
		return err == nil && slices.ContainsFunc(al.Entries, func(e apitype.AuditEntry) bool {
			return e.Action == apitype.ActionDrain && e.Subject == "ops" && e.Result == apitype.ResultOK
		})
	})
}

// dialRaw opens a WebSocket connection to w by hand, for what a
// well-behaved client never sends; it must be done within 15 s.
func dialRaw(t *testing.T, w *wsd, path string) *wsdtest.Raw {
	t.Helper()
	r := wsdtest.DialRaw(t, w.Addr, path)
	if err := r.Conn.SetDeadline(time.Now().Add(15 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return r
}

// waitWhy polls GET /v1/sessions/{id}/why until history has the session's
// end and, when admin actions is true, an admin action on it (audit rows
// are written after the call's answer).
func waitWhy(t *testing.T, admin *client.Client, id string, actions bool) *apitype.Why {
	t.Helper()
	ctx := testCtx(t, 20*time.Second)
	var why *apitype.Why
	pollUntil(t, "why of "+id+" with its end", 15*time.Second, func() bool {
		var err error
		why, err = admin.Why(ctx, id)
		if err != nil && !client.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil && why.ClosedBy != "" && (!actions || len(why.Actions) > 0)
	})
	return why
}

// hasFrame reports whether a black box holds a frame of that direction
// and opcode (name).
func hasFrame(bb []apitype.Frame, dir, opcode string) bool {
	return slices.ContainsFunc(bb, func(f apitype.Frame) bool { return f.Direction == dir && f.Opcode == opcode })
}

func limitsText(ls []apitype.Limit) string {
	var parts []string
	for _, l := range ls {
		parts = append(parts, l.Name+"="+l.Value)
	}
	return strings.Join(parts, " ")
}

// TestWhyBlackBox: a protocol violation (a reserved opcode, an unmasked
// frame, a message above --max-message-size) and a pong timeout each leave
// a black box with the session, which GET /v1/sessions/{id}/why shows with
// the cause and the limit involved with its configured value.
func TestWhyBlackBox(t *testing.T) {
	t.Parallel()
	t.Run("violations", func(t *testing.T) {
		t.Parallel()
		w := startWSD(t, wsdOpts{args: []string{"--max-message-size", "1000"}})
		admin := adminClient(t, w, "ops", "admin")
		for _, tc := range []struct {
			name     string
			opcode   byte
			mask     bool
			payload  []byte
			code     int
			inOpcode string // the violating frame as the black box names it
			limits   string
		}{
			{name: "reserved opcode", opcode: 3, mask: true, payload: []byte("x"), code: 1002, inOpcode: "opcode 3"},
			{name: "unmasked frame", opcode: 1, mask: false, payload: []byte("plain"), code: 1002, inOpcode: "text"},
			{name: "too big", opcode: 2, mask: true, payload: make([]byte, 1500), code: 1009, inOpcode: "binary", limits: "max-message-size=1000 bytes"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := len(sessions(t, w.StateDir))
				r := dialRaw(t, w, "/")
				// A normal exchange first: the black box shows it.
				r.WriteFrame(t, 1, true, []byte("hello"))
				if op, p, err := r.ReadFrame(); err != nil || op != 1 || string(p) != "hello" {
					t.Fatalf("echo: opcode %d %q %v", op, p, err)
				}
				r.WriteFrame(t, tc.opcode, tc.mask, tc.payload)
				if code := r.ReadClose(t); code != tc.code {
					t.Fatalf("close %d, want %d", code, tc.code)
				}
				id := waitSessions(t, w.StateDir, "the new session", func(ss []sessionRow) bool { return len(ss) == before+1 })[before].ID
				why := waitWhy(t, admin, id, false)
				t.Logf("why: %s", why.Summary)
				for _, f := range why.BlackBox {
					t.Logf("  %s %s %-3s fin=%v rsv=%d len=%d", f.At.Format("15:04:05.000000"), f.Direction, f.Opcode, f.Fin, f.RSV, f.Length)
				}
				if why.ClosedBy != "protocol_error" || why.CloseCode != tc.code || why.Live {
					t.Errorf("closed_by %q code %d live %v", why.ClosedBy, why.CloseCode, why.Live)
				}
				if !hasFrame(why.BlackBox, apitype.DirectionIn, "text") || !hasFrame(why.BlackBox, apitype.DirectionOut, "text") {
					t.Errorf("black box lacks the echo exchange: %+v", why.BlackBox)
				}
				if !hasFrame(why.BlackBox, apitype.DirectionOut, "close") {
					t.Errorf("black box lacks the server's close: %+v", why.BlackBox)
				}
				if !slices.ContainsFunc(why.BlackBox, func(f apitype.Frame) bool {
					return f.Direction == apitype.DirectionIn && f.Opcode == tc.inOpcode && f.Length == int64(len(tc.payload))
				}) {
					t.Errorf("black box lacks the violating frame (in %s, %d bytes): %+v", tc.inOpcode, len(tc.payload), why.BlackBox)
				}
				if got := limitsText(why.Limits); got != tc.limits {
					t.Errorf("limits %q, want %q", got, tc.limits)
				}
				if tc.limits != "" && !strings.Contains(why.Summary, "--max-message-size 1000 bytes") {
					t.Errorf("summary does not give the limit: %q", why.Summary)
				}
				if why.Session == nil || len(why.Session.BlackBox) != len(why.BlackBox) {
					t.Errorf("the session row does not carry the black box: %+v", why.Session)
				}
			})
		}
	})
	t.Run("pong timeout", func(t *testing.T) {
		t.Parallel()
		w := startWSD(t, wsdOpts{args: []string{"--ping-interval", "200ms", "--pong-timeout", "300ms"}})
		admin := adminClient(t, w, "ops", "admin")
		// A client that sends a message and then never reads: it never
		// answers a ping.
		c := dialWS(t, w.url("/"), nil)
		if err := c.Write(testCtx(t, 5*time.Second), protocol.TextMessage, []byte("hi")); err != nil {
			t.Fatal(err)
		}
		id := waitSessions(t, w.StateDir, "the session", func(ss []sessionRow) bool { return len(ss) == 1 })[0].ID
		why := waitWhy(t, admin, id, false)
		t.Logf("why: %s", why.Summary)
		for _, f := range why.BlackBox {
			t.Logf("  %s %s %-3s fin=%v len=%d", f.At.Format("15:04:05.000000"), f.Direction, f.Opcode, f.Fin, f.Length)
		}
		if why.ClosedBy != "idle_timeout" {
			t.Errorf("closed_by %q", why.ClosedBy)
		}
		if got := limitsText(why.Limits); got != "ping-interval=200ms pong-timeout=300ms" {
			t.Errorf("limits %q", got)
		}
		if !strings.Contains(why.Summary, "--ping-interval 200ms") || !strings.Contains(why.Summary, "--pong-timeout 300ms") {
			t.Errorf("summary does not give the limits: %q", why.Summary)
		}
		if !hasFrame(why.BlackBox, apitype.DirectionIn, "text") || !hasFrame(why.BlackBox, apitype.DirectionOut, "ping") {
			t.Errorf("black box lacks the message and the unanswered ping: %+v", why.BlackBox)
		}
		if hasFrame(why.BlackBox, apitype.DirectionIn, "pong") {
			t.Errorf("black box shows a pong the client never sent: %+v", why.BlackBox)
		}
		out := runWsctl(t, w, mintToken(t, "--subject", "viewer", "--scope", "sessions:read,audit:read,connections:read", "--state-dir", w.StateDir), "why", id)
		t.Logf("wsctl why %s:\n%s", id, out)
		for _, want := range []string{"--ping-interval 200ms", "--pong-timeout 300ms", "idle_timeout", "Black box", "ping"} {
			if !strings.Contains(out, want) {
				t.Errorf("wsctl why does not say %q", want)
			}
		}
	})
}

// TestWhyAdminKill: why (GET /v1/sessions/{id}/why and `wsctl why`) on a
// connection closed by `wsctl kill` names the token's subject; while it
// was live, why answered with the live connection.
func TestWhyAdminKill(t *testing.T) {
	t.Parallel()
	w := startWSD(t, wsdOpts{})
	opsTok := mintToken(t, "--subject", "alice-oncall", "--scope", "connections:close,connections:read", "--state-dir", w.StateDir)
	readerTok := mintToken(t, "--subject", "viewer", "--scope", "sessions:read,audit:read,connections:read", "--state-dir", w.StateDir)
	reader, err := client.New(w.Admin, readerTok, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 30*time.Second)
	c := dialWS(t, w.url("/"), nil)
	id := waitSessions(t, w.StateDir, "the session", func(ss []sessionRow) bool { return len(ss) == 1 })[0].ID

	live, err := reader.Why(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !live.Live || live.Connection == nil || live.Connection.ID != id || !strings.HasPrefix(live.Summary, "Live:") {
		t.Errorf("why of a live connection: %+v", live)
	}
	// `wsctl kill` (DELETE /v1/connections/{id}) by alice-oncall.
	runWsctl(t, w, opsTok, "kill", id, "--code", "4003", "--reason", "enough")
	if code, reason := readClose(t, c); code != 4003 || reason != "enough" {
		t.Fatalf("client saw %d %q", code, reason)
	}
	why := waitWhy(t, reader, id, true)
	t.Logf("why: %s", why.Summary)
	if why.ClosedBy != "admin" || why.CloseCode != 4003 || why.CloseReason != "enough" {
		t.Errorf("closed %q %d %q", why.ClosedBy, why.CloseCode, why.CloseReason)
	}
	if !slices.ContainsFunc(why.Actions, func(a apitype.AuditEntry) bool {
		return a.Action == apitype.ActionClose && a.Subject == "alice-oncall" && a.Target == id && a.Result == apitype.ResultOK
	}) {
		t.Errorf("admin actions %+v lack alice-oncall's close", why.Actions)
	}
	if !strings.Contains(why.Summary, "alice-oncall closed it through the admin API") {
		t.Errorf("summary does not name the subject: %q", why.Summary)
	}
	if len(why.BlackBox) != 0 {
		t.Errorf("a black box for an admin close: %+v", why.BlackBox)
	}
	out := runWsctl(t, w, readerTok, "why", id)
	t.Logf("wsctl why %s:\n%s", id, out)
	if !strings.Contains(out, "alice-oncall closed it through the admin API") || !strings.Contains(out, "Admin actions on it") {
		t.Errorf("wsctl why does not name alice-oncall")
	}
}

// TestTraceOnDemandJaeger: with a sampler that samples nothing and frame
// tracing off, POST /v1/connections/{id}/trace on one of two connections
// puts that connection's frames, and only its, in the real Jaeger.
func TestTraceOnDemandJaeger(t *testing.T) {
	j := startJaeger(t)
	// Both samplers sample nothing by themselves; "whatever the sampler
	// says" (PRODUCT.md §10) includes always_off, which ignores the
	// sampled root that trace on demand starts from.
	for _, sampler := range []string{"parentbased_always_off", "always_off"} {
		t.Run(sampler, func(t *testing.T) { traceOnDemand(t, j, sampler) })
	}
}

func traceOnDemand(t *testing.T, j *jaeger, sampler string) {
	w := startWSD(t, wsdOpts{args: []string{"--trace-frames", "none", "--label-from-query", "who"}, env: []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + j.otlpHTTP, "OTEL_BSP_SCHEDULE_DELAY=100",
		"OTEL_TRACES_SAMPLER=" + sampler,
	}})
	admin := adminClient(t, w, "ops", "admin")
	ctx := testCtx(t, time.Minute)
	armed, other := dialWS(t, w.url("/?who=armed"), nil), dialWS(t, w.url("/?who=other"), nil)
	// A client has its 101 a moment before the daemon lists it.
	var list *apitype.ConnectionList
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		l, err := admin.Connections(ctx, client.ConnectionsQuery{})
		if err == nil && len(l.Connections) == 2 {
			list = l
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connections %+v %v", l, err)
		}
	}
	var armedID, otherID string
	for _, c := range list.Connections {
		if c.Labels["who"] == "armed" {
			armedID = c.ID
		} else {
			otherID = c.ID
		}
	}
	if armedID == "" || otherID == "" {
		t.Fatalf("connections %+v", list.Connections)
	}
	arm, err := admin.Trace(ctx, armedID, "1m")
	if err != nil {
		t.Fatal(err)
	}
	if arm.TraceID == "" || time.Until(arm.Until) < 50*time.Second {
		t.Fatalf("armed %+v", arm)
	}
	insp, err := admin.Connection(ctx, armedID)
	if err != nil || insp.Trace == nil || insp.Trace.TraceID != arm.TraceID {
		t.Errorf("inspect does not show the arming: %+v %v", insp, err)
	}
	// Frames on the other connection first, then on the armed one.
	echo := func(c *protocol.Conn, msg string) {
		t.Helper()
		if err := c.Write(ctx, protocol.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, p := readMessage(t, c); string(p) != msg {
			t.Fatalf("echo %q", p)
		}
	}
	for i := range 3 {
		echo(other, fmt.Sprintf("o%d", i))
	}
	for i := range 3 {
		echo(armed, fmt.Sprintf("a%d", i))
	}
	tr := j.waitTraceID(t, arm.TraceID, "the armed connection's frames", func(tr jTrace) bool { return frameCount(tr) >= 6 })
	var dirs []string
	for _, s := range tr.Spans {
		if s.tag("ws.connection.id") != armedID {
			t.Errorf("span %s of the armed trace tagged %v", s.OperationName, s.tag("ws.connection.id"))
		}
		for _, l := range s.Logs {
			f := tagMap(l.Fields)
			if f["event"] == tracing.EventFrame {
				dirs = append(dirs, fmt.Sprint(f["network.io.direction"], " ", f["websocket.opcode"], " ", f["websocket.payload_length"]))
			}
		}
	}
	t.Logf("armed trace %s: %d spans, frames %v", tr.TraceID, len(tr.Spans), dirs)
	if got := len(tr.spans(tracing.SpanFrames)); got == 0 {
		t.Errorf("no %s span in the armed trace", tracing.SpanFrames)
	}
	// The span that holds the segments is written when the arming ends:
	// here, with the connection.
	if err := armed.Close(4000, "bye"); err != nil {
		t.Fatal(err)
	}
	tr = j.waitTraceID(t, arm.TraceID, "the trace_on_demand span", func(tr jTrace) bool {
		return len(tr.spans("websocket.trace_on_demand")) == 1
	})
	od := tr.spans("websocket.trace_on_demand")[0]
	for _, s := range tr.spans(tracing.SpanFrames) {
		if p := s.refs("CHILD_OF"); len(p) != 1 || p[0] != od.SpanID {
			t.Errorf("frames segment %s: parent %v, want the trace_on_demand span %s", s.SpanID, p, od.SpanID)
		}
	}
	if trs := j.traces(t, armedID); len(trs) != 1 {
		t.Errorf("%d traces tagged with the armed connection, want its one", len(trs))
	}
	if trs := j.traces(t, otherID); len(trs) != 0 {
		t.Errorf("the other connection, never armed, has %d traces in Jaeger: %+v", len(trs), trs)
	}
}

// TestTapScopes: GET /v1/tap streams message metadata to a token without
// connections:tap and refuses it payload previews (403); with the scope,
// previews come.
func TestTapScopes(t *testing.T) {
	t.Parallel()
	w := startWSD(t, wsdOpts{})
	plain := adminClient(t, w, "viewer", "connections:read")
	tapper := adminClient(t, w, "debugger", "connections:read,connections:tap")
	ctx := testCtx(t, 30*time.Second)
	c := dialWS(t, w.url("/"), nil)
	id := waitSessions(t, w.StateDir, "the session", func(ss []sessionRow) bool { return len(ss) == 1 })[0].ID

	var ae *client.Error
	if err := plain.Tail(ctx, client.TailQuery{ID: id, Payload: true}, nil, func(apitype.TapEvent) error { return nil }); !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
		t.Fatalf("payload without connections:tap: %v, want 403", err)
	}

	// tail runs a tap until it has seen want events, sending msg on the
	// client once subscribed.
	tail := func(cl *client.Client, payload bool, msg string) []apitype.TapEvent {
		t.Helper()
		tctx, cancel := context.WithCancel(ctx)
		defer cancel()
		subscribed := make(chan struct{})
		var got []apitype.TapEvent
		errc := make(chan error, 1)
		go func() {
			errc <- cl.Tail(tctx, client.TailQuery{ID: id, Payload: payload}, func(apitype.Fleet) { close(subscribed) }, func(ev apitype.TapEvent) error {
				got = append(got, ev)
				if len(got) == 2 {
					return io.EOF // done: the message and its echo
				}
				return nil
			})
		}()
		select {
		case <-subscribed:
		case err := <-errc:
			t.Fatalf("tail ended before subscribing: %v", err)
		case <-ctx.Done():
			t.Fatal("tail never subscribed")
		}
		if err := c.Write(ctx, protocol.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		readMessage(t, c)
		if err := <-errc; !errors.Is(err, io.EOF) {
			t.Fatalf("tail: %v", err)
		}
		return got
	}
	meta := tail(plain, false, "secret-1")
	for i, dir := range []string{apitype.DirectionIn, apitype.DirectionOut} {
		ev := meta[i]
		if ev.Type != apitype.TapMessage || ev.ID != id || ev.Direction != dir || ev.Message != "text" || ev.Size != 8 || ev.Payload != nil || ev.At.IsZero() {
			t.Errorf("metadata event %d: %+v", i, ev)
		}
	}
	prev := tail(tapper, true, "secret-2")
	for i, dir := range []string{apitype.DirectionIn, apitype.DirectionOut} {
		ev := prev[i]
		if ev.Direction != dir || ev.Size != 8 || string(ev.Payload) != "secret-2" || ev.Truncated {
			t.Errorf("preview event %d: %+v", i, ev)
		}
	}
}
