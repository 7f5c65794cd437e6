package daemon

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/internal/wsdtest"
	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// rawDial opens a hand-written WebSocket connection to path on the
// daemon at url (ws://host:port): it answers nothing on its own (no
// pongs), so that tests can play a dead or busy peer.
func rawDial(t *testing.T, url, path string) *wsdtest.Raw {
	return wsdtest.DialRaw(t, strings.TrimPrefix(url, "ws://"), path)
}

// TestDeadPeerClosedAtOnce: after a pong timeout, the 4408 close frame is
// followed at once by the end of the TCP connection, not by a wait of up to
// the close timeout for an answer from a peer just declared dead.
func TestDeadPeerClosedAtOnce(t *testing.T) {
	cfg := testConfig()
	cfg.PingInterval = 50 * time.Millisecond
	cfg.PongTimeout = 100 * time.Millisecond
	cfg.CloseTimeout = 5 * time.Second
	_, url, rec := startDaemon(t, cfg)
	rc := rawDial(t, url, "/")
	if err := rc.Conn.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if code := rc.ReadClose(t); code != CodePongTimeout {
		t.Fatalf("close code %d, want %d", code, CodePongTimeout)
	}
	start := time.Now()
	var b [1]byte
	if _, err := rc.R.Read(b[:]); err != io.EOF {
		t.Fatalf("after the close frame: %v, want EOF", err)
	}
	took := time.Since(start)
	t.Logf("socket closed %v after the 4408 close frame (close timeout %v)", took, cfg.CloseTimeout)
	if took > time.Second {
		t.Errorf("socket closed %v after the close frame, want at once", took)
	}
	sc := rec.waitClose(t)
	if sc.ClosedBy != session.ClosedByIdleTimeout || sc.CloseCode != CodePongTimeout {
		t.Errorf("recorded %+v, want idle_timeout 4408", sc)
	}
}

// TestBusyPeerIsAlive is Autobahn 9.3.1/9.4.1's situation: a 4 MiB message
// in 64-byte fragments, sent slowly over more than ping interval plus pong
// timeout by a client that cannot answer pings meanwhile (its pong would
// wait behind its frames). A peer whose frames keep arriving is alive.
func TestBusyPeerIsAlive(t *testing.T) {
	cfg := testConfig()
	cfg.Routes = []Route{{Path: "/", Handler: HandlerSink}}
	cfg.PingInterval = 50 * time.Millisecond
	cfg.PongTimeout = 100 * time.Millisecond
	cfg.MaxMessageSize = 8 << 20
	_, url, rec := startDaemon(t, cfg)
	rc := rawDial(t, url, "/")

	const size, frag, batches = 4 << 20, 64, 256
	perBatch := size / frag / batches
	span := 6 * (cfg.PingInterval + cfg.PongTimeout) // ~1 s
	payload := make([]byte, frag)
	tick := time.NewTicker(span / batches)
	defer tick.Stop()
	start := time.Now()
	var buf []byte
	for i := range batches {
		buf = buf[:0]
		for j := range perBatch {
			op := byte(protocol.OpContinuation)
			if i == 0 && j == 0 {
				op = byte(protocol.OpBinary)
			}
			buf = wsdtest.AppendFrame(buf, i == batches-1 && j == perBatch-1, op, true, payload)
		}
		if _, err := rc.Conn.Write(buf); err != nil {
			t.Fatalf("after %v, batch %d: %v (session %+v)", time.Since(start), i, err, rec.waitClose(t))
		}
		<-tick.C // pacing the upload, not waiting for a condition
	}
	took := time.Since(start)
	if _, err := rc.Conn.Write(wsdtest.AppendFrame(nil, true, byte(protocol.OpClose), true, []byte{0x03, 0xe8})); err != nil {
		t.Fatal(err)
	}
	if err := rc.Conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	code := rc.ReadClose(t)
	sc := rec.waitClose(t)
	t.Logf("4 MiB in %d-byte fragments over %v (ping %v + pong %v): close %d, recorded %s %d, %d messages, %d bytes in",
		frag, took, cfg.PingInterval, cfg.PongTimeout, code, sc.ClosedBy, sc.CloseCode, sc.MessagesIn, sc.BytesIn)
	if code != 1000 || sc.ClosedBy != session.ClosedByClient || sc.MessagesIn != 1 || sc.BytesIn != size {
		t.Fatalf("busy peer: close %d, recorded %+v; want it closed by the client after one 4 MiB message", code, sc)
	}
}
