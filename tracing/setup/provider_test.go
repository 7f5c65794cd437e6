package setup

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/tracing"
)

func TestNewNoop(t *testing.T) {
	p, err := New(context.Background(), Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Enabled() || !tracing.IsNoop(p.TracerProvider()) {
		t.Fatal("tracing on without configuration")
	}
	_, span := p.TracerProvider().Tracer("t").Start(context.Background(), "x")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Fatal("no-op provider records")
	}
	span.End()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.Stats() != (Stats{}) {
		t.Fatal("stats without tracing")
	}
}

// blackhole accepts TCP connections and never answers: a collector that
// hangs, the worst case for a shutdown.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestShutdownCollectorDown: a collector that hangs, or refuses
// connections, never holds the shutdown past its deadline.
func TestShutdownCollectorDown(t *testing.T) {
	refused := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}()
	hang := blackhole(t)
	for _, tc := range []struct{ name, protocol, addr string }{
		{"grpc hangs", ProtocolGRPC, hang},
		{"http hangs", ProtocolHTTPProtobuf, hang},
		{"grpc refused", ProtocolGRPC, refused},
		{"http refused", ProtocolHTTPProtobuf, refused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := FromEnv(env(map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + tc.addr,
				"OTEL_EXPORTER_OTLP_PROTOCOL": tc.protocol,
				"OTEL_EXPORTER_OTLP_TIMEOUT":  "10000", // longer than the shutdown bound
			}))
			if err != nil {
				t.Fatal(err)
			}
			cfg.ShutdownTimeout = 500 * time.Millisecond
			p, err := New(context.Background(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			for range 10 {
				_, s := p.TracerProvider().Tracer("t").Start(context.Background(), "x")
				s.End()
			}
			start := time.Now()
			err = p.Shutdown(context.Background())
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("shutdown took %v with the collector down", d)
			}
			t.Logf("shutdown: %v after %v", err, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestExportCounts exports to a fake OTLP/HTTP collector and checks the
// pipeline counters and the request it received.
func TestExportCounts(t *testing.T) {
	var got atomic.Int32
	var path, ctype atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path.Store(r.URL.Path)
		ctype.Store(r.Header.Get("Content-Type"))
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			t.Error(err)
		}
		got.Add(1)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	cfg, err := FromEnv(env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL, "OTEL_EXPORTER_OTLP_HEADERS": "x-token=abc"}))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := p.TracerProvider().Tracer("t")
	for range 5 {
		_, s := tr.Start(context.Background(), "x")
		s.End()
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.Ended != 5 || st.Exported != 5 || st.ExportFailed != 0 || got.Load() == 0 {
		t.Fatalf("stats %+v after %d requests", st, got.Load())
	}
	if path.Load() != "/v1/traces" || ctype.Load() != "application/x-protobuf" {
		t.Errorf("request to %v as %v", path.Load(), ctype.Load())
	}
}
