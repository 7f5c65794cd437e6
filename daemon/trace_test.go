package daemon

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
	"github.com/wsd-dev/wsd/tracing"
)

// spanLog is a span processor that keeps every ended span and signals each
// end, so that tests wait for a span instead of sleeping.
type spanLog struct {
	mu    sync.Mutex
	spans []sdktrace.ReadOnlySpan
	ended chan struct{}
}

func newSpanLog() *spanLog { return &spanLog{ended: make(chan struct{}, 1)} }

func (l *spanLog) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (l *spanLog) Shutdown(context.Context) error                  { return nil }
func (l *spanLog) ForceFlush(context.Context) error                { return nil }
func (l *spanLog) OnEnd(s sdktrace.ReadOnlySpan) {
	l.mu.Lock()
	l.spans = append(l.spans, s)
	l.mu.Unlock()
	select {
	case l.ended <- struct{}{}:
	default:
	}
}

func (l *spanLog) snapshot() []sdktrace.ReadOnlySpan {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sdktrace.ReadOnlySpan(nil), l.spans...)
}

// wait returns the ended spans once ok holds for them.
func (l *spanLog) wait(t *testing.T, what string, ok func([]sdktrace.ReadOnlySpan) bool) []sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if s := l.snapshot(); ok(s) {
			return s
		}
		select {
		case <-l.ended:
		case <-deadline:
			t.Fatalf("no %s among %d spans", what, len(l.snapshot()))
		}
	}
}

func named(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func has(name string, n int) func([]sdktrace.ReadOnlySpan) bool {
	return func(s []sdktrace.ReadOnlySpan) bool { return len(named(s, name)) >= n }
}

func attrs(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

// startTraced serves cfg with an always-sampling tracer that records into
// the returned log.
func startTraced(t *testing.T, cfg Config) (*Daemon, string, *memRecorder, *spanLog, trace.TracerProvider) {
	t.Helper()
	log := newSpanLog()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(log))
	rec := newMemRecorder()
	d, url := startDaemonDeps(t, cfg, Deps{Recorder: rec, TracerProvider: tp})
	return d, url, rec, log, tp
}

// TestTraceSession follows one session through its spans: the upgrade
// under the client's traceparent, the frames, and the close.
func TestTraceSession(t *testing.T) {
	cfg := testConfig()
	cfg.TraceFrames = tracing.FramesAll
	_, url, rec, log, _ := startTraced(t, cfg)

	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	c := dial(t, url+"/", &protocol.DialOptions{Header: http.Header{"Traceparent": {parent}, "User-Agent": {"trace-test"}}})
	write(t, c, protocol.TextMessage, []byte("hello"))
	readMsg(t, c)
	// The upgrade span is exported while the session is open.
	spans := log.wait(t, "upgrade span", has(tracing.SpanUpgrade, 1))
	up := named(spans, tracing.SpanUpgrade)[0]
	if got := up.SpanContext().TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("upgrade trace id %s: the client's traceparent was not its parent", got)
	}
	if got := up.Parent().SpanID().String(); got != "00f067aa0ba902b7" {
		t.Errorf("upgrade parent %s", got)
	}
	// The session's history row carries its trace id (issue 20).
	rec.mu.Lock()
	if len(rec.opens) != 1 || rec.opens[0].TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("recorded opens %+v: want one with the trace id", rec.opens)
	}
	rec.mu.Unlock()
	ua := attrs(up.Attributes())
	id := ua[tracing.ConnectionID].AsString()
	if id == "" || ua[tracing.SemHTTPResponseStatus].AsInt64() != 101 || ua[tracing.SemUserAgentOriginal].AsString() != "trace-test" ||
		ua[tracing.SemURLPath].AsString() != "/" || ua[tracing.SemNetworkPeerAddress].AsString() != "127.0.0.1" {
		t.Errorf("upgrade attributes: %v", up.Attributes())
	}

	if err := c.Close(4000, "bye"); err != nil {
		t.Fatal(err)
	}
	rec.waitClose(t)
	// The close span and then the session span end after the record.
	spans = log.wait(t, "close and session spans", func(s []sdktrace.ReadOnlySpan) bool {
		return has(tracing.SpanClose, 1)(s) && has(tracing.SpanSession, 1)(s)
	})
	for _, s := range spans {
		if attrs(s.Attributes())[tracing.ConnectionID].AsString() != id {
			t.Errorf("span %s lacks ws.connection.id %s", s.Name(), id)
		}
		if s.SpanContext().TraceID() != up.SpanContext().TraceID() {
			t.Errorf("span %s is in another trace", s.Name())
		}
	}
	cl := attrs(named(spans, tracing.SpanClose)[0].Attributes())
	if cl[tracing.CloseCode].AsInt64() != 4000 || cl[tracing.CloseReason].AsString() != "bye" || cl[tracing.ClosedBy].AsString() != "client" {
		t.Errorf("close attributes: %v", cl)
	}
	sess := attrs(named(spans, tracing.SpanSession)[0].Attributes())
	if sess[tracing.MessagesIn].AsInt64() != 1 || sess[tracing.MessagesOut].AsInt64() != 1 {
		t.Errorf("session attributes: %v", sess)
	}

	type frame struct {
		dir    string
		op     int64
		flags  string
		length int64
	}
	var frames []frame
	closeCode := int64(0)
	for _, s := range named(spans, tracing.SpanFrames) {
		for _, ev := range s.Events() {
			a := attrs(ev.Attributes)
			flags := a[tracing.Flags].AsString()
			frames = append(frames, frame{a[tracing.SemNetworkIODirection].AsString(), a[tracing.Opcode].AsInt64(), flags, a[tracing.PayloadLength].AsInt64()})
			if a[tracing.Opcode].AsInt64() == 8 && a[tracing.SemNetworkIODirection].AsString() == "receive" {
				closeCode = a[tracing.CloseCode].AsInt64()
			}
		}
	}
	want := []frame{
		{"receive", 1, "fin masked", 5},
		{"transmit", 1, "fin", 5},
		{"receive", 8, "fin masked", 5}, // 2 bytes of code, "bye"
		{"transmit", 8, "fin", 2},       // the code echoed
	}
	if len(frames) != len(want) {
		t.Fatalf("frames %+v, want %+v", frames, want)
	}
	for i := range want {
		if frames[i] != want[i] {
			t.Errorf("frame %d: %+v, want %+v", i, frames[i], want[i])
		}
	}
	if closeCode != 4000 {
		t.Errorf("close frame code %d", closeCode)
	}
}

// TestTraceFramesControl records only control frames with
// --trace-frames=control, and segments a busy session.
func TestTraceFramesControl(t *testing.T) {
	cfg := testConfig()
	cfg.TraceFrames = tracing.FramesControl
	_, url, rec, log, _ := startTraced(t, cfg)
	c := dial(t, url+"/", nil)
	for range 3 {
		write(t, c, protocol.BinaryMessage, []byte("x"))
		readMsg(t, c)
	}
	if err := c.Close(protocol.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	rec.waitClose(t)
	spans := log.wait(t, "close span", has(tracing.SpanClose, 1))
	n := 0
	for _, s := range named(spans, tracing.SpanFrames) {
		for _, ev := range s.Events() {
			n++
			if op := attrs(ev.Attributes)[tracing.Opcode].AsInt64(); op < 8 {
				t.Errorf("data frame (opcode %d) recorded with control", op)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d control frames recorded, want the two close frames", n)
	}

	// all: 2*150 data frames make several segments of at most segmentFrames.
	cfg.TraceFrames = tracing.FramesAll
	_, url, rec, log, _ = startTraced(t, cfg)
	c = dial(t, url+"/", nil)
	for range 150 {
		write(t, c, protocol.BinaryMessage, []byte("x"))
		readMsg(t, c)
	}
	if err := c.Close(protocol.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	rec.waitClose(t)
	spans = log.wait(t, "close span", has(tracing.SpanClose, 1))
	segs := named(spans, tracing.SpanFrames)
	total := 0
	for _, s := range segs {
		if len(s.Events()) > segmentFrames {
			t.Errorf("segment of %d frames", len(s.Events()))
		}
		total += len(s.Events())
	}
	if len(segs) < 3 || total != 302 {
		t.Errorf("%d segments, %d frames; want at least 3 and 302", len(segs), total)
	}
}

// TestTraceBroadcast checks that a broadcast span links to the sends it
// caused, which sit in the recipients' session traces and link back.
func TestTraceBroadcast(t *testing.T) {
	d, url, _, log, tp := startTraced(t, testConfig())
	var conns []*protocol.Conn
	for range 3 {
		conns = append(conns, dial(t, url+"/", nil))
	}
	log.wait(t, "upgrade spans", has(tracing.SpanUpgrade, 3))
	// The upgrade span ends just before the connection joins the hub.
	waitConns(t, d, 3)
	ctx, parent := tp.Tracer("test").Start(context.Background(), "admin request")
	res := d.BroadcastContext(ctx, session.Selector{}, session.Text, []byte("news"))
	parent.End()
	if res.Matched != 3 || res.Queued != 3 {
		t.Fatalf("broadcast %+v", res)
	}
	for _, c := range conns {
		readMsg(t, c)
	}
	spans := log.wait(t, "broadcast span", has(tracing.SpanBroadcast, 1))
	b := named(spans, tracing.SpanBroadcast)[0]
	if b.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Error("broadcast span is not under the request's span")
	}
	if len(b.Links()) != 3 || attrs(b.Attributes())[tracing.Matched].AsInt64() != 3 {
		t.Fatalf("broadcast links %d, attributes %v", len(b.Links()), b.Attributes())
	}
	sends := named(spans, tracing.SpanSend)
	if len(sends) != 3 {
		t.Fatalf("%d send spans", len(sends))
	}
	ids := map[trace.SpanID]bool{}
	for _, l := range b.Links() {
		ids[l.SpanContext.SpanID()] = true
	}
	for _, s := range sends {
		if !ids[s.SpanContext().SpanID()] {
			t.Errorf("send span %s not linked from the broadcast", s.SpanContext().SpanID())
		}
		if len(s.Links()) != 1 || s.Links()[0].SpanContext.SpanID() != b.SpanContext().SpanID() {
			t.Errorf("send span does not link back to the broadcast")
		}
		if s.SpanContext().TraceID() == b.SpanContext().TraceID() {
			t.Errorf("send span in the broadcast's trace, not the session's")
		}
	}
}

// TestTraceOff: without a provider, or with a no-op one, no session has
// trace state and no frame is traced.
func TestTraceOff(t *testing.T) {
	for name, tp := range map[string]trace.TracerProvider{"nil": nil, "noop": noop.NewTracerProvider()} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			cfg.TraceFrames = tracing.FramesAll
			d, err := New(cfg, Deps{TracerProvider: tp})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Shutdown(context.Background())
			if d.tracer != nil {
				t.Fatal("tracer set")
			}
			req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			if up := d.startUpgrade(req, a, "127.0.0.1:1", time.Now()); up != nil {
				t.Fatal("upgrade traced")
			}
			c := &conn{d: d}
			if c.frameTrace() != nil {
				t.Fatal("frame hook set")
			}
		})
	}
}

func TestCloseCodeLabels(t *testing.T) {
	for code, want := range map[int]string{1000: "1000", 1015: "1015", 1016: "other", 4401: "4401", 4408: "4408",
		4000: "4xxx", 3001: "3xxx", 0: "other", 2000: "other"} {
		if got := codeLabels[codeIndex(code)]; got != want {
			t.Errorf("code %d: label %s, want %s", code, got, want)
		}
	}
	if got := closedByLabels[closedByIndex("nonsense")]; got != "other" {
		t.Errorf("unknown closed_by: %s", got)
	}
}

// TestTraceWebhook: webhook requests of a traced session are client spans
// of its trace, and carry its traceparent to the application.
func TestTraceWebhook(t *testing.T) {
	type hit struct{ event, traceparent string }
	hits := make(chan hit, 8)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits <- hit{r.Header.Get(hdrEvent), r.Header.Get("Traceparent")}
		if r.Header.Get(hdrEvent) == "" {
			w.WriteHeader(http.StatusServiceUnavailable) // a failed delivery
		}
	}))
	defer app.Close()
	cfg := testConfig()
	cfg.Routes = []Route{{Path: "/hook", Handler: HandlerWebhook, Arg: app.URL + "/in?secret=x"}}
	_, url, rec, log, _ := startTraced(t, cfg)
	c := dial(t, url+"/hook", nil)
	write(t, c, protocol.TextMessage, []byte("hi"))
	spans := log.wait(t, "webhook spans", has(tracing.SpanWebhook+" message", 1))
	up := named(spans, tracing.SpanUpgrade)[0]
	for _, name := range []string{"connect", "message"} {
		s := named(spans, tracing.SpanWebhook+" "+name)[0]
		a := attrs(s.Attributes())
		if s.SpanContext().TraceID() != up.SpanContext().TraceID() || s.Parent().SpanID() != up.SpanContext().SpanID() ||
			s.SpanKind() != trace.SpanKindClient || a[tracing.SemURLFull].AsString() != app.URL+"/in" {
			t.Errorf("webhook %s span: parent %v kind %v attributes %v", name, s.Parent(), s.SpanKind(), s.Attributes())
		}
	}
	if a := attrs(named(spans, tracing.SpanWebhook+" message")[0].Attributes()); a[tracing.SemErrorType].AsString() != "status_5xx" ||
		a[tracing.SemHTTPResponseStatus].AsInt64() != 503 {
		t.Errorf("failed delivery span: %v", a)
	}
	for range 2 {
		h := <-hits
		if !strings.Contains(h.traceparent, up.SpanContext().TraceID().String()) {
			t.Errorf("%q request carries traceparent %q, not the session's trace", h.event, h.traceparent)
		}
	}
	c.CloseNow()
	rec.waitClose(t)
}

// TestTraceRefusedUpgrade: a refused handshake is an upgrade span with the
// status and reason of the refusal.
func TestTraceRefusedUpgrade(t *testing.T) {
	cfg := testConfig()
	cfg.Routes = []Route{{Path: "/only", Handler: HandlerEcho}}
	_, url, _, log, _ := startTraced(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, _, err := protocol.Dial(ctx, url+"/elsewhere", nil); err == nil {
		c.CloseNow()
		t.Fatal("dial to no route succeeded")
	}
	s := named(log.wait(t, "upgrade span", has(tracing.SpanUpgrade, 1)), tracing.SpanUpgrade)[0]
	a := attrs(s.Attributes())
	if a[tracing.SemHTTPResponseStatus].AsInt64() != 404 || a[tracing.SemErrorType].AsString() != "no_route" || s.Status().Code.String() != "Error" {
		t.Errorf("refused upgrade span: %v %v", s.Attributes(), s.Status())
	}
}
