package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/protocol"
)

// TestMeasureIdleMemory measures the daemon's RSS per idle connection
// (handshake done, no traffic, session recorded). It is skipped unless
// WSD_MEASURE_IDLE is set to the number of connections, e.g.
//
//	WSD_MEASURE_IDLE=10000 go test -run TestMeasureIdleMemory -v ./cmd/wsd
//
// Clients dial from 127.0.0.x source addresses, 2,000 per address.
func TestMeasureIdleMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("WSD_MEASURE_IDLE"))
	if n <= 0 {
		t.Skip("set WSD_MEASURE_IDLE=N to measure")
	}
	extra := strings.Fields(os.Getenv("WSD_MEASURE_ARGS"))
	w := startWSD(t, wsdOpts{args: append([]string{
		"--max-connections", strconv.Itoa(n + 100), "--max-connections-per-ip", "0",
		"--ping-interval", "1h", "--pong-timeout", "1h", "--log-level", "info"}, extra...)})
	pid := w.cmd.Process.Pid
	// Warm up: a few connections so that pools, the store and the runtime
	// are in their steady state before the baseline.
	for range 50 {
		c := dialWS(t, w.url("/"), nil)
		c.CloseNow()
	}
	time.Sleep(time.Second)
	base := rssKiB(t, pid)
	conns := make([]*protocol.Conn, 0, n)
	start := time.Now()
	for i := range n {
		ip := fmt.Sprintf("127.0.0.%d", 10+i/2000)
		conns = append(conns, dialWS(t, w.url("/"), fromIP(ip)))
	}
	t.Logf("%d connections in %v", n, time.Since(start).Round(time.Millisecond))
	waitSessions(t, w.stateDir, "every session recorded", func(ss []session) bool { return len(ss) >= n+50 })
	var rss []int
	for range 5 {
		time.Sleep(2 * time.Second) // let the runtime settle (GC, scavenger)
		rss = append(rss, rssKiB(t, pid))
	}
	final := rss[len(rss)-1]
	t.Logf("RSS: baseline %d KiB, with %d idle connections %v KiB", base, n, rss)
	t.Logf("RSS per idle connection: %.0f bytes", float64(final-base)*1024/float64(n))
	t.Logf("daemon status:\n%s", procStatus(t, pid, "VmRSS", "RssAnon", "RssFile", "Threads"))
	for _, c := range conns {
		c.CloseNow()
	}
}

func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	s := procStatus(t, pid, "VmRSS")
	f := strings.Fields(s)
	if len(f) < 2 {
		t.Fatalf("no VmRSS in %q", s)
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func procStatus(t *testing.T, pid int, keys ...string) string {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for _, k := range keys {
			if strings.HasPrefix(sc.Text(), k+":") {
				out.WriteString(sc.Text() + "\n")
			}
		}
	}
	return out.String()
}
