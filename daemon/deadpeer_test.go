package daemon

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsd-dev/wsd/protocol"
	"github.com/wsd-dev/wsd/session"
)

// rawClient is a WebSocket client written by hand: it answers nothing on
// its own (no pongs), so that tests can play a dead or busy peer.
type rawClient struct {
	nc net.Conn
	br *bufio.Reader
}

func rawDial(t *testing.T, url, path string) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(url, "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if err := nc.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(nc, "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %s", resp.Status)
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	return &rawClient{nc: nc, br: br}
}

// appendFrame appends a masked client frame (mask key 0: the payload
// goes as is).
func appendFrame(dst []byte, fin bool, op byte, p []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	switch n := len(p); {
	case n < 126:
		dst = append(dst, b0, 0x80|byte(n))
	case n < 1<<16:
		dst = append(dst, b0, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, b0, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(append(dst, 0, 0, 0, 0), p...)
}

// readFrame reads one server frame.
func (rc *rawClient) readFrame() (op byte, p []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(rc.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var x [2]byte
		if _, err := io.ReadFull(rc.br, x[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(x[:]))
	case 127:
		var x [8]byte
		if _, err := io.ReadFull(rc.br, x[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(x[:])
	}
	p = make([]byte, n)
	if _, err := io.ReadFull(rc.br, p); err != nil {
		return 0, nil, err
	}
	return h[0] & 0x0f, p, nil
}

// readUntilClose reads frames (dropping pings) until a close frame and
// returns its code.
func (rc *rawClient) readUntilClose(t *testing.T) int {
	t.Helper()
	for range 10000 {
		op, p, err := rc.readFrame()
		if err != nil {
			t.Fatalf("reading until the close frame: %v", err)
		}
		if op == byte(protocol.OpClose) {
			if len(p) < 2 {
				return 0
			}
			return int(binary.BigEndian.Uint16(p))
		}
	}
	t.Fatal("no close frame")
	return 0
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
	if err := rc.nc.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if code := rc.readUntilClose(t); code != CodePongTimeout {
		t.Fatalf("close code %d, want %d", code, CodePongTimeout)
	}
	start := time.Now()
	var b [1]byte
	if _, err := rc.br.Read(b[:]); err != io.EOF {
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
			buf = appendFrame(buf, i == batches-1 && j == perBatch-1, op, payload)
		}
		if _, err := rc.nc.Write(buf); err != nil {
			t.Fatalf("after %v, batch %d: %v (session %+v)", time.Since(start), i, err, rec.waitClose(t))
		}
		<-tick.C // pacing the upload, not waiting for a condition
	}
	took := time.Since(start)
	if _, err := rc.nc.Write(appendFrame(nil, true, byte(protocol.OpClose), []byte{0x03, 0xe8})); err != nil {
		t.Fatal(err)
	}
	if err := rc.nc.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	code := rc.readUntilClose(t)
	sc := rec.waitClose(t)
	t.Logf("4 MiB in %d-byte fragments over %v (ping %v + pong %v): close %d, recorded %s %d, %d messages, %d bytes in",
		frag, took, cfg.PingInterval, cfg.PongTimeout, code, sc.ClosedBy, sc.CloseCode, sc.MessagesIn, sc.BytesIn)
	if code != 1000 || sc.ClosedBy != session.ClosedByClient || sc.MessagesIn != 1 || sc.BytesIn != size {
		t.Fatalf("busy peer: close %d, recorded %+v; want it closed by the client after one 4 MiB message", code, sc)
	}
}
