package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// TestEchoClientThatNeverReads: a client that stops reading right after its
// upgrade, while its echoes fill the socket, is closed as a slow consumer
// after the write timeout. (The upgrade used to clear the write deadline
// that the sender had set for the 101 and believed in force, so the first
// writes of a connection had no bound at all.)
func TestEchoClientThatNeverReads(t *testing.T) {
	cfg := testConfig()
	cfg.WriteTimeout = 500 * time.Millisecond
	d, url, rec := startDaemon(t, cfg)
	c := dial(t, url, nil)
	msg := make([]byte, 32<<10)
	start := time.Now()
	for sent := 0; sent < 5000; sent++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.Write(ctx, protocol.BinaryMessage, msg)
		cancel()
		if err != nil {
			break // the server stopped reading, or closed
		}
	}
	sc := rec.waitClose(t)
	t.Logf("closed %v after the first write: %s %d %q", time.Since(start).Round(time.Millisecond), sc.ClosedBy, sc.CloseCode, sc.Error)
	if sc.ClosedBy != session.ClosedBySlowConsumer {
		t.Fatalf("recorded %+v, want a slow consumer", sc)
	}
	if n := d.Stats().SlowConsumers; n != 1 {
		t.Fatalf("slow consumers %d, want 1", n)
	}
}
