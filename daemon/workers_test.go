package daemon

import (
	"testing"
	"time"

	"github.com/wsd-dev/wsd/protocol"
)

// Sequential connections are handshaken and woken up by the same few
// workers, not a new goroutine each.
func TestWorkersAreReused(t *testing.T) {
	d, url, rec := startDaemon(t, testConfig())
	const n = 100
	for i := range n {
		c := dial(t, url, nil)
		write(t, c, protocol.TextMessage, []byte("hi"))
		readMsg(t, c)
		if err := c.Close(protocol.StatusNormalClosure, ""); err != nil {
			t.Fatalf("close %d: %v", i, err)
		}
		rec.waitClose(t)
	}
	// Each connection needed a handshake and at least one wake-up.
	if got := d.workers.started.Load(); got > n/10 {
		t.Fatalf("%d workers started for %d sequential connections", got, n)
	}
}

// Idle workers end by themselves.
func TestIdleWorkersEnd(t *testing.T) {
	d, url, rec := startDaemon(t, testConfig())
	d.workers.idle.Store(int64(20 * time.Millisecond))
	c := dial(t, url, nil)
	c.CloseNow()
	rec.waitClose(t)
	deadline := time.Now().Add(5 * time.Second)
	for d.workers.live.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still running", d.workers.live.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if d.workers.started.Load() == 0 {
		t.Fatal("no worker ever started")
	}
}
