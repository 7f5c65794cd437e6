package loadgen

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/protocol"
)

// Every run is bounded by Count where it can be, else by a short Duration,
// against a server on loopback.

func mustRun(t *testing.T, ctx context.Context, cfg Config) *Result {
	t.Helper()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Errors != 0 {
		t.Errorf("%d errors, first: %s", res.Errors, res.FirstError)
	}
	return res
}

func TestEcho(t *testing.T) {
	for _, c := range []struct {
		name     string
		pipeline int
		size     int
	}{
		{"closed loop", 1, 32},
		{"pipelined", 4, 32},
		{"large messages", 1, 10_000}, // a whole-frame write buffer
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newTestServer(t, nil)
			res := mustRun(t, t.Context(), Config{URL: s.URL, Conns: 3, Size: c.size, Count: 60, Pipeline: c.pipeline, Duration: time.Minute})
			if res.Operations != 60 || res.Unit != "msgs" {
				t.Errorf("done %d %s, want 60 msgs", res.Operations, res.Unit)
			}
			if res.Scenario != ScenarioEcho || res.Size != c.size || res.Pipeline != c.pipeline || res.Connections != 3 || res.Sources != 1 {
				t.Errorf("result describes the wrong run: %+v", res)
			}
			if l := res.Latency; l == nil || l.P50MS <= 0 || l.P50MS > l.P99MS || l.P99MS > l.P999MS || l.P999MS > l.MaxMS {
				t.Errorf("latency %+v: want 0 < p50 <= p99 <= p99.9 <= max", res.Latency)
			}
			if res.Rate <= 0 || res.ElapsedS <= 0 {
				t.Errorf("rate %v over %vs, want positive", res.Rate, res.ElapsedS)
			}
			if accepted, _, _ := s.stats(); accepted != 3 {
				t.Errorf("server accepted %d connections, want 3", accepted)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.got) != 60 || s.got[0] != "binary" {
				t.Errorf("server got %d messages (first %v), want 60 binary", len(s.got), s.got[:min(1, len(s.got))])
			}
		})
	}
}

// An echo run with neither Count nor an early end stops after Duration.
func TestEchoDuration(t *testing.T) {
	s := newTestServer(t, nil)
	res := mustRun(t, t.Context(), Config{URL: s.URL, Conns: 2, Size: 8, Duration: 100 * time.Millisecond, Text: true})
	if res.Operations == 0 || res.ElapsedS < 0.1 {
		t.Errorf("done %d over %vs, want some over at least 0.1s", res.Operations, res.ElapsedS)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.got[0] != "text" {
		t.Errorf("server got %s messages, want text", s.got[0])
	}
}

// A server that fails the connections shows as errors, not as a failed run.
func TestEchoServerGone(t *testing.T) {
	s := newTestServer(t, func(s *testServer) { s.hold = make(chan struct{}) })
	var closed atomic.Bool
	cfg := Config{URL: s.URL, Conns: 2, Size: 8, Count: 100, Duration: time.Minute, ProgressEvery: time.Millisecond,
		Progress: func(p Progress) {
			// Once the first messages wait in the server, cut every
			// connection there.
			s.mu.Lock()
			n := len(s.got)
			s.mu.Unlock()
			if n == 2 && closed.CompareAndSwap(false, true) {
				s.mu.Lock()
				for c := range s.conns {
					c.CloseNow()
				}
				s.mu.Unlock()
				close(s.hold)
			}
		}}
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Errors != 2 || res.FirstError == "" || res.Operations != 0 {
		t.Errorf("%d errors (first %q), %d operations; want 2 errors and none done", res.Errors, res.FirstError, res.Operations)
	}
}

// Progress reports while the run goes on: the server holds the first echo
// until a report came, so the run cannot end before one.
func TestProgress(t *testing.T) {
	s := newTestServer(t, func(s *testServer) { s.hold = make(chan struct{}) })
	var reports atomic.Int64
	cfg := Config{URL: s.URL, Conns: 1, Size: 8, Count: 3, Duration: time.Minute, ProgressEvery: time.Millisecond,
		Progress: func(p Progress) {
			if reports.Add(1) == 1 {
				// While the connection opens, it is the operation counted.
				if p.Elapsed <= 0 || p.Operations > 1 || p.Errors != 0 {
					t.Errorf("first report %+v: want time passed, no echo done, no errors", p)
				}
				close(s.hold)
			}
		}}
	res := mustRun(t, t.Context(), cfg)
	if res.Operations != 3 || reports.Load() == 0 {
		t.Errorf("%d operations, %d reports; want 3 and some", res.Operations, reports.Load())
	}
}

func TestIdle(t *testing.T) {
	s := newTestServer(t, nil)
	res := mustRun(t, t.Context(), Config{URL: s.URL, Scenario: ScenarioIdle, Conns: 12, Duration: 50 * time.Millisecond, DialWorkers: 4})
	if res.Operations != 12 || res.Unit != "connections" || res.Rate <= 0 {
		t.Errorf("done %d %s at %v/s, want 12 connections", res.Operations, res.Unit, res.Rate)
	}
	if res.Latency == nil {
		t.Error("no handshake latency")
	}
	if _, peak, _ := s.stats(); peak != 12 {
		t.Errorf("server held %d connections at once, want 12", peak)
	}
}

// Cancelling the context ends a hold early, with what was opened.
func TestIdleCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s := newTestServer(t, func(s *testServer) {
		s.onCount = func(n int) {
			if n == 5 {
				cancel()
			}
		}
	})
	start := time.Now()
	res, err := Run(ctx, Config{URL: s.URL, Scenario: ScenarioIdle, Conns: 5, Duration: time.Hour, DialWorkers: 1})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Operations == 0 || time.Since(start) > time.Minute {
		t.Errorf("%d connections in %v: want some, and an early end", res.Operations, time.Since(start))
	}
}

func TestChurn(t *testing.T) {
	s := newTestServer(t, nil)
	res := mustRun(t, t.Context(), Config{URL: s.URL, Scenario: ScenarioChurn, Conns: 2, Count: 20, Duration: time.Minute})
	if res.Operations != 20 || res.Unit != "handshakes" {
		t.Errorf("done %d %s, want 20 handshakes", res.Operations, res.Unit)
	}
	if accepted, _, _ := s.stats(); accepted != 20 {
		t.Errorf("server accepted %d, want 20", accepted)
	}
}

func TestBroadcast(t *testing.T) {
	t.Run("function", func(t *testing.T) {
		s := newTestServer(t, func(s *testServer) { s.receivers = 5 })
		var payloads atomic.Int64
		send := func(ctx context.Context, p []byte) (int64, error) {
			if string(p) != "abcdefghij" {
				t.Errorf("payload %q, want the text pattern", p)
			}
			payloads.Add(1)
			return s.broadcast(ctx, p)
		}
		res := mustRun(t, t.Context(), Config{URL: s.URL, Scenario: ScenarioBroadcast, Conns: 5, Count: 3, Size: 10, Text: true, Duration: time.Minute, Broadcast: send})
		if res.Operations != 3 || res.Deliveries != 15 || res.Unit != "broadcasts" || payloads.Load() != 3 {
			t.Errorf("done %d %s, %d deliveries, %d sent; want 3 broadcasts, 15 deliveries", res.Operations, res.Unit, res.Deliveries, payloads.Load())
		}
		if res.Latency == nil || res.Size != 10 {
			t.Errorf("latency %v, size %d; want a latency and size 10", res.Latency, res.Size)
		}
	})
	t.Run("trigger", func(t *testing.T) {
		s := newTestServer(t, func(s *testServer) { s.receivers = 4 })
		res := mustRun(t, t.Context(), Config{URL: s.URL, Scenario: ScenarioBroadcast, Conns: 4, Count: 2, Size: 100, Duration: time.Minute,
			Broadcast: Trigger(s.Server.URL+"/broadcast", s.Server.Client())})
		if res.Operations != 2 || res.Deliveries != 8 {
			t.Errorf("done %d, %d deliveries; want 2 and 8", res.Operations, res.Deliveries)
		}
	})
	t.Run("short", func(t *testing.T) {
		s := newTestServer(t, nil)
		send := func(ctx context.Context, p []byte) (int64, error) { return 1, nil }
		res, err := Run(t.Context(), Config{URL: s.URL, Scenario: ScenarioBroadcast, Conns: 2, Count: 1, Duration: time.Minute, Broadcast: send})
		if err == nil || !strings.Contains(err.Error(), "queued for 1 connections of the 2 receivers") || res == nil {
			t.Errorf("Run = %v, %v; want the result and a short-queue error", res, err)
		}
	})
	t.Run("failing", func(t *testing.T) {
		s := newTestServer(t, nil)
		boom := errors.New("boom")
		send := func(ctx context.Context, p []byte) (int64, error) { return 0, boom }
		_, err := Run(t.Context(), Config{URL: s.URL, Scenario: ScenarioBroadcast, Conns: 1, Count: 1, Duration: time.Minute, Broadcast: send})
		if !errors.Is(err, boom) {
			t.Errorf("Run error %v, want it to wrap %v", err, boom)
		}
	})
}

// Connections that cannot open fail the run (echo) with the dial error.
func TestOpenFails(t *testing.T) {
	s := newTestServer(t, nil)
	url := s.URL
	s.Server.Close()
	res, err := Run(t.Context(), Config{URL: url, Conns: 3, Count: 1})
	if err == nil || !strings.Contains(err.Error(), "open 3 connections") || res == nil || res.Errors == 0 {
		t.Errorf("Run = %+v, %v; want errors and an open failure", res, err)
	}
}

func TestServerReadings(t *testing.T) {
	if !haveProc {
		t.Skip("no /proc on this system")
	}
	s := newTestServer(t, nil)
	// The server is this process.
	res := mustRun(t, t.Context(), Config{URL: s.URL, Scenario: ScenarioIdle, Conns: 4, Duration: 20 * time.Millisecond, PID: os.Getpid()})
	if res.ServerRSS <= 0 {
		t.Errorf("server RSS %d, want positive", res.ServerRSS)
	}
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Error(err)
	}
	if _, err := procCPU(-1); err == nil {
		t.Error("procCPU of no process: no error")
	}
}

func TestValidate(t *testing.T) {
	ok := Config{URL: "ws://127.0.0.1:1/", Conns: 1}
	if err := ok.Validate(); err != nil {
		t.Fatalf("minimal config: %v", err)
	}
	if ok.Scenario != ScenarioEcho || ok.Duration != DefaultDuration || ok.Pipeline != 1 || ok.DialWorkers != DefaultDialWorkers || ok.Sources != 1 || ok.ProgressEvery != DefaultProgress {
		t.Errorf("defaults not filled in: %+v", ok)
	}
	for _, c := range []struct {
		cfg     Config
		sources int
	}{
		{Config{URL: "ws://127.0.0.1/", Conns: PerSource}, 1},
		{Config{URL: "ws://127.0.0.1/", Conns: PerSource + 1}, 2},
		{Config{URL: "ws://127.0.0.1/", Conns: PerSource + 1, Scenario: ScenarioChurn}, 1},
		{Config{URL: "ws://[::1]/", Conns: PerSource + 1}, 1},
		{Config{URL: "ws://example.com/", Conns: 3 * PerSource}, 1},
		{Config{URL: "ws://127.0.0.1/", Conns: 3 * PerSource, Sources: 7}, 7},
	} {
		if err := c.cfg.Validate(); err != nil || c.cfg.Sources != c.sources {
			t.Errorf("%s %d conns to %s: sources %d (%v), want %d", c.cfg.Scenario, c.cfg.Conns, c.cfg.URL, c.cfg.Sources, err, c.sources)
		}
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{URL: "ws://x/", Conns: 1, Scenario: "warp"}, `unknown scenario "warp"`},
		{Config{URL: "http://x/", Conns: 1}, "want a ws:// or wss:// URL"},
		{Config{URL: "ws://x/"}, "connections must be at least 1"},
		{Config{URL: "ws://x/", Conns: 1, Size: MaxSize + 1}, "size"},
		{Config{URL: "ws://x/", Conns: 1, Size: -1}, "size"},
		{Config{URL: "ws://x/", Conns: 1, Duration: -1}, "duration"},
		{Config{URL: "ws://x/", Conns: 1, Count: -1}, "count"},
		{Config{URL: "ws://x/", Conns: 1, Pipeline: -1}, "pipeline"},
		{Config{URL: "ws://x/", Conns: 1, DialWorkers: -1}, "dial workers"},
		{Config{URL: "ws://x/", Conns: 1, Sources: 251}, "sources"},
		{Config{URL: "ws://x/", Conns: 1, Scenario: ScenarioBroadcast}, ErrNoBroadcast.Error()},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.cfg, err, c.want)
		}
		if res, err := Run(t.Context(), c.cfg); res != nil || err == nil {
			t.Errorf("Run of an invalid config = %v, %v; want nil and an error", res, err)
		}
	}
}

// Echo connections get a write buffer that holds a whole frame, so that a
// message costs the load generator one write system call; other scenarios
// and small messages keep the protocol's default.
func TestWriteBuffer(t *testing.T) {
	for _, c := range []struct {
		scenario string
		size     int
		want     int
	}{
		{ScenarioEcho, 1024, 0},
		{ScenarioEcho, protocol.DefaultBufferSize - maxFrameHeader, 0},
		{ScenarioEcho, 65536, 65536 + maxFrameHeader},
		{ScenarioEcho, 64 << 20, maxBenchWriteBuffer},
		{ScenarioBroadcast, 65536, 0},
		{ScenarioChurn, 65536, 0},
	} {
		r := &run{cfg: &Config{Scenario: c.scenario, Size: c.size}}
		if got := r.dialOptions().WriteBufferSize; got != c.want {
			t.Errorf("%s size %d: write buffer %d, want %d", c.scenario, c.size, got, c.want)
		}
	}
}

func TestLatencies(t *testing.T) {
	var a, b latencies
	if a.quantile(0.5) != 0 {
		t.Error("quantile of no samples is not 0")
	}
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i) * time.Microsecond
		if i%2 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	a.merge(&b)
	a.record(-time.Second) // clamped into the first bucket
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, 1000 * time.Microsecond}} {
		got := a.quantile(c.q)
		if diff := got - c.want; diff < -c.want/30 || diff > c.want/30 {
			t.Errorf("q%v = %v, want %v within 3%%", c.q, got, c.want)
		}
	}
	if a.n != 1001 || a.max != time.Millisecond {
		t.Errorf("n %d max %v, want 1001 and 1ms", a.n, a.max)
	}
	for _, d := range []time.Duration{0, 63, 64, 1000, time.Millisecond, time.Hour} {
		if v := latencyValue(latencyBucket(d)); d >= 64 && (v < d-d/32 || v > d+d/32) {
			t.Errorf("%v lands in a bucket worth %v", d, v)
		} else if d < 64 && v != d {
			t.Errorf("%v lands in a bucket worth %v", d, v)
		}
	}
}
