package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
	pid := w.Cmd.Process.Pid
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
	// With keepalive measured (WSD_MEASURE_ARGS="--ping-interval 2s"),
	// clients read so that they answer pings.
	answer := strings.Contains(strings.Join(extra, " "), "--ping-interval")
	for i := range n {
		ip := fmt.Sprintf("127.0.0.%d", 10+i/2000)
		c := dialWS(t, w.url("/"), fromIP(ip))
		conns = append(conns, c)
		if answer {
			go func() {
				for {
					if _, _, err := c.Read(context.Background()); err != nil {
						return
					}
				}
			}()
		}
	}
	t.Logf("%d connections in %v", n, time.Since(start).Round(time.Millisecond))
	waitSessions(t, w.StateDir, "every session recorded", func(ss []sessionRow) bool { return len(ss) >= n+50 })
	var rss []int
	for range 8 {
		time.Sleep(2 * time.Second) // let the runtime settle (GC, scavenger)
		rss = append(rss, rssKiB(t, pid))
	}
	final := rss[len(rss)-1]
	t.Logf("RSS: baseline %d KiB, with %d idle connections %v KiB", base, n, rss)
	t.Logf("RSS per idle connection: %.0f bytes", float64(final-base)*1024/float64(n))
	t.Logf("daemon status:\n%s", procStatus(t, pid, "VmRSS", "RssAnon", "RssFile", "Threads"))
	if answer {
		// Drain them all: every client answers the close handshake.
		start := time.Now()
		w.signal(syscall.SIGTERM)
		if code := w.wait(time.Minute); code != 0 {
			t.Fatalf("exit %d", code)
		}
		ss := sessions(t, w.StateDir)
		t.Logf("drain of %d connections: exit after %v; %d of %d sessions closed_by=shutdown",
			n, time.Since(start).Round(time.Millisecond), countBy(ss, "shutdown"), len(ss))
	}
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

// TestMeasureEchoCPU compares the server CPU time per echoed message of wsd
// and of a gorilla/websocket echo server (testdata/gorillaecho), each in its
// own process, under the same load: 64 connections, 1 KiB binary messages,
// each connection sending its next message when the echo of the previous
// one arrives. Skipped unless WSD_MEASURE_ECHO is a duration, e.g.
//
//	WSD_MEASURE_ECHO=10s go test -run TestMeasureEchoCPU -v ./cmd/wsd
func TestMeasureEchoCPU(t *testing.T) {
	d, _ := time.ParseDuration(os.Getenv("WSD_MEASURE_ECHO"))
	if d <= 0 {
		t.Skip("set WSD_MEASURE_ECHO=10s to measure")
	}
	bin := filepath.Join(t.TempDir(), "gorillaecho")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/gorillaecho").CombinedOutput(); err != nil {
		t.Fatalf("build gorillaecho: %v\n%s", err, out)
	}
	g := exec.Command(bin)
	stdout, err := g.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { g.Process.Kill(); g.Wait() }()
	gaddr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	w := startWSD(t, wsdOpts{args: []string{"--log-level", "info", "--max-connections-per-ip", "0"}})
	// Servers on CPU 0, the load generator on CPU 1 (when taskset exists),
	// so that the two do not steal each other's time.
	for _, p := range []int{g.Process.Pid, w.Cmd.Process.Pid} {
		if out, err := exec.Command("taskset", "-a", "-c", "-p", "0", strconv.Itoa(p)).CombinedOutput(); err != nil {
			t.Logf("taskset (servers not pinned): %v %s", err, out)
		}
	}
	if out, err := exec.Command("taskset", "-a", "-c", "-p", "1", strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
		t.Logf("taskset (load generator not pinned): %v %s", err, out)
	}
	for round := range 2 {
		for _, s := range []struct {
			name string
			pid  int
			url  string
		}{
			{"gorilla", g.Process.Pid, "ws://" + strings.TrimSpace(gaddr) + "/"},
			{"wsd", w.Cmd.Process.Pid, w.url("/")},
		} {
			msgs, cpu := echoLoad(t, s.url, s.pid, 64, 1024, d)
			t.Logf("round %d %-8s %9d messages, %6.0f msg/s, server CPU %v (user %v, system %v), %.2f µs per message (user %.2f)",
				round, s.name, msgs, float64(msgs)/d.Seconds(), cpu.total(), cpu.user, cpu.sys,
				float64(cpu.total().Microseconds())/float64(msgs), float64(cpu.user.Microseconds())/float64(msgs))
		}
	}
}

// echoLoad drives conns echo connections for d and returns the messages
// echoed and the server's CPU time meanwhile.
func echoLoad(t *testing.T, url string, pid, conns, size int, d time.Duration) (int64, cpuTimes) {
	t.Helper()
	cs := make([]*protocol.Conn, conns)
	for i := range cs {
		cs[i] = dialWS(t, url, nil)
	}
	var total atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	before := procCPU(t, pid)
	for _, c := range cs {
		wg.Go(func() {
			msg := make([]byte, size)
			var buf []byte
			ctx := context.Background()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := c.Write(ctx, protocol.BinaryMessage, msg); err != nil {
					t.Error(err)
					return
				}
				var err error
				if _, buf, err = c.ReadInto(ctx, buf); err != nil {
					t.Error(err)
					return
				}
				total.Add(1)
			}
		})
	}
	time.Sleep(d)
	close(stop)
	wg.Wait()
	after := procCPU(t, pid)
	cpu := cpuTimes{after.user - before.user, after.sys - before.sys}
	for _, c := range cs {
		c.CloseNow()
	}
	return total.Load(), cpu
}

// cpuTimes are a process's user and system CPU time.
type cpuTimes struct{ user, sys time.Duration }

func (c cpuTimes) total() time.Duration { return c.user + c.sys }

// procCPU returns a process's CPU times from /proc/PID/stat.
func procCPU(t *testing.T, pid int) cpuTimes {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return cpuTimes{time.Duration(ut) * time.Second / hz, time.Duration(st) * time.Second / hz}
}
