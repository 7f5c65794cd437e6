package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/admin/apitype"
	"github.com/wsd-dev/wsd/protocol"
)

// The child process of TestMeasureDrainReconnect holds the clients: one
// process cannot hold both ends of 10,000 connections twice over (the
// open-file limit is about 20,000). These variables tell it where to
// connect; TestMain does not build wsd for it.
const (
	drainChildA = "WSD_DRAIN_CHILD_A" // the drained node's WebSocket address
	drainChildB = "WSD_DRAIN_CHILD_B" // the rest of the fleet's
	drainChildN = "WSD_DRAIN_CHILD_N" // how many clients
)

// drainChildResult is what the child reports once every client has
// reconnected (or given up).
type drainChildResult struct {
	Reconnected int            `json:"reconnected"`
	Failed      int            `json:"failed"`
	Codes       map[string]int `json:"codes"` // close codes seen from A
	FirstError  string         `json:"first_error,omitempty"`
}

// TestMeasureDrainReconnect measures the reconnect rate that the rest of
// a fleet sees while one node is drained: N clients (default 10,000) on
// node A, in a child process, reconnect to node B as soon as A closes
// them, as naive clients behind a load balancer do. It compares a drain
// over a window (default 30 s) with a SIGTERM shutdown (all at once), from
// B's own record of when each reconnection came (its history's
// connected_at). Skipped unless WSD_MEASURE_DRAIN_RECONNECT=1:
//
//	WSD_MEASURE_DRAIN_RECONNECT=1 go test -run TestMeasureDrainReconnect -v -timeout 20m ./cmd/wsd
//
// WSD_MEASURE_DRAIN_RECONNECT_N and _OVER change the count and window.
func TestMeasureDrainReconnect(t *testing.T) {
	if os.Getenv(drainChildA) != "" {
		drainChild(t)
		return
	}
	if os.Getenv("WSD_MEASURE_DRAIN_RECONNECT") == "" {
		t.Skip("set WSD_MEASURE_DRAIN_RECONNECT=1 to measure")
	}
	n, over := 10000, 30*time.Second
	if v := os.Getenv("WSD_MEASURE_DRAIN_RECONNECT_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			t.Fatalf("WSD_MEASURE_DRAIN_RECONNECT_N=%q", v)
		}
	}
	if v := os.Getenv("WSD_MEASURE_DRAIN_RECONNECT_OVER"); v != "" {
		var err error
		if over, err = time.ParseDuration(v); err != nil || over <= 0 {
			t.Fatalf("WSD_MEASURE_DRAIN_RECONNECT_OVER=%q", v)
		}
	}
	var rows []string
	for _, mode := range []string{"drain", "sigterm"} {
		rows = append(rows, measureReconnects(t, mode, n, over))
	}
	t.Logf("reconnects per second at B while A's %d clients move to it (1s-: over whole seconds; peak: busiest 100 ms × 10):\n%-22s %7s %7s %6s %9s %8s %8s %8s %12s\n%s",
		n, "A stopped by", "moved", "failed", "secs", "1s-min", "1s-med", "1s-max", "peak/s", "busiest 1s",
		strings.Join(rows, "\n"))
}

// measureReconnects runs one round: fresh nodes A and B, n clients on A
// that reconnect to B, A stopped by mode; it logs B's reconnects per
// second and returns a table row.
func measureReconnects(t *testing.T, mode string, n int, over time.Duration) string {
	t.Helper()
	args := []string{"--log-level", "info", "--max-connections", strconv.Itoa(n + 100),
		"--ping-interval", "1h", "--pong-timeout", "1h", "--drain-timeout", "60s"}
	a := startWSD(t, wsdOpts{args: args})
	b := startWSD(t, wsdOpts{args: args})
	admin := adminClient(t, a, "ops", "admin")
	ctx := testCtx(t, 10*time.Minute)

	cmd := exec.Command(os.Args[0], "-test.run=^TestMeasureDrainReconnect$", "-test.count=1", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), drainChildA+"="+a.Addr, drainChildB+"="+b.Addr, drainChildN+"="+strconv.Itoa(n))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	exited := false
	defer func() {
		if !exited {
			cmd.Process.Kill()
			for range lines { // until the pipe closes
			}
			cmd.Wait()
		}
		if t.Failed() {
			t.Logf("child's stderr:\n%s", stderr.String())
		}
	}()
	// expect waits for the child's line with that prefix and returns the
	// rest.
	expect := func(prefix string, within time.Duration) string {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("child ended before %q: %s", prefix, stderr.String())
				}
				if rest, ok := strings.CutPrefix(l, prefix); ok {
					return rest
				}
			case <-deadline:
				t.Fatalf("no %q from the child within %v", prefix, within)
			}
		}
	}

	dialStart := time.Now()
	expect("READY", 5*time.Minute)
	pollUntil(t, "A's clients all live", time.Minute, func() bool {
		st, err := admin.Stats(ctx)
		return err == nil && st.Connections == n
	})
	t.Logf("%s: %d clients on A in %v", mode, n, time.Since(dialStart).Round(time.Millisecond))

	start := time.Now()
	switch mode {
	case "drain":
		if _, err := admin.Drain(ctx, "", apitype.DrainRequest{Over: over.String()}); err != nil {
			t.Fatal(err)
		}
	case "sigterm":
		a.signal(syscall.SIGTERM)
	}
	var res drainChildResult
	if err := json.Unmarshal([]byte(expect("DONE ", over+5*time.Minute)), &res); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	exited = true
	if mode == "sigterm" {
		if code := a.wait(time.Minute); code != 0 {
			t.Errorf("A exited %d", code)
		}
	}
	if res.Failed > 0 {
		t.Errorf("%s: %d clients could not reconnect (first error: %s)", mode, res.Failed, res.FirstError)
	}

	// B's record of the reconnections.
	var at []time.Duration
	pollUntil(t, "B's history of every reconnection", time.Minute, func() bool {
		at = connectedSince(t, b.StateDir, start)
		return len(at) >= res.Reconnected
	})
	slices.Sort(at)
	perSec := make([]int, int(at[len(at)-1]/time.Second)+1)
	per100 := make([]int, int(at[len(at)-1]/(100*time.Millisecond))+1)
	for _, d := range at {
		perSec[int(d/time.Second)]++
		per100[int(d/(100*time.Millisecond))]++
	}
	// min, median and max over the whole seconds (the last one is cut
	// short by the last reconnection).
	whole := perSec
	if len(whole) > 1 {
		whole = whole[:len(whole)-1]
	}
	sorted := slices.Sorted(slices.Values(whole))
	peak := slices.Max(per100) * 10
	busiest := slices.Index(perSec, sorted[len(sorted)-1])
	t.Logf("%s: A's close codes %v; %d reconnected within %v; last reconnect at %v; reconnects at B per 1 s: %v",
		mode, res.Codes, res.Reconnected, elapsed.Round(time.Millisecond), at[len(at)-1].Round(time.Millisecond), perSec)
	label := mode
	if mode == "drain" {
		label = "drain --over " + over.String()
	}
	return fmt.Sprintf("%-22s %7d %7d %6.1f %9d %8d %8d %8d %12s", label, res.Reconnected, res.Failed, at[len(at)-1].Seconds(),
		sorted[0], sorted[len(sorted)/2], sorted[len(sorted)-1], peak, fmt.Sprintf("[%d s, %d s)", busiest, busiest+1))
}

// connectedSince returns when each session of a state directory's history
// connected, relative to start, for those that connected after it.
func connectedSince(t *testing.T, stateDir string, start time.Time) []time.Duration {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(stateDir, "wsd.db")+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT connected_at FROM sessions WHERE connected_at >= ?`, start.UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []time.Duration
	for rows.Next() {
		var ns int64
		if err := rows.Scan(&ns); err != nil {
			t.Fatal(err)
		}
		out = append(out, time.Unix(0, ns).Sub(start))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// drainChild is the child process: it connects N clients to A from
// 127.0.0.x source addresses (2,000 each), says READY, and reconnects each
// to B as soon as A ends its connection; once all have, it says DONE with
// a drainChildResult and ends.
func drainChild(t *testing.T) {
	addrA, addrB := os.Getenv(drainChildA), os.Getenv(drainChildB)
	n, err := strconv.Atoi(os.Getenv(drainChildN))
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q", drainChildN, os.Getenv(drainChildN))
	}
	dial := func(ctx context.Context, addr, ip string) (*protocol.Conn, error) {
		c, _, err := protocol.Dial(ctx, "ws://"+addr+"/", fromIP(ip))
		return c, err
	}
	var (
		mu          sync.Mutex
		codes       = map[string]int{}
		firstErr    string
		reconnected atomic.Int64
		failed      atomic.Int64
		onB         []*protocol.Conn
		wg          sync.WaitGroup
	)
	conns := make([]*protocol.Conn, n)
	for i := range n {
		ip := fmt.Sprintf("127.0.0.%d", 10+i/2000)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c, err := dial(ctx, addrA, ip)
		cancel()
		if err != nil {
			t.Fatalf("client %d to A: %v", i, err)
		}
		conns[i] = c
	}
	fmt.Println("READY")
	for i, c := range conns {
		ip := fmt.Sprintf("127.0.0.%d", 10+i/2000)
		wg.Go(func() {
			_, _, err := c.Read(context.Background())
			for err == nil {
				_, _, err = c.Read(context.Background())
			}
			c.CloseNow()
			code := "none"
			var ce *protocol.CloseError
			if errors.As(err, &ce) {
				code = strconv.Itoa(int(ce.Code))
			}
			// A naive client: reconnect at once, and again at once if
			// that fails (three tries).
			var nc *protocol.Conn
			for range 3 {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				nc, err = dial(ctx, addrB, ip)
				cancel()
				if err == nil {
					break
				}
			}
			mu.Lock()
			defer mu.Unlock()
			codes[code]++
			if err != nil {
				failed.Add(1)
				if firstErr == "" {
					firstErr = err.Error()
				}
				return
			}
			reconnected.Add(1)
			onB = append(onB, nc)
		})
	}
	wg.Wait()
	b, err := json.Marshal(drainChildResult{Reconnected: int(reconnected.Load()), Failed: int(failed.Load()), Codes: codes, FirstError: firstErr})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("DONE %s\n", b)
	for _, c := range onB {
		c.CloseNow()
	}
}
