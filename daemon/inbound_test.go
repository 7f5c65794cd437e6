package daemon

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// flood writes n messages of size bytes as fast as the socket takes them,
// stopping at the first error (the server closed the connection).
func flood(c *protocol.Conn, n, size int) (sent int) {
	msg := make([]byte, size)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for sent < n {
		if err := c.Write(ctx, protocol.BinaryMessage, msg); err != nil {
			return sent
		}
		sent++
	}
	return sent
}

func TestInboundLimits(t *testing.T) {
	for _, tc := range []struct {
		name  string
		set   func(*Config)
		size  int
		limit string
	}{
		{"messages", func(c *Config) { c.MaxMessagesPerSecond = 100 }, 32, "messages"},
		{"bytes", func(c *Config) { c.MaxBytesPerSecond = 64 << 10; c.MaxMessageSize = 16 << 10 }, 8 << 10, "bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Routes = []Route{{Path: "/", Handler: HandlerSink}}
			tc.set(&cfg)
			rec := newMemRecorder()
			reg := prometheus.NewPedanticRegistry()
			d, url := startDaemonDeps(t, cfg, Deps{Recorder: rec, Metrics: reg})

			// Within the burst: nothing happens.
			ok := dial(t, url+"/", nil)
			flood(ok, 50, tc.size/8)
			waitConns(t, d, 1)

			c := dial(t, url+"/", nil)
			read := make(chan error, 1)
			go func() {
				_, _, err := c.Read(context.Background())
				read <- err
			}()
			start := time.Now()
			sent := flood(c, 100000, tc.size)
			var ce *protocol.CloseError
			if err := <-read; !errors.As(err, &ce) || ce.Code != protocol.StatusPolicyViolation {
				t.Fatalf("flood: read %v, want a 1008 close", err)
			}
			sc := rec.waitClose(t)
			t.Logf("inbound %s limit: closed %v after %d messages of %d bytes; recorded %s %d %q; metric %v",
				tc.limit, time.Since(start), sent, tc.size, sc.ClosedBy, sc.CloseCode, sc.CloseReason, scrapeLabelled(t, reg, "wsd_inbound_limit_closes_total", tc.limit))
			if sc.ClosedBy != session.ClosedByPolicy || sc.CloseCode != 1008 {
				t.Fatalf("recorded %+v, want policy 1008", sc)
			}
			if got := scrapeLabelled(t, reg, "wsd_inbound_limit_closes_total", tc.limit); got != 1 {
				t.Fatalf("wsd_inbound_limit_closes_total{limit=%q} %v, want 1", tc.limit, got)
			}
			if got := d.Stats().ClosedBy[session.ClosedByPolicy]; got != 1 {
				t.Fatalf("stats closed_by policy %d, want 1", got)
			}
			waitConns(t, d, 1) // the polite one stays
		})
	}
}

// scrapeLabelled returns the value of the series of name whose one label
// has value v.
func scrapeLabelled(t *testing.T, reg prometheus.Gatherer, name, v string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == v {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("metric %s{%s} not found", name, v)
	return 0
}
