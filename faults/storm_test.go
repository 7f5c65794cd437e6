package faults

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/internal/wsdtest"
	"github.com/wsd-dev/wsd/protocol"
)

// The reconnect storm's clients run in a process of their own (this test
// binary, re-executed with stormClientEnv set): a process has about 20,000
// file descriptors, and wsd needs one per client too.
const stormClientEnv = "WSD_STORM_CLIENT"

// stormReport is what the client process prints when every client is back.
type stormReport struct {
	Clients       int     `json:"clients"`
	Mode          string  `json:"mode"`
	ReconnectSecs float64 `json:"reconnect_secs"` // first disconnect to last reconnect
	Refused       int64   `json:"refused"`        // handshakes answered with an HTTP error
	ConnFailures  int64   `json:"conn_failures"`  // TCP connects refused or failed (wsd down)
	Sessions      int64   `json:"sessions"`       // successful upgrades, both rounds
	LastBack      int64   `json:"last_back"`      // unix nanoseconds of the last reconnect
}

// TestReconnectStorm restarts wsd (SIGTERM, then a new process on the same
// address and state) under N connected clients that reconnect at once, then
// with jittered backoff, and reports the full reconnection time, the
// refused handshakes and the history records dropped. WSD_STORM=1 runs it;
// WSD_STORM_N sets N (default 10,000, less if the file limit is lower).
func TestReconnectStorm(t *testing.T) {
	if os.Getenv("WSD_STORM") != "1" {
		t.Skip("set WSD_STORM=1 for the reconnect storm")
	}
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("WSD_STORM_N")); err == nil && v > 0 {
		n = v
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if fit := int(lim.Cur) - 500; n > fit {
		t.Logf("open-file limit %d: %d clients instead of %d", lim.Cur, fit, n)
		n = fit
	}
	for _, mode := range []string{"at-once", "jitter"} {
		t.Run(mode, func(t *testing.T) { storm(t, n, mode) })
	}
}

func storm(t *testing.T, n int, mode string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	args := []string{"--max-connections", strconv.Itoa(n + 1000), "--ping-interval", "60s"}
	p := start(t, wsdtest.Options{StateDir: dir, Listen: addr, Args: args})

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), stormClientEnv+"=ws://"+addr+"/", "WSD_STORM_N="+strconv.Itoa(n), "WSD_STORM_MODE="+mode)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("storm clients: %v", err)
		}
	})
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(timeout time.Duration) string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("storm clients exited")
			}
			return l
		case <-time.After(timeout):
			t.Fatalf("storm clients: nothing within %v", timeout)
			return ""
		}
	}
	if l := next(5 * time.Minute); l != "connected" {
		t.Fatalf("storm clients: %q", l)
	}
	t0 := time.Now()
	drain := stop(t, p, 2*time.Minute)
	p2 := start(t, wsdtest.Options{StateDir: dir, Listen: addr, Args: args})
	listening := time.Now()
	down := listening.Sub(t0)
	var rep stormReport
	if err := json.Unmarshal([]byte(next(10*time.Minute)), &rep); err != nil {
		t.Fatal(err)
	}
	m := metrics(t, p2)
	serverRefused := 0.0
	for k, v := range m {
		if strings.HasPrefix(k, "wsd_handshake_failures_total") {
			serverRefused += v
		}
	}
	stop(t, p2, 2*time.Minute)
	rs := history(t, dir)
	dropped := rep.Sessions - int64(len(rs))
	t.Logf("reconnect storm, %s, %d clients: drain %v, restart (SIGTERM to listening) %v; all back %.2fs after the first disconnect, %v after the new process listened; "+
		"refused handshakes %d (server counted %.0f after the restart), connects refused while down %d; "+
		"sessions %d, history rows %d, dropped %d (wsd_store_dropped_records_total %.0f)",
		mode, rep.Clients, drain.Round(time.Millisecond), down.Round(time.Millisecond), rep.ReconnectSecs, time.Unix(0, rep.LastBack).Sub(listening).Round(time.Millisecond),
		rep.Refused, serverRefused, rep.ConnFailures, rep.Sessions, len(rs), dropped, m["wsd_store_dropped_records_total"])
	if dropped != 0 || m["wsd_store_dropped_records_total"] != 0 {
		t.Errorf("%d history records dropped, want none", dropped)
	}
	if open := len(rs) - countBy(rs, "shutdown") - countBy(rs, "client"); open != 0 {
		t.Errorf("%d sessions neither closed by the shutdowns nor by their client", open)
	}
}

// stormClientMain is the client process: it connects N clients (from a few
// loopback addresses, so that no source runs out of ports), says
// "connected", and when the server goes away reconnects each one — at once
// (retrying every 100 ms) or after a random 0-2 s and then with truncated
// exponential backoff and full jitter (RFC 6455 §7.2.3) — then prints a
// stormReport and holds the connections until its input closes.
func stormClientMain() int {
	url := os.Getenv(stormClientEnv)
	n, err := strconv.Atoi(os.Getenv("WSD_STORM_N"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "WSD_STORM_N:", err)
		return 2
	}
	mode := os.Getenv("WSD_STORM_MODE")
	var refused, connFailures, sessions atomic.Int64
	var firstDown atomic.Int64
	dialers := make([]*protocol.DialOptions, 8)
	for i := range dialers {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(10+i))}}
		dialers[i] = &protocol.DialOptions{NetDialContext: d.DialContext}
	}
	connect := func(i int, jitter bool) *protocol.Conn {
		backoff := 100 * time.Millisecond
		if jitter {
			time.Sleep(rand.N(2 * time.Second)) // a reconnect delay, not a wait for a condition
		}
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			c, _, err := protocol.Dial(ctx, url, dialers[i%len(dialers)])
			cancel()
			if err == nil {
				sessions.Add(1)
				return c
			}
			var de *protocol.DialError
			if errors.As(err, &de) && de.Response != nil {
				refused.Add(1)
			} else {
				connFailures.Add(1)
			}
			wait := 100 * time.Millisecond
			if jitter {
				wait = rand.N(backoff)
				backoff = min(2*backoff, 2*time.Second)
			}
			time.Sleep(wait)
		}
	}
	conns := make([]*protocol.Conn, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conns[i] = connect(i, false)
		}()
	}
	wg.Wait()
	fmt.Println("connected")
	var back sync.WaitGroup
	var lastBack atomic.Int64
	for i := range n {
		back.Add(1)
		go func() {
			defer back.Done()
			if _, _, err := conns[i].Read(context.Background()); err == nil {
				fmt.Fprintln(os.Stderr, "storm client: a message from an echo nobody wrote to")
			}
			firstDown.CompareAndSwap(0, time.Now().UnixNano())
			conns[i].CloseNow()
			conns[i] = connect(i, mode == "jitter")
			for now := time.Now().UnixNano(); ; {
				if last := lastBack.Load(); last >= now || lastBack.CompareAndSwap(last, now) {
					break
				}
			}
			// Keep reading (pongs) until the process ends.
			go func(c *protocol.Conn) {
				_, _, _ = c.Read(context.Background())
			}(conns[i])
		}()
	}
	back.Wait()
	rep := stormReport{Clients: n, Mode: mode, ReconnectSecs: float64(lastBack.Load()-firstDown.Load()) / 1e9,
		Refused: refused.Load(), ConnFailures: connFailures.Load(), Sessions: sessions.Load(), LastBack: lastBack.Load()}
	b, err := json.Marshal(rep)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(string(b))
	if _, err := io.Copy(io.Discard, os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	for _, c := range conns {
		if err := c.Close(protocol.StatusNormalClosure, ""); err != nil {
			c.CloseNow()
		}
	}
	return 0
}
