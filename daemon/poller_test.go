//go:build linux

package daemon

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// parkedConns counts the live connections the poller holds.
func parkedConns(d *Daemon) (parkedN, total int) {
	d.hub.each(nil, func(c *conn) bool {
		total++
		if c.pstate.Load() == parked {
			parkedN++
		}
		return true
	})
	return parkedN, total
}

// waitQuiet waits until every live connection has been parked for longer
// than sporadicGap: its next message finds it idle, and it parks again
// after answering (a message sooner than that marks it busy).
func waitQuiet(t *testing.T, d *Daemon) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		quiet, total := 0, 0
		now := time.Now().UnixNano()
		d.hub.each(nil, func(c *conn) bool {
			total++
			if c.pstate.Load() == parked && now-c.parkedAt.Load() > int64(sporadicGap) {
				quiet++
			}
			return true
		})
		if quiet == total {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections parked for %v", quiet, total, sporadicGap)
		}
		time.Sleep(sporadicGap / 4)
	}
}

// waitParked waits until all n live connections are parked.
func waitParked(t *testing.T, d *Daemon, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, total := parkedConns(d)
		if p == n && total == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections parked, want %d", p, total, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestIdleConnectionsAreParked(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnectionsPerIP = 0
	d, url, rec := startDaemon(t, cfg)
	if d.poller == nil {
		t.Fatal("no poller on linux")
	}
	const n = 100
	cs := make([]*protocol.Conn, n)
	for i := range cs {
		cs[i] = dial(t, url, nil)
	}
	waitParked(t, d, n)

	// Parked connections wake up for messages, and park again. (A message
	// that comes sooner than sporadicGap after the park marks the
	// connection busy: it keeps its goroutine.)
	for round := range 3 {
		waitQuiet(t, d)
		for i, c := range cs {
			msg := fmt.Appendf(nil, "round %d conn %d", round, i)
			write(t, c, protocol.TextMessage, msg)
			if _, got := readMsg(t, c); string(got) != string(msg) {
				t.Fatalf("echo %q, want %q", got, msg)
			}
		}
		waitParked(t, d, n)
	}

	// A parked connection closed by the client is recorded.
	for _, c := range cs[:n/2] {
		if err := c.Close(protocol.StatusNormalClosure, "bye"); err != nil {
			t.Fatalf("client close: %v", err)
		}
	}
	for range n / 2 {
		if got := rec.waitClose(t); got.ClosedBy != session.ClosedByClient || got.CloseCode != 1000 {
			t.Fatalf("recorded %+v", got)
		}
	}
	waitParked(t, d, n/2)

	// A parked connection whose client vanishes without a close frame.
	for _, c := range cs[n-10:] {
		c.CloseNow()
	}
	for range 10 {
		if got := rec.waitClose(t); got.ClosedBy != session.ClosedByClient || got.CloseCode != int(protocol.StatusAbnormalClosure) {
			t.Fatalf("recorded %+v", got)
		}
	}
	waitParked(t, d, n/2-10)

	// Parked connections closed by the server: the closing handshake runs
	// and the sessions are recorded.
	rest := cs[n/2 : n-10]
	codes := make(chan error, len(rest))
	for _, c := range rest {
		go func() {
			_, _, err := c.Read(context.Background())
			codes <- err
		}()
	}
	if k, err := d.CloseSelected(session.Selector{}, true, 4000, "admin"); err != nil || k != len(rest) {
		t.Fatalf("CloseSelected = %d, %v", k, err)
	}
	for range rest {
		var ce *protocol.CloseError
		if err := <-codes; !errors.As(err, &ce) || ce.Code != 4000 {
			t.Fatalf("client read: %v", err)
		}
	}
	for range rest {
		if got := rec.waitClose(t); got.ClosedBy != session.ClosedByAdmin || got.CloseCode != 4000 {
			t.Fatalf("recorded %+v", got)
		}
	}
	waitConns(t, d, 0)
}

// TestPollerSlotsReused churns parked connections closed from both sides:
// every session ends and is recorded, and slots (with their descriptors'
// numbers) are reused without a stale event waking the wrong connection.
func TestPollerSlotsReused(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnectionsPerIP = 0
	d, url, rec := startDaemon(t, cfg)
	const rounds, n = 20, 20
	for round := range rounds {
		cs := make([]*protocol.Conn, n)
		for i := range cs {
			cs[i] = dial(t, url, nil)
		}
		waitParked(t, d, n)
		waitQuiet(t, d)
		for i, c := range cs {
			switch i % 3 {
			case 0:
				c.CloseNow()
			case 1:
				go c.Close(protocol.StatusNormalClosure, "") //nolint:errcheck // the record is checked
			case 2:
				msg := fmt.Appendf(nil, "%d/%d", round, i)
				write(t, c, protocol.BinaryMessage, msg)
				if _, got := readMsg(t, c); string(got) != string(msg) {
					t.Fatalf("echo %q, want %q", got, msg)
				}
				go c.Read(context.Background()) //nolint:errcheck // answers the server's close
			}
		}
		if _, err := d.CloseSelected(session.Selector{}, true, 4001, "round"); err != nil {
			t.Fatal(err)
		}
		for range n {
			rec.waitClose(t)
		}
		waitConns(t, d, 0)
	}
	if slots, held := d.poller.Slots(); slots > n+1 || held != 0 {
		t.Fatalf("%d slots, %d held: want at most %d, none held", slots, held, n+1)
	}
}
