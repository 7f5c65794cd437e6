package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/internal/wsdtest"
	"github.com/wsd-dev/wsd/protocol"
)

// echoRTT measures one echo round trip on c.
func echoRTT(t testing.TB, c *protocol.Conn) time.Duration {
	t.Helper()
	ctx := ctxFor(t, 10*time.Second)
	start := time.Now()
	if err := c.Write(ctx, protocol.TextMessage, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// TestSlowloris: 300 connections that send a request head a few bytes at
// a time and never finish it are cut at the handshake timeout, counted as
// timeouts (not bad requests), and another client is served meanwhile.
func TestSlowloris(t *testing.T) {
	const n = 300
	p := start(t, wsdtest.Options{Args: []string{"--handshake-timeout", "1s"}})
	var conns []net.Conn
	for i := range n {
		nc, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		t.Cleanup(func() { nc.Close() })
		if _, err := fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow-%d: aaa", i); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc)
	}
	c := dial(t, "ws://"+p.Addr+"/", nil)
	rtt := echoRTT(t, c)
	start := time.Now()
	waitMetric(t, p, `wsd_handshake_failures_total{reason="timeout"}`, 10*time.Second, func(v float64) bool { return v == n })
	m := metrics(t, p)
	t.Logf("slowloris: %d heads cut mid-header; echo meanwhile %v; all counted as timeout within %v of the test's last write; bad_request %v",
		n, rtt.Round(time.Microsecond), time.Since(start).Round(time.Millisecond), m[`wsd_handshake_failures_total{reason="bad_request"}`])
	if m[`wsd_handshake_failures_total{reason="bad_request"}`] != 0 {
		t.Error("slowloris counted as bad_request")
	}
	for _, nc := range conns[:10] {
		if err := nc.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		var b [16]byte
		if k, err := nc.Read(b[:]); k > 0 || err == nil {
			t.Fatalf("slowloris answered %q, %v; want the connection closed without an answer", b[:k], err)
		}
	}
}

// TestOneIPFlood: 700 idle TCP connections from 127.0.0.1 against
// --max-connections 300 and --max-connections-per-ip 100; an upgrade from
// 127.0.0.2 gets its 101 within 100 ms.
func TestOneIPFlood(t *testing.T) {
	const flood = 700
	p := start(t, wsdtest.Options{Args: []string{"--max-connections", "300", "--max-connections-per-ip", "100"}})
	for i := range flood {
		nc, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatalf("flood connection %d: %v", i, err)
		}
		t.Cleanup(func() { nc.Close() })
	}
	waitMetric(t, p, `wsd_handshake_failures_total{reason="max_connections_per_ip"}`, 10*time.Second, func(v float64) bool { return v == flood-100 })
	var took []time.Duration
	for range 20 {
		start := time.Now()
		c, _, err := protocol.Dial(ctxFor(t, 5*time.Second), "ws://"+p.Addr+"/", fromIP("127.0.0.2"))
		if err != nil {
			t.Fatalf("upgrade from 127.0.0.2 during the flood: %v", err)
		}
		took = append(took, time.Since(start))
		c.CloseNow()
	}
	slices.Sort(took)
	m := metrics(t, p)
	t.Logf("one-IP flood: %d idle connections from 127.0.0.1 (%v refused per IP, %v by the global cap, %v in handshake); "+
		"20 upgrades from 127.0.0.2: p50 %v, max %v",
		flood, m[`wsd_handshake_failures_total{reason="max_connections_per_ip"}`], m[`wsd_handshake_failures_total{reason="max_connections"}`],
		m["wsd_handshakes_in_progress"], percentile(took, 0.5), took[len(took)-1])
	if took[len(took)-1] > 100*time.Millisecond {
		t.Errorf("an upgrade from another address took %v, want under 100ms", took[len(took)-1])
	}
}

// TestSlowConsumer: a client that sends and never reads its echoes is
// closed as a slow consumer, counted once, while another is served.
func TestSlowConsumer(t *testing.T) {
	dir := t.TempDir()
	p := start(t, wsdtest.Options{StateDir: dir, Args: []string{"--send-queue-bytes", "64KiB", "--write-timeout", "1s"}})
	url := "ws://" + p.Addr + "/"
	fast := dial(t, url, nil)
	slow := dial(t, url, nil)
	msg := make([]byte, 32<<10)
	start := time.Now()
	sent := 0
	for ; sent < 100000; sent++ {
		if err := slow.Write(ctxFor(t, 10*time.Second), protocol.BinaryMessage, msg); err != nil {
			break
		}
		if sent%64 == 0 {
			if v := metrics(t, p)["wsd_slow_consumer_closes_total"]; v > 0 {
				break
			}
		}
	}
	waitMetric(t, p, "wsd_slow_consumer_closes_total", 15*time.Second, func(v float64) bool { return v >= 1 })
	took := time.Since(start)
	rtt := echoRTT(t, fast)
	waitHistory(t, dir, "the slow consumer", func(rs []row) bool { return countBy(rs, "slow_consumer") == 1 })
	v := metrics(t, p)["wsd_slow_consumer_closes_total"]
	t.Logf("slow consumer: closed %v after it stopped reading (%d messages of 32 KiB sent); counted %v; history slow_consumer 1; the other client's echo %v",
		took.Round(time.Millisecond), sent, v, rtt.Round(time.Microsecond))
	if v != 1 {
		t.Errorf("wsd_slow_consumer_closes_total %v, want 1", v)
	}
}

// TestInboundFlood: one client pipelining 32-byte messages as fast as it
// can, against --max-messages-per-second 1000, is closed with 1008
// (closed_by policy) while another client's echo stays fast.
func TestInboundFlood(t *testing.T) {
	dir := t.TempDir()
	p := start(t, wsdtest.Options{StateDir: dir, Args: []string{"--max-messages-per-second", "1000", "--route", "/sink=sink", "--route", "/=echo"}})
	other := dial(t, "ws://"+p.Addr+"/", nil)
	c := dial(t, "ws://"+p.Addr+"/sink", nil)
	read := make(chan error, 1)
	go func() {
		_, _, err := c.Read(context.Background())
		read <- err
	}()
	msg := make([]byte, 32)
	start := time.Now()
	sent := 0
	for ; sent < 10_000_000; sent++ {
		if err := c.Write(ctxFor(t, 10*time.Second), protocol.BinaryMessage, msg); err != nil {
			break
		}
		if sent%1024 == 0 {
			select {
			case err := <-read:
				read <- err
				sent = 10_000_000
			default:
			}
		}
	}
	var ce *protocol.CloseError
	if err := <-read; !errors.As(err, &ce) || ce.Code != protocol.StatusPolicyViolation {
		t.Fatalf("flood: %v, want a 1008 close", err)
	}
	took := time.Since(start)
	rtt := echoRTT(t, other)
	waitHistory(t, dir, "the flood's policy close", func(rs []row) bool { return countBy(rs, "policy") == 1 })
	v := metrics(t, p)[`wsd_inbound_limit_closes_total{limit="messages"}`]
	t.Logf("inbound flood (1000 msg/s, burst 1000): closed 1008 %q after %v; metric %v; the other client's echo %v",
		ce.Reason, took.Round(time.Millisecond), v, rtt.Round(time.Microsecond))
	if v != 1 {
		t.Errorf("wsd_inbound_limit_closes_total{limit=\"messages\"} %v, want 1", v)
	}
}
