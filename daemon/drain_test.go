package daemon

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

func TestDrainPlan(t *testing.T) {
	for _, tc := range []struct {
		n       int
		over    time.Duration
		batches int
		every   time.Duration
	}{
		{0, time.Second, 0, 0},
		{10, 0, 1, 0},
		{10, time.Second, 10, 100 * time.Millisecond},
		{1000, time.Second, 100, 10 * time.Millisecond},
		{5, 5 * time.Millisecond, 1, 5 * time.Millisecond},
	} {
		b, e := drainPlan(tc.n, tc.over)
		if b != tc.batches || e != tc.every {
			t.Errorf("drainPlan(%d, %v) = %d, %v; want %d, %v", tc.n, tc.over, b, e, tc.batches, tc.every)
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCordonAndDrain(t *testing.T) {
	d, url, rec := startDaemon(t, testConfig())
	const n = 40
	clients := make([]*protocol.Conn, n)
	for i := range clients {
		clients[i] = dial(t, url+"/", nil)
	}
	waitFor(t, "registrations", func() bool { return d.Count(session.Selector{}) == n })

	d.Cordon()
	if d.Ready() {
		t.Fatal("ready while cordoned")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := protocol.Dial(ctx, url+"/", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("upgrade while cordoned: %v %v", resp, err)
	}
	if err := d.Uncordon(); err != nil || !d.Ready() {
		t.Fatalf("uncordon: %v, ready %v", err, d.Ready())
	}

	over := 400 * time.Millisecond
	start := time.Now()
	st, err := d.Drain(context.Background(), session.Selector{}, over, 1012, "drain")
	if err != nil || !st.Running || st.Total != n {
		t.Fatalf("drain: %+v %v", st, err)
	}
	if _, err := d.Drain(context.Background(), session.Selector{}, over, 1012, "drain"); !errors.Is(err, session.ErrDrainRunning) {
		t.Fatalf("second drain: %v", err)
	}
	if err := d.Uncordon(); !errors.Is(err, session.ErrDrainRunning) {
		t.Fatalf("uncordon during a drain: %v", err)
	}
	for _, c := range clients {
		_, _, err := c.Read(ctx)
		var ce *protocol.CloseError
		if !errors.As(err, &ce) || ce.Code != 1012 || ce.Reason != "drain" {
			t.Fatalf("client read: %v", err)
		}
	}
	if took := time.Since(start); took < over/2 {
		t.Fatalf("drain over %v took %v: not paced", over, took)
	}
	for range n {
		if c := rec.waitClose(t); c.ClosedBy != session.ClosedByDrain || c.CloseCode != 1012 {
			t.Fatalf("recorded %+v", c)
		}
	}
	waitFor(t, "drain end", func() bool { st, _ := d.DrainStatus(); return !st.Running })
	st, ok := d.DrainStatus()
	if !ok || st.Closed != n || st.Remaining != 0 || st.Error != "" || st.FinishedAt.IsZero() {
		t.Fatalf("status %+v", st)
	}
	if d.Ready() {
		t.Fatal("ready after a drain: it stays cordoned")
	}
	if err := d.Uncordon(); err != nil || !d.Ready() {
		t.Fatalf("uncordon after the drain: %v", err)
	}
	dial(t, url+"/", nil)
}

// TestDrainShutdown: Shutdown cuts a long drain short; what it left is
// closed as shutdown.
func TestDrainShutdown(t *testing.T) {
	d, url, rec := startDaemon(t, testConfig())
	for range 3 {
		dial(t, url+"/", nil)
	}
	waitFor(t, "registrations", func() bool { return d.Count(session.Selector{}) == 3 })
	if _, err := d.Drain(context.Background(), session.Selector{}, time.Hour, 1012, ""); err != nil {
		t.Fatal(err)
	}
	if err := d.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, _ := d.DrainStatus()
	if st.Running || !strings.Contains(st.Error, "shutting down") {
		t.Fatalf("status %+v", st)
	}
	for range 3 {
		if c := rec.waitClose(t); c.ClosedBy != session.ClosedByShutdown && c.ClosedBy != session.ClosedByDrain {
			t.Fatalf("recorded %+v", c)
		}
	}
	if _, err := d.Drain(context.Background(), session.Selector{}, 0, 1012, ""); !errors.Is(err, session.ErrDraining) {
		t.Fatalf("drain after shutdown: %v", err)
	}
}

// TestMeasureDrainPacing drains N connections over a window and reports
// when their clients saw the close, per tenth of the window: how evenly a
// drain spreads the reconnections. Skipped unless WSD_MEASURE_DRAIN=N
// (optionally WSD_MEASURE_DRAIN_OVER=3s):
//
//	WSD_MEASURE_DRAIN=1000 go test -run TestMeasureDrainPacing -v ./daemon
func TestMeasureDrainPacing(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("WSD_MEASURE_DRAIN"))
	if n <= 0 {
		t.Skip("set WSD_MEASURE_DRAIN=N to measure")
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if need := uint64(2*n + 200); lim.Cur < need {
		// Both ends of every connection are in this process.
		t.Fatalf("%d connections need %d open files here; the limit is %d", n, need, lim.Cur)
	}
	over := 3 * time.Second
	if v := os.Getenv("WSD_MEASURE_DRAIN_OVER"); v != "" {
		var err error
		if over, err = time.ParseDuration(v); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig()
	cfg.MaxConnections = n + 10
	d, url, _ := startDaemon(t, cfg)
	seen := make(chan time.Time, n)
	for range n {
		c := dial(t, url+"/", nil)
		go func() {
			_, _, err := c.Read(context.Background())
			if err != nil {
				seen <- time.Now()
			}
		}()
	}
	waitFor(t, "registrations", func() bool { return d.Count(session.Selector{}) == n })
	start := time.Now()
	if _, err := d.Drain(context.Background(), session.Selector{}, over, 1012, "drain"); err != nil {
		t.Fatal(err)
	}
	buckets := make([]int, 11)
	var last time.Duration
	for range n {
		at := (<-seen).Sub(start)
		last = max(last, at)
		buckets[min(int(at*10/over), 10)]++
	}
	t.Logf("%d connections drained over %v: last close seen after %v; per tenth of the window: %v (ideal %d each)", n, over, last.Round(time.Millisecond), buckets, n/10)
}
