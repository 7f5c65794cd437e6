package daemon

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/tracing"
	"github.com/wsd-dev/wsd/tracing/setup"
)

// BenchmarkFrameEvent measures one frame of a traced session with
// --trace-frames=all: the event on its segment and its share of the export
// (OTLP/HTTP to a server that discards), which runs on the batch
// processor's goroutine. cpu-ns/op is the process's CPU time per frame,
// export and garbage collection included:
//
//	go test -run XXX -bench FrameEvent -benchtime 300000x ./daemon
func BenchmarkFrameEvent(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			b.Error(err)
		}
	}))
	defer srv.Close()
	cfg, err := setup.FromEnv(func(k string) string {
		return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL, "OTEL_TRACES_SAMPLER": "always_on"}[k]
	})
	if err != nil {
		b.Fatal(err)
	}
	p, err := setup.New(context.Background(), cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	tr := p.TracerProvider().Tracer("bench")
	ctx, up := tr.Start(context.Background(), tracing.SpanUpgrade)
	up.End()
	ct := &connTrace{tracer: tr, parent: ctx, id: tracing.ConnectionID.String("01JABCDEFGHJKMNPQRSTVWXYZ0"), frames: tracing.FramesAll}
	ev := protocol.FrameEvent{Direction: protocol.Inbound, Opcode: protocol.OpBinary, Fin: true, Masked: true, Length: 1024}
	b.ReportAllocs()
	b.ResetTimer()
	before := cpuTime()
	for range b.N {
		ct.frame(ev)
	}
	ct.mu.Lock()
	ct.endSegmentLocked(time.Now())
	ct.mu.Unlock()
	if err := p.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cpuTime()-before)/float64(b.N), "cpu-ns/op")
	if st := p.Stats(); st.Exported != st.Ended {
		b.Errorf("spans %+v: not all exported", st)
	}
}

// cpuTime returns the process's user and system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
