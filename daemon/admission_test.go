package daemon

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/protocol"
)

// waitHandshakeFailures waits until the daemon has counted n handshake
// failures for reason.
func waitHandshakeFailures(t *testing.T, d *Daemon, reason string, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for d.Stats().HandshakeFailures[reason] < n {
		if time.Now().After(deadline) {
			t.Fatalf("handshake failures %q: %d, want %d", reason, d.Stats().HandshakeFailures[reason], n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOneAddressCannotLockOutAnother is issue 19's first defect: 700 idle
// TCP connections from one address against --max-connections 300 and
// --max-connections-per-ip 100 must leave room for another address, at
// once.
func TestOneAddressCannotLockOutAnother(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnections = 300
	cfg.MaxConnectionsPerIP = 100
	d, url, _ := startDaemon(t, cfg)
	addr := strings.TrimPrefix(url, "ws://")

	const flood = 700
	for i := range flood {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("flood connection %d: %v", i, err)
		}
		t.Cleanup(func() { nc.Close() })
	}
	// Every connection past the per-IP cap has been refused: the rest
	// sit in their handshake, sending nothing.
	waitHandshakeFailures(t, d, "max_connections_per_ip", flood-100)

	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := protocol.Dial(ctx, url+"/", &protocol.DialOptions{NetDialContext: dialer.DialContext})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("upgrade from 127.0.0.2 during the flood: %v (%v)", err, resp)
	}
	defer c.CloseNow()
	t.Logf("upgrade from 127.0.0.2 with %d idle connections from 127.0.0.1: 101 in %v; stats %v", flood, took, d.Stats().HandshakeFailures)
	if took > 100*time.Millisecond {
		t.Errorf("upgrade took %v, want under 100ms", took)
	}
	if got := d.Stats().HandshakeFailures["max_connections"]; got != 0 {
		t.Errorf("%d handshakes refused by the global cap, want 0: the refused ones must not hold a place", got)
	}
}

// TestRefusalClosesAtOnce: a refused socket is answered and closed at
// once, not lingered on.
func TestRefusalClosesAtOnce(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnectionsPerIP = 1
	d, url, _ := startDaemon(t, cfg)
	addr := strings.TrimPrefix(url, "ws://")
	hold, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	waitHandshaking(t, d, 1)

	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	start := time.Now()
	if err := nc.SetDeadline(start.Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
	// The refused socket holds no place, even while its client keeps it
	// open: only the first connection is in its handshake.
	if n := d.Stats().Handshaking; n != 1 {
		t.Errorf("handshaking %d after the refusal, want 1: the refused socket holds a place", n)
	}
	var b [1]byte
	if _, err := nc.Read(b[:]); err == nil {
		t.Fatal("read after the refusal: want EOF")
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("refused socket closed after %v, want at once", took)
	}
}

func waitHandshaking(t *testing.T, d *Daemon, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for d.Stats().Handshaking < n {
		if time.Now().After(deadline) {
			t.Fatalf("handshaking %d, want %d", d.Stats().Handshaking, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestSlowlorisIsATimeout: a head cut off by the handshake timeout in the
// middle of a header line counts as a timeout and gets no 400.
func TestSlowlorisIsATimeout(t *testing.T) {
	cfg := testConfig()
	cfg.HandshakeTimeout = 200 * time.Millisecond
	d, url, _ := startDaemon(t, cfg)
	addr := strings.TrimPrefix(url, "ws://")
	cuts := []string{
		"GET / HT",                                     // in the request line
		"GET / HTTP/1.1\r\nHost: x\r\nUser-Ag",         // in a header name
		"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: slo", // in a header value
		"GET / HTTP/1.1\r\nHost: x\r\n",                // between lines
	}
	for i, head := range cuts {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if _, err := fmt.Fprint(nc, head); err != nil {
			t.Fatal(err)
		}
		if err := nc.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		var buf [64]byte
		n, err := nc.Read(buf[:])
		if n > 0 {
			t.Errorf("%q: answered %q, want no answer", head, buf[:n])
		}
		if err == nil {
			t.Fatalf("%q: want the connection closed", head)
		}
		waitHandshakeFailures(t, d, "timeout", uint64(i+1))
	}
	if got := d.Stats().HandshakeFailures["bad_request"]; got != 0 {
		t.Errorf("bad_request %d, want 0", got)
	}
}
